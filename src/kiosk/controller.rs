//! The `CheckInController`: drives the domain's `CheckInFlow` from what the
//! patient touches and scans, commits each step's events through a
//! repository before the screen moves on, and builds the view model.
//!
//! It knows nothing of Slint; adapters call [`CheckInController::handle`]
//! and render [`CheckInController::view`]. Time comes from a `Clock`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::scanner::ScanBuffer;
use super::view::{
    ChoiceView, CoPayView, DemographicsField, DeskReason, DobProblem, DoneView,
    EditDemographicsView, EditInsuranceView, EditProblem, FormField, FormValues, FormView,
    IdentityView, InsuranceField, InsuranceView, NameProblem, NotFoundView, PayPhoneView, Screen,
    ViewModel,
};
use crate::domain::forms_session::{FormInput, FormSet};
use crate::domain::{
    Appointment, AppointmentId, CheckInFlow, ClinicId, Clock, CoPayChoice, CoverageUpdate,
    Demographics, DomainEvent, FieldError, FlowError, FlowSettings, Input, Language, LookupQuery,
    LookupThrottle, MatchError, Money, PassProblem, ReasonCode, Step, check_coverage,
    mask_member_id,
};
use crate::pass::PassVerifier;

/// Why the controller could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The repository (the kiosk store) failed; nothing of the step was kept.
    #[error("the kiosk could not save or read its records: {0}")]
    Storage(String),
    /// The input does not fit the current screen.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The typed letters cannot be searched (too few, or none).
    #[error(transparent)]
    Lookup(#[from] MatchError),
}

/// Where the controller reads the schedule and commits each step. The kiosk
/// store implements it; tests use an in-memory one.
pub trait CheckInRepository {
    /// The cached appointment with this id, if any.
    fn appointment(&self, id: &AppointmentId) -> Result<Option<Appointment>, ControllerError>;
    /// The appointments matching a date of birth and typed letters.
    fn lookup(
        &self,
        query: &LookupQuery,
        prefix_len: usize,
    ) -> Result<Vec<Appointment>, ControllerError>;
    /// Commits one step's events in one transaction, and returns their
    /// client event ids in the order of `events`.
    fn record(
        &mut self,
        events: &[DomainEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, ControllerError>;
    /// The intake forms due at an appointment, with their definitions; none
    /// unless the repository keeps forms.
    fn forms_for(&self, _appointment: &AppointmentId) -> Result<FormSet, ControllerError> {
        Ok(FormSet::default())
    }
}

/// What the clinic and this kiosk are, for the screens and the rules.
#[derive(Debug, Clone)]
pub struct KioskContext {
    /// The clinic whose passes this kiosk accepts.
    pub clinic_id: ClinicId,
    /// The name on Welcome.
    pub clinic_name: String,
    /// Appointment times are shown in this zone.
    pub time_zone: Tz,
    /// The payment link template with `{reference}`, if phone payment is offered.
    pub payment_link: Option<String>,
    /// The flow's rules and options.
    pub flow: FlowSettings,
    /// What a visit costs a patient with no insurance; `None` says the
    /// front desk will tell them.
    pub self_pay: Option<Money>,
    /// Times on the 24-hour clock instead of the 12-hour one.
    pub clock_24h: bool,
}

/// Everything a patient (or a timer) can do on the kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAction {
    /// Text from a hardware keyboard (the scanner).
    KeyInput(String),
    /// The scanner paused mid-burst: drop what it typed.
    ScanTimeout,
    /// "Use my date of birth".
    UseDob,
    /// A keypad digit.
    DobDigit(char),
    /// Keypad delete.
    DobErase,
    /// Keypad clear.
    DobClear,
    /// "Next" on the keypad.
    DobSubmit,
    /// A keyboard letter on the last-name screen.
    NameLetter(String),
    /// Keyboard delete on the last-name screen.
    NameErase,
    /// "Find my appointment".
    NameSubmit,
    /// "Back" on any screen that has it.
    Back,
    /// "Try again" after a miss.
    TryAgain,
    /// "Start over", "Finish", "None of these", or the Done timer.
    Finish,
    /// One of several matches.
    Choose(usize),
    /// "This is correct".
    DemographicsCorrect,
    /// "Update".
    DemographicsUpdate,
    /// "Still correct".
    InsuranceStillCorrect,
    /// "It changed" or "Add my insurance".
    InsuranceChanged,
    /// "I have no insurance": asks to confirm.
    NoInsurance,
    /// "Yes, I have no insurance", after [`UiAction::NoInsurance`].
    ConfirmNoInsurance,
    /// A field of the form on screen.
    EditSelect(FormField),
    /// A key typed into the form on screen.
    EditTyped(String),
    /// Delete in the form on screen.
    EditErase,
    /// "Save" on the form on screen.
    EditSubmit,
    /// A co-pay choice.
    CoPay(CoPayChoice),
    /// "Done" after the payment QR code.
    PayPhoneDone,
    /// "I need help".
    Help,
    /// "Continue check-in" after help.
    Resume,
    /// A language switch.
    SetLanguage(Language),
    /// The idle timer's warning.
    IdleWarning,
    /// A touch while the warning shows.
    StillHere,
    /// The idle timer ran out.
    IdleTimeout,
    /// The sync worker heard that staff resolved these help flags (client
    /// event ids); ends the session if it waits on one of them.
    HelpAnswered(Vec<Uuid>),
    /// A form page's answer button, by index among its options.
    FormChoose(usize),
    /// Yes (`true`) or No on a form page.
    FormBoolean(bool),
    /// A digit or letter typed on a form page (integer, date or text).
    FormKey(char),
    /// Delete on a form page.
    FormBackspace,
    /// "Next" on a form page.
    FormNext,
    /// "Back" on a form page.
    FormBack,
    /// "I agree" on the consent.
    FormAgree,
    /// The drawn signature, as PNG bytes.
    FormSigned(Vec<u8>),
    /// "Clear" under the signature.
    FormClearSignature,
    /// "Sign by typing my name" on a consent.
    FormTypeName,
    /// "Continue" on the thank-you page.
    FormFinish,
}

/// Drives one kiosk's check-ins, one patient at a time.
pub struct CheckInController<R: CheckInRepository> {
    /// The schedule and the outbox.
    repo: R,
    /// The current patient's session.
    flow: CheckInFlow,
    /// Clinic and kiosk settings.
    context: KioskContext,
    /// Verifies scanned passes offline; `None` before enrollment.
    verifier: Option<PassVerifier>,
    /// The time source.
    clock: Arc<dyn Clock>,
    /// Collects scanner bursts.
    scanner: ScanBuffer,
    /// Kiosk-wide lookup misses, across sessions.
    throttle: LookupThrottle,
    /// Called after every commit, to wake the sync worker.
    on_commit: Box<dyn FnMut() + Send>,
    /// Keypad digits typed so far.
    dob_digits: String,
    /// What is wrong with them.
    dob_problem: Option<DobProblem>,
    /// Last-name letters typed so far.
    name_letters: String,
    /// What is wrong with them.
    name_problem: Option<NameProblem>,
    /// Until when the next lookup must wait.
    lookup_blocked_until: Option<DateTime<Utc>>,
    /// The demographics form.
    edit_demographics: EditDemographicsView,
    /// The coverage form.
    edit_insurance: EditInsuranceView,
    /// Set when a commit failed; the desk screen shows until Finish.
    fault: bool,
    /// "I have no insurance" was pressed and waits for its confirmation.
    confirm_no_insurance: bool,
    /// The patient identifies on the keypad (not with a pass), so Identify
    /// is one of the steps they see.
    used_keypad: bool,
    /// The client event id of the flag behind the help screen on show, so
    /// staff resolving it from the console ends the wait.
    help_flag: Option<Uuid>,
}

impl<R: CheckInRepository> CheckInController<R> {
    /// A controller on Welcome.
    pub fn new(
        repo: R,
        context: KioskContext,
        verifier: Option<PassVerifier>,
        clock: Arc<dyn Clock>,
        throttle: LookupThrottle,
    ) -> Self {
        Self {
            repo,
            flow: CheckInFlow::new(context.flow.clone()),
            context,
            verifier,
            clock,
            scanner: ScanBuffer::default(),
            throttle,
            on_commit: Box::new(|| {}),
            dob_digits: String::new(),
            dob_problem: None,
            name_letters: String::new(),
            name_problem: None,
            lookup_blocked_until: None,
            edit_demographics: EditDemographicsView::default(),
            edit_insurance: EditInsuranceView::default(),
            fault: false,
            confirm_no_insurance: false,
            used_keypad: false,
            help_flag: None,
        }
    }

    /// Sets what runs after every commit (the sync worker's wake-up).
    pub fn on_commit(&mut self, f: impl FnMut() + Send + 'static) {
        self.on_commit = Box::new(f);
    }

    /// The repository, for tests and the status screen.
    pub fn repository(&self) -> &R {
        &self.repo
    }

    /// The flow's current step.
    pub fn step(&self) -> Step {
        self.flow.step()
    }

    /// Whether the scanner is part way through typing a pass, so an Enter
    /// now ends the pass rather than pressing a keypad key.
    pub fn scan_in_progress(&self) -> bool {
        self.scanner.is_collecting()
    }

    /// Whether the idle warning shows.
    pub fn idle_warning(&self) -> bool {
        self.flow.idle_warning()
    }

    /// Seconds until the next lookup may run, while the wait shows; the
    /// one clock-driven value of the view model besides the timers'.
    pub fn name_wait_seconds(&self) -> u32 {
        self.name_wait_seconds_at(self.clock.now())
    }

    /// Handles one action. Errors are already reflected in the view (a
    /// problem shown, or the desk screen after a storage fault); they are
    /// returned so the caller can log them.
    pub fn handle(&mut self, action: UiAction) -> Result<(), ControllerError> {
        let now = self.clock.now();
        if self.fault {
            return self.handle_after_fault(action, now);
        }
        match action {
            UiAction::KeyInput(_)
            | UiAction::ScanTimeout
            | UiAction::UseDob
            | UiAction::TryAgain
            | UiAction::DobDigit(_)
            | UiAction::DobErase
            | UiAction::DobClear
            | UiAction::DobSubmit
            | UiAction::NameLetter(_)
            | UiAction::NameErase
            | UiAction::NameSubmit => self.handle_identify(action, now),
            UiAction::EditSelect(_)
            | UiAction::EditTyped(_)
            | UiAction::EditErase
            | UiAction::EditSubmit => self.handle_form(action, now),
            UiAction::FormChoose(_)
            | UiAction::FormBoolean(_)
            | UiAction::FormKey(_)
            | UiAction::FormBackspace
            | UiAction::FormNext
            | UiAction::FormBack
            | UiAction::FormAgree
            | UiAction::FormSigned(_)
            | UiAction::FormClearSignature
            | UiAction::FormTypeName
            | UiAction::FormFinish => self.handle_form_page(action, now),
            UiAction::Back if self.flow.step() == Step::Forms => {
                self.handle_form_page(UiAction::FormBack, now)
            }
            other => self.handle_step(other, now),
        }
    }

    /// After a storage fault only finishing and the language work.
    fn handle_after_fault(
        &mut self,
        action: UiAction,
        now: DateTime<Utc>,
    ) -> Result<(), ControllerError> {
        match action {
            UiAction::Finish | UiAction::IdleTimeout => {
                self.reset_session();
                Ok(())
            }
            UiAction::SetLanguage(l) => self.apply(Input::SetLanguage(l), now),
            _ => Ok(()),
        }
    }

    /// Identifying: the scanner, the date-of-birth keypad and the letters.
    fn handle_identify(
        &mut self,
        action: UiAction,
        now: DateTime<Utc>,
    ) -> Result<(), ControllerError> {
        match action {
            UiAction::KeyInput(text) => match self.scanner.push(&text) {
                Some(scan) => self.scanned(&scan, now),
                None => Ok(()),
            },
            UiAction::ScanTimeout => {
                self.scanner.reset();
                Ok(())
            }
            UiAction::UseDob => {
                self.dob_digits.clear();
                self.dob_problem = None;
                self.name_letters.clear();
                self.name_problem = None;
                self.used_keypad = true;
                self.apply(Input::UseDateOfBirth, now)
            }
            // What was typed stays, so a typo is fixed, not typed again.
            UiAction::TryAgain => {
                self.dob_problem = None;
                self.name_problem = None;
                self.apply(Input::UseDateOfBirth, now)
            }
            UiAction::DobDigit(d) => {
                if d.is_ascii_digit() && self.dob_digits.len() < 8 {
                    self.dob_digits.push(d);
                    self.dob_problem = None;
                }
                Ok(())
            }
            UiAction::DobErase | UiAction::DobClear => {
                if action == UiAction::DobErase {
                    self.dob_digits.pop();
                } else {
                    self.dob_digits.clear();
                }
                self.dob_problem = None;
                Ok(())
            }
            UiAction::DobSubmit => self.dob_submit(now),
            UiAction::NameLetter(text) => {
                for c in text.chars().filter(|c| !c.is_control()) {
                    if self.name_letters.chars().count() < 20 {
                        self.name_letters.extend(c.to_uppercase());
                    }
                }
                self.name_problem = None;
                Ok(())
            }
            UiAction::NameErase => {
                self.name_letters.pop();
                self.name_problem = None;
                Ok(())
            }
            UiAction::NameSubmit => self.name_submit(now),
            _ => Ok(()),
        }
    }

    fn dob_submit(&mut self, now: DateTime<Utc>) -> Result<(), ControllerError> {
        let today = now.with_timezone(&self.context.time_zone).date_naive();
        match parse_dob(&self.dob_digits, today) {
            Ok(dob) => {
                self.name_problem = None;
                self.apply(Input::DateOfBirth(dob), now)
            }
            Err(problem) => {
                self.dob_problem = Some(problem);
                Ok(())
            }
        }
    }

    /// The edit forms: choosing a field, typing, erasing and saving.
    fn handle_form(&mut self, action: UiAction, now: DateTime<Utc>) -> Result<(), ControllerError> {
        match action {
            UiAction::EditSelect(field) => {
                match (self.flow.step(), field) {
                    (Step::EditDemographics, FormField::Demographics(f)) => {
                        self.edit_demographics.active = f;
                    }
                    (Step::EditInsurance, FormField::Insurance(f)) => {
                        self.edit_insurance.active = f;
                    }
                    _ => {}
                }
                Ok(())
            }
            UiAction::EditTyped(text) => {
                self.edit_type(&text);
                Ok(())
            }
            UiAction::EditErase => {
                match self.flow.step() {
                    Step::EditDemographics => {
                        let f = &mut self.edit_demographics;
                        f.fields[f.active].pop();
                        f.problem = None;
                    }
                    Step::EditInsurance => {
                        let f = &mut self.edit_insurance;
                        f.fields[f.active].pop();
                        f.problem = None;
                    }
                    _ => {}
                }
                Ok(())
            }
            UiAction::EditSubmit => self.edit_submit(now),
            _ => Ok(()),
        }
    }

    /// An intake form page: answers, typing, the consent, Next and Back.
    fn handle_form_page(
        &mut self,
        action: UiAction,
        now: DateTime<Utc>,
    ) -> Result<(), ControllerError> {
        let input = match action {
            UiAction::FormChoose(i) => FormInput::Choose(i),
            UiAction::FormBoolean(b) => FormInput::Boolean(b),
            UiAction::FormKey(c) => FormInput::Key(c),
            UiAction::FormBackspace => FormInput::Backspace,
            UiAction::FormNext => FormInput::Next,
            UiAction::FormBack => FormInput::Back,
            UiAction::FormAgree => FormInput::Agree,
            UiAction::FormSigned(png) => FormInput::Signed(png),
            UiAction::FormClearSignature => FormInput::ClearSignature,
            UiAction::FormTypeName => FormInput::TypeName,
            UiAction::FormFinish => FormInput::Finish,
            _ => return Ok(()),
        };
        self.apply(Input::Form(input), now)
    }

    /// Everything that moves the patient from step to step.
    fn handle_step(&mut self, action: UiAction, now: DateTime<Utc>) -> Result<(), ControllerError> {
        let input = match action {
            UiAction::Back if self.confirm_no_insurance => {
                // "No, go back" from the question on insurance.
                self.confirm_no_insurance = false;
                return Ok(());
            }
            UiAction::Back => {
                if self.flow.step() == Step::EnterLastName {
                    self.name_letters.clear();
                    self.name_problem = None;
                }
                Input::Back
            }
            UiAction::Finish => return self.apply_then_reset_on_welcome(Input::Finish, now),
            UiAction::Resume => return self.apply_then_reset_on_welcome(Input::Continue, now),
            UiAction::HelpAnswered(ids) => {
                let answered = self.help_flag.is_some_and(|flag| ids.contains(&flag));
                if self.flow.step() != Step::Help || !answered {
                    return Ok(());
                }
                return self.apply_then_reset_on_welcome(Input::HelpAnswered, now);
            }
            UiAction::IdleTimeout => {
                let result = self.apply(Input::IdleTimeout, now);
                self.reset_session();
                return result;
            }
            UiAction::Choose(i) => Input::ChooseAppointment(i),
            UiAction::DemographicsCorrect => Input::DemographicsCorrect,
            UiAction::DemographicsUpdate => {
                self.edit_demographics = EditDemographicsView::default();
                Input::UpdateDemographics
            }
            UiAction::InsuranceStillCorrect => Input::InsuranceStillCorrect,
            UiAction::InsuranceChanged => {
                self.edit_insurance = EditInsuranceView::default();
                Input::InsuranceChanged
            }
            UiAction::NoInsurance => {
                if self.flow.step() == Step::Insurance {
                    self.confirm_no_insurance = true;
                }
                return Ok(());
            }
            UiAction::ConfirmNoInsurance => {
                if !self.confirm_no_insurance {
                    return Ok(());
                }
                let result = self.apply(Input::NoInsurance, now);
                if self.flow.step() != Step::Insurance {
                    self.confirm_no_insurance = false;
                }
                return result;
            }
            UiAction::CoPay(choice) => Input::CoPay(choice),
            UiAction::PayPhoneDone => Input::Continue,
            UiAction::Help => Input::Help,
            UiAction::SetLanguage(l) => Input::SetLanguage(l),
            UiAction::IdleWarning => Input::IdleWarning,
            UiAction::StillHere => Input::StillHere,
            // Handled by `handle_identify` and `handle_form`.
            _ => return Ok(()),
        };
        self.apply(input, now)
    }

    /// Applies `input`, and starts a fresh session if it led to Welcome.
    fn apply_then_reset_on_welcome(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
    ) -> Result<(), ControllerError> {
        let result = self.apply(input, now);
        if self.flow.step() == Step::Welcome {
            self.reset_session();
        }
        result
    }

    /// Clears every per-patient buffer; the flow itself resets on its own.
    fn reset_session(&mut self) {
        self.flow = CheckInFlow::new(self.context.flow.clone());
        self.fault = false;
        self.scanner.reset();
        self.dob_digits.clear();
        self.dob_problem = None;
        self.name_letters.clear();
        self.name_problem = None;
        self.lookup_blocked_until = None;
        self.edit_demographics = EditDemographicsView::default();
        self.edit_insurance = EditInsuranceView::default();
        self.confirm_no_insurance = false;
        self.used_keypad = false;
        self.help_flag = None;
    }

    /// Runs an input through the flow and commits its events before the
    /// screen moves on. If the commit fails, the flow is put back as it was
    /// and the desk screen shows.
    fn apply(&mut self, input: Input, now: DateTime<Utc>) -> Result<(), ControllerError> {
        let before = self.flow.clone();
        let events = self.flow.handle(input, now)?;
        if before.appointment().is_none()
            && let Some(id) = self.flow.appointment().map(|a| a.id.clone())
        {
            // A broken or unreadable form never stops a check-in: the
            // patient then goes on without forms.
            let forms = self.repo.forms_for(&id).unwrap_or_default();
            self.flow.set_forms(forms);
        }
        if events.is_empty() {
            return Ok(());
        }
        match self.repo.record(&events, now) {
            Ok(ids) => {
                if self.flow.step() == Step::Help && before.step() != Step::Help {
                    self.help_flag = help_flag_id(&events, &ids);
                }
                (self.on_commit)();
                Ok(())
            }
            Err(err) => {
                self.flow = before;
                self.fault = true;
                Err(err)
            }
        }
    }

    /// Whether the patient waits for help ("someone is coming").
    pub fn waiting_for_help(&self) -> bool {
        !self.fault && self.flow.step() == Step::Help
    }

    fn scanned(&mut self, scan: &str, now: DateTime<Utc>) -> Result<(), ControllerError> {
        // A scan counts only where a patient is identifying themselves.
        if !matches!(
            self.flow.step(),
            Step::Welcome
                | Step::EnterDob
                | Step::EnterLastName
                | Step::NotFound
                | Step::PassRejected(_)
        ) {
            return Ok(());
        }
        let checked = match &self.verifier {
            Some(v) => v
                .verify(scan, &self.context.clinic_id, now)
                .map_err(PassProblem::from),
            None => Err(PassProblem::BadSignature),
        };
        let input = match checked {
            Ok(claims) => {
                let id = claims.appointment_id.clone();
                let found = self
                    .repo
                    .appointment(&id)
                    .inspect_err(|_| self.fault = true)?;
                match found {
                    Some(a) if a.clinic_id == self.context.clinic_id => {
                        Input::PassAccepted(Box::new(a))
                    }
                    _ => Input::PassRefused(PassProblem::UnknownAppointment),
                }
            }
            Err(problem) => Input::PassRefused(problem),
        };
        self.apply(input, now)
    }

    fn name_submit(&mut self, now: DateTime<Utc>) -> Result<(), ControllerError> {
        let Some(dob) = self.flow.entered_dob() else {
            return Err(FlowError::NotHere {
                input: "a last name",
                step: self.flow.step().as_str(),
            }
            .into());
        };
        let wait = self.throttle.wait_before_lookup(now);
        if wait > chrono::Duration::zero() {
            self.lookup_blocked_until = Some(now + wait);
            self.name_problem = Some(NameProblem::Wait);
            return Ok(());
        }
        self.lookup_blocked_until = None;
        self.name_problem = None;
        let query = LookupQuery {
            date_of_birth: dob,
            last_name_prefix: self.name_letters.clone(),
        };
        let prefix_len = self.context.flow.name_prefix_len;
        let found = match self.repo.lookup(&query, prefix_len) {
            Ok(found) => found,
            Err(ControllerError::Lookup(_)) => {
                // Too few letters for any name: a typing problem, not a miss.
                self.name_problem = Some(NameProblem::TooShort);
                return Ok(());
            }
            Err(e) => {
                self.fault = true;
                return Err(e);
            }
        };
        if found.is_empty() {
            self.throttle.record_miss(now);
        }
        self.apply(Input::LookupResult(found), now)
    }

    fn edit_type(&mut self, text: &str) {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        match self.flow.step() {
            Step::EditDemographics => {
                let f = &mut self.edit_demographics;
                push_limited(&mut f.fields[f.active], &clean, f.active.typing_limit());
                f.problem = None;
            }
            Step::EditInsurance => {
                let f = &mut self.edit_insurance;
                push_limited(&mut f.fields[f.active], &clean, f.active.typing_limit());
                f.problem = None;
            }
            _ => {}
        }
    }

    fn edit_submit(&mut self, now: DateTime<Utc>) -> Result<(), ControllerError> {
        match self.flow.step() {
            Step::EditDemographics => {
                let fields = &self.edit_demographics.fields;
                if fields.iter().all(|v| v.trim().is_empty()) {
                    self.edit_demographics.problem = Some(EditProblem::NothingTyped);
                    return Ok(());
                }
                let Some(a) = self.flow.appointment() else {
                    return Ok(());
                };
                // Only what was typed changes; the rest stays as on file.
                let proposed = proposed_demographics(&a.patient.demographics, fields);
                let result = self.apply(Input::SubmitDemographics(proposed), now);
                self.field_problem(result)
            }
            Step::EditInsurance => {
                let fields = &self.edit_insurance.fields;
                let typed = |i: InsuranceField| fields[i].trim().to_string();
                let (payer, member_id, group) = (
                    typed(InsuranceField::Payer),
                    typed(InsuranceField::MemberId),
                    typed(InsuranceField::Group),
                );
                if payer.is_empty() {
                    self.edit_insurance.problem = Some(EditProblem::MissingPayer);
                    return Ok(());
                }
                if member_id.is_empty() {
                    self.edit_insurance.problem = Some(EditProblem::MissingMemberId);
                    return Ok(());
                }
                let result = self.apply(
                    Input::SubmitCoverage(CoverageUpdate {
                        payer,
                        member_id,
                        group,
                    }),
                    now,
                );
                self.field_problem(result)
            }
            _ => Ok(()),
        }
    }

    /// Turns a field the flow refused into the form's problem, and moves the
    /// keyboard to that field so the patient can correct it.
    fn field_problem(
        &mut self,
        result: Result<(), ControllerError>,
    ) -> Result<(), ControllerError> {
        if let Err(ControllerError::Flow(FlowError::Empty(_))) = result
            && self.flow.step() == Step::EditDemographics
        {
            // Nothing on file and nothing typed for street and phone.
            self.edit_demographics.problem = Some(EditProblem::NeedStreetOrPhone);
            return Ok(());
        }
        let Err(ControllerError::Flow(FlowError::Field(e))) = result else {
            return result;
        };
        let field = e.field();
        let problem = match e {
            FieldError::Empty(f) => EditProblem::Required(f),
            _ => EditProblem::Invalid(field),
        };
        match self.flow.step() {
            Step::EditDemographics => {
                let f = &mut self.edit_demographics;
                if let Some(d) = DemographicsField::ALL
                    .into_iter()
                    .find(|d| d.rule() == field)
                {
                    f.active = d;
                }
                f.problem = Some(problem);
            }
            Step::EditInsurance => {
                let f = &mut self.edit_insurance;
                if let Some(i) = InsuranceField::ALL.into_iter().find(|i| i.rule() == field) {
                    f.active = i;
                }
                f.problem = Some(problem);
            }
            _ => {}
        }
        Ok(())
    }

    fn format_time(&self, a: &Appointment) -> String {
        let local = a.start.with_timezone(&self.context.time_zone);
        format_clock(local.time(), self.flow.language(), self.context.clock_24h)
    }

    fn format_money(money: Money) -> String {
        money.to_string()
    }

    /// The payment link for the identified appointment, if the clinic has one.
    fn payment_link(&self, a: &Appointment) -> Option<String> {
        let template = self.context.payment_link.as_ref()?;
        Some(template.replace("{reference}", &payment_reference(&a.id)))
    }

    /// Everything the screen shows now.
    pub fn view(&self) -> ViewModel {
        let step = self.flow.step();
        let screen = self.screen();
        let appt = self.flow.appointment();
        let now = self.clock.now();
        let max = self.context.flow.max_failed_lookups;
        let (progress, progress_steps) = self.progress(screen);
        ViewModel {
            screen,
            language: self.flow.language(),
            progress,
            progress_steps,
            identity: appt.map(|a| IdentityView {
                name: self.flow.display_name().unwrap_or_default(),
                time: self.format_time(a),
                clinician: a.clinician.clone(),
            }),
            notice: self.flow.notices().first().copied(),
            idle_warning: self.flow.idle_warning(),
            dob_display: dob_display(&self.dob_digits),
            dob_digits: self.dob_digits.clone(),
            dob_problem: self.dob_problem,
            name_letters: self.name_letters.clone(),
            name_prefix_len: self.context.flow.name_prefix_len,
            name_problem: self.name_problem,
            name_wait_seconds: self.name_wait_seconds_at(now),
            not_found: NotFoundView {
                dob: masked_dob(&self.dob_digits),
                letters: self.name_letters.clone(),
                attempts_left: max.saturating_sub(self.flow.failed_lookups()),
            },
            choices: self
                .flow
                .candidates()
                .iter()
                .map(|a| ChoiceView {
                    time: self.format_time(a),
                    clinician: a.clinician.clone(),
                })
                .collect(),
            pass_problem: match step {
                Step::PassRejected(p) => Some(p),
                _ => None,
            },
            desk_reason: self.desk_reason(),
            demographics: self.flow.masked_demographics().unwrap_or_default(),
            edit_demographics: self.edit_demographics.clone(),
            insurance: appt
                .map(|a| InsuranceView {
                    confirm_no_insurance: self.confirm_no_insurance && step == Step::Insurance,
                    ..insurance_view(a)
                })
                .unwrap_or_default(),
            edit_insurance: self.edit_insurance.clone(),
            copay: appt.map(|a| self.copay_view(a)).unwrap_or_default(),
            pay_phone: appt
                .filter(|_| step == Step::PayOnPhone)
                .and_then(|a| self.pay_phone_view(a))
                .unwrap_or_default(),
            done: appt
                .filter(|_| step == Step::Done)
                .map(|a| self.done_view(a))
                .unwrap_or_default(),
            help_can_resume: self.flow.failed_lookups() < max,
            form: self.form_view(step),
        }
    }

    /// The form page, on the forms step.
    fn form_view(&self, step: Step) -> FormView {
        let Some(session) = self.flow.forms().filter(|_| step == Step::Forms) else {
            return FormView::default();
        };
        session.view(self.flow.language())
    }

    /// The screen for the current step, or the desk after a fault.
    fn screen(&self) -> Screen {
        if self.fault {
            Screen::SeeDesk
        } else {
            match self.flow.step() {
                Step::Welcome => Screen::Welcome,
                Step::EnterDob => Screen::EnterDob,
                Step::EnterLastName => Screen::EnterName,
                Step::NotFound => Screen::NotFound,
                Step::ChooseAppointment => Screen::Choose,
                Step::PassRejected(_) => Screen::PassRejected,
                Step::SeeDesk(_) => Screen::SeeDesk,
                Step::Demographics => Screen::Demographics,
                Step::EditDemographics => Screen::EditDemographics,
                Step::Insurance => Screen::Insurance,
                Step::EditInsurance => Screen::EditInsurance,
                Step::CoPay => Screen::CoPay,
                Step::PayOnPhone => Screen::PayPhone,
                Step::Done => Screen::Done,
                Step::Help => Screen::Help,
                Step::Forms => Screen::Form,
            }
        }
    }

    /// Why the desk screen shows, if it does.
    fn desk_reason(&self) -> Option<DeskReason> {
        if self.fault {
            return Some(DeskReason::Fault);
        }
        match self.flow.step() {
            Step::SeeDesk(code) => Some(DeskReason::Rule(code)),
            _ => None,
        }
    }

    /// Seconds until the next lookup may run, while the wait shows.
    fn name_wait_seconds_at(&self, now: DateTime<Utc>) -> u32 {
        self.lookup_blocked_until
            .filter(|_| self.name_problem == Some(NameProblem::Wait))
            .map(|until| {
                let ms = (until - now).num_milliseconds().max(0);
                u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX)
            })
            .unwrap_or(0)
    }

    /// What the patient owes today: the plan's co-pay, or the clinic's
    /// self-pay amount (never the plan's co-pay) when they have no
    /// insurance; `None` when that amount is not set.
    fn amount_due(&self, a: &Appointment) -> Option<Money> {
        if self.flow.self_pay() {
            self.context.self_pay
        } else {
            Some(a.expected_copay)
        }
    }

    /// The co-pay screen for `a`.
    fn copay_view(&self, a: &Appointment) -> CoPayView {
        let due = self.amount_due(a);
        CoPayView {
            amount: due.map(Self::format_money).unwrap_or_default(),
            self_pay: self.flow.self_pay(),
            balance: if a.prior_balance.is_positive() {
                Self::format_money(a.prior_balance)
            } else {
                String::new()
            },
            // A link to pay an amount nobody knows yet is no help.
            allow_phone: self.context.flow.allow_pay_on_phone
                && self.context.payment_link.is_some()
                && due.is_some(),
            allow_bill_later: self.context.flow.allow_bill_later,
        }
    }

    /// The pay-on-phone screen for `a`, when the clinic has a link.
    fn pay_phone_view(&self, a: &Appointment) -> Option<PayPhoneView> {
        Some(PayPhoneView {
            url: self.payment_link(a)?,
            reference: payment_reference(&a.id),
            amount: Self::format_money(self.amount_due(a)?),
        })
    }

    /// The Done screen for `a`.
    fn done_view(&self, a: &Appointment) -> DoneView {
        let choice = self.flow.copay_choice();
        DoneView {
            choice,
            amount: choice
                .and_then(|_| self.amount_due(a))
                .map(Self::format_money)
                .unwrap_or_default(),
            self_pay: self.flow.self_pay(),
        }
    }

    /// The progress header for `screen`: its step among the steps this
    /// patient sees, and how many those are; (0, 0) hides it. Before a
    /// match the steps after Identify are not known yet, so all are
    /// counted; after it only those the patient will see.
    fn progress(&self, screen: Screen) -> (u8, u8) {
        let Some(section) = section(screen) else {
            return (0, 0);
        };
        let mut seen = Vec::with_capacity(4);
        if self.used_keypad {
            seen.push(Section::Identify);
        }
        match self.flow.appointment() {
            None => seen.extend([Section::Details, Section::Insurance, Section::Payment]),
            Some(a) => {
                if self.flow.demographics_shown() {
                    seen.push(Section::Details);
                }
                seen.push(Section::Insurance);
                if a.expected_copay.is_positive() || self.flow.self_pay() {
                    seen.push(Section::Payment);
                }
            }
        }
        let at = seen.iter().position(|s| *s == section).map_or(0, |i| i + 1);
        let count = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        (count(at), count(seen.len()))
    }
}

/// A step of the progress header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Identify,
    Details,
    Insurance,
    Payment,
}

/// The progress header's step a screen belongs to; `None` hides it.
fn section(screen: Screen) -> Option<Section> {
    match screen {
        Screen::EnterDob | Screen::EnterName | Screen::NotFound | Screen::Choose => {
            Some(Section::Identify)
        }
        Screen::Demographics | Screen::EditDemographics => Some(Section::Details),
        Screen::Insurance | Screen::EditInsurance => Some(Section::Insurance),
        Screen::CoPay | Screen::PayPhone => Some(Section::Payment),
        _ => None,
    }
}

/// A time of day as the patient's language writes it: "9:20 AM" in
/// English and "9:20 a. m." in Spanish on the 12-hour clock, "09:20" on
/// the 24-hour one.
pub fn format_clock(time: chrono::NaiveTime, language: Language, clock_24h: bool) -> String {
    if clock_24h {
        return time.format("%H:%M").to_string();
    }
    let (pm, hour) = time.hour12();
    let minute = time.minute();
    let suffix = match (language, pm) {
        (Language::En, false) => "AM",
        (Language::En, true) => "PM",
        (Language::Es, false) => "a. m.",
        (Language::Es, true) => "p. m.",
    };
    format!("{hour}:{minute:02} {suffix}")
}

/// The typed date for the "not found" screen: month and day in full and
/// the year's last two digits, "05 / 17 / ••80", so the patient can spot
/// a typo and a passer-by cannot read the whole date.
pub fn masked_dob(digits: &str) -> String {
    let d: Vec<char> = digits.chars().take(8).collect();
    if d.len() < 8 {
        return String::new();
    }
    let s = |r: std::ops::Range<usize>| d[r].iter().collect::<String>();
    format!("{} / {} / ••{}", s(0..2), s(2..4), s(6..8))
}

/// The insurance screen for `a`: the coverage on file, masked.
fn insurance_view(a: &Appointment) -> InsuranceView {
    let c = a.coverage.as_ref();
    InsuranceView {
        has_coverage: c.is_some(),
        expired: check_coverage(c, a.local_day()) == Some(ReasonCode::InsuranceExpired),
        payer: c.map(|c| c.payer.clone()).unwrap_or_default(),
        plan: c.map(|c| c.plan.clone()).unwrap_or_default(),
        member_id: c.map(|c| mask_member_id(&c.member_id)).unwrap_or_default(),
        ..InsuranceView::default()
    }
}

/// The demographics the form proposes: what is on file, with what was
/// typed in its place. A new street replaces the whole street address, so
/// the old apartment goes unless a new one is typed; any contact field
/// typed makes a contact (from the one on file, or a new one).
fn proposed_demographics(
    on_file: &Demographics,
    fields: &FormValues<DemographicsField, 10>,
) -> Demographics {
    let typed = |d: DemographicsField| fields[d].trim().to_string();
    let set = |slot: &mut String, d: DemographicsField| {
        let value = typed(d);
        if !value.is_empty() {
            *slot = value;
        }
    };
    let mut p = on_file.clone();
    if !typed(DemographicsField::Street).is_empty() {
        p.address.line2.clear();
    }
    set(&mut p.address.line1, DemographicsField::Street);
    set(&mut p.address.line2, DemographicsField::Apartment);
    set(&mut p.address.city, DemographicsField::City);
    set(&mut p.address.region, DemographicsField::State);
    set(&mut p.address.postal_code, DemographicsField::Zip);
    set(&mut p.phone, DemographicsField::Phone);
    set(&mut p.email, DemographicsField::Email);
    let contact_typed = DemographicsField::ALL
        .into_iter()
        .any(|d| d.is_contact() && !typed(d).is_empty());
    if contact_typed {
        let mut c = p.emergency_contact.take().unwrap_or_default();
        set(&mut c.name, DemographicsField::ContactName);
        set(&mut c.phone, DemographicsField::ContactPhone);
        set(&mut c.relation, DemographicsField::ContactRelation);
        p.emergency_contact = Some(c);
    }
    p
}

/// Appends `text` to `value` up to `limit` characters in all.
fn push_limited(value: &mut String, text: &str, limit: usize) {
    let room = limit.saturating_sub(value.chars().count());
    value.extend(text.chars().take(room));
}

/// The payment reference for an appointment: its id, which carries no PHI.
pub fn payment_reference(id: &AppointmentId) -> String {
    id.0.clone()
}

/// Lays typed digits over the "MM / DD / YYYY" guide.
pub fn dob_display(digits: &str) -> String {
    let guide: Vec<char> = "MMDDYYYY".chars().collect();
    let typed: Vec<char> = digits.chars().take(8).collect();
    let cell = |i: usize| typed.get(i).copied().unwrap_or(guide[i]);
    let part = |r: std::ops::Range<usize>| r.map(cell).collect::<String>();
    format!("{} / {} / {}", part(0..2), part(2..4), part(4..8))
}

/// Parses eight keypad digits, MMDDYYYY, into a date of birth.
pub fn parse_dob(digits: &str, today: NaiveDate) -> Result<NaiveDate, DobProblem> {
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(DobProblem::Incomplete);
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().unwrap_or(0);
    let (month, day, year) = (num(0..2), num(2..4), num(4..8));
    if !(1..=12).contains(&month) {
        return Err(DobProblem::Month);
    }
    if year < 1900 {
        return Err(DobProblem::Year);
    }
    let year = i32::try_from(year).map_err(|_| DobProblem::Year)?;
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(DobProblem::Day)?;
    if date > today {
        return Err(DobProblem::Future);
    }
    Ok(date)
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;

/// The client event id of the help flag among a step's `events`, whose ids
/// are `ids` in the same order.
fn help_flag_id(events: &[DomainEvent], ids: &[Uuid]) -> Option<Uuid> {
    events.iter().zip(ids).find_map(|(event, id)| match event {
        DomainEvent::Flag(f)
            if matches!(
                f.code,
                ReasonCode::HelpRequested | ReasonCode::IdentityNotFound
            ) =>
        {
            Some(*id)
        }
        _ => None,
    })
}
