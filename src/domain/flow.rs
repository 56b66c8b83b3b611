//! The check-in flow as a state machine: Welcome → Identify (pass or date of
//! birth) → rule checks → Demographics → Insurance → Co-pay → intake forms
//! (when any is due) → Done, with
//! "I need help", the idle warning and reset, and language switches from
//! any step.
//!
//! The flow is driven by [`CheckInFlow::handle`]. Each accepted input yields
//! the [`DomainEvent`]s the kiosk must record before the screen moves on; an
//! input that makes no sense in the current step is refused with a
//! [`FlowError`] and changes nothing.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::fields::{self, FieldError};
use super::forms_session::{CompletedForm, FormInput, FormSet, FormsError, FormsSession, Moved};
use super::masking::{MaskedDemographics, mask_member_id, patient_display_name};
use super::money::Money;
use super::rules::{ReasonCode, RulePolicy, check_coverage};
use super::types::{
    Appointment, AppointmentId, AppointmentStatus, CoverageUpdate, Demographics, LocationId,
    PatientId,
};

/// The languages the kiosk speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English, the source language.
    #[default]
    En,
    /// Spanish.
    Es,
}

impl Language {
    /// The code used for translations and in config, `"en"` or `"es"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }

    /// Parses `"en"` or `"es"`.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "es" => Some(Self::Es),
            _ => None,
        }
    }
}

/// Why a scanned pass could not be used. Produced by the pass verifier and
/// the schedule lookup, outside the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassProblem {
    /// Not a pass at all, or cut short.
    Malformed,
    /// The signature does not verify: tampered or forged.
    BadSignature,
    /// The pass is past its expiry time.
    Expired,
    /// The pass is for another clinic.
    WrongClinic,
    /// The pass verified but its appointment is not in today's schedule.
    UnknownAppointment,
}

impl PassProblem {
    /// The wire and log name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::WrongClinic => "wrong_clinic",
            Self::UnknownAppointment => "unknown_appointment",
        }
    }
}

/// How the patient will settle the co-pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoPayChoice {
    /// Queue the co-pay for the front desk.
    FrontDesk,
    /// Pay through the clinic's payment link on the patient's phone.
    Phone,
    /// Send a bill later, where the clinic allows it.
    BillLater,
}

impl CoPayChoice {
    /// Every choice, for parsers.
    pub const ALL: [CoPayChoice; 3] = [Self::FrontDesk, Self::Phone, Self::BillLater];

    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FrontDesk => "front_desk",
            Self::Phone => "phone",
            Self::BillLater => "bill_later",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The screen the patient is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Clinic name, language choice, scan or date of birth.
    Welcome,
    /// The date-of-birth keypad.
    EnterDob,
    /// The keyboard for the first letters of the last name.
    EnterLastName,
    /// A lookup found nobody; the patient may try again.
    NotFound,
    /// Several appointments matched; the patient picks by time and clinician.
    ChooseAppointment,
    /// A scanned pass was refused; the patient may use their date of birth.
    PassRejected(PassProblem),
    /// A rule stopped check-in; the patient is sent to the front desk.
    SeeDesk(ReasonCode),
    /// Masked demographics: "This is correct" or "Update".
    Demographics,
    /// Typing new demographics on the on-screen keyboard.
    EditDemographics,
    /// Coverage on file: "Still correct", "It changed" or "I have no insurance".
    Insurance,
    /// Typing new coverage.
    EditInsurance,
    /// The amount due and the ways to pay.
    CoPay,
    /// The payment-link QR code.
    PayOnPhone,
    /// "You're checked in."
    Done,
    /// "Someone from the front desk is coming."
    Help,
    /// The intake forms due at this visit, one page at a time, then a
    /// thank-you.
    Forms,
}

impl Step {
    /// Every name [`Step::as_str`] gives, as flags carry them on the wire.
    pub const NAMES: [&'static str; 16] = [
        "welcome",
        "enter_dob",
        "enter_last_name",
        "not_found",
        "choose_appointment",
        "pass_rejected",
        "see_desk",
        "demographics",
        "edit_demographics",
        "insurance",
        "edit_insurance",
        "copay",
        "pay_on_phone",
        "done",
        "help",
        "forms",
    ];

    /// A few words for staff on where a patient was, by [`Step::NAMES`]
    /// name; `None` for a name that is not a step.
    pub fn staff_label(name: &str) -> Option<&'static str> {
        Some(match name {
            "welcome" => "Welcome",
            "enter_dob" => "Date of birth",
            "enter_last_name" => "Last name",
            "not_found" => "Not found",
            "choose_appointment" => "Choosing appointment",
            "pass_rejected" => "Pass rejected",
            "see_desk" => "Sent to the desk",
            "demographics" => "Contact details",
            "edit_demographics" => "Editing contact details",
            "insurance" => "Insurance",
            "edit_insurance" => "Editing insurance",
            "copay" => "Co-pay",
            "pay_on_phone" => "Paying on phone",
            "done" => "Finished",
            "help" => "Help",
            "forms" => "Intake forms",
            _ => return None,
        })
    }

    /// The name recorded with flags and shown to staff.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::EnterDob => "enter_dob",
            Self::EnterLastName => "enter_last_name",
            Self::NotFound => "not_found",
            Self::ChooseAppointment => "choose_appointment",
            Self::PassRejected(_) => "pass_rejected",
            Self::SeeDesk(_) => "see_desk",
            Self::Demographics => "demographics",
            Self::EditDemographics => "edit_demographics",
            Self::Insurance => "insurance",
            Self::EditInsurance => "edit_insurance",
            Self::CoPay => "copay",
            Self::PayOnPhone => "pay_on_phone",
            Self::Done => "done",
            Self::Help => "help",
            Self::Forms => "forms",
        }
    }

    /// True on the screens where an idle timeout matters: every screen but
    /// Welcome (already reset) and Done (which returns to Welcome by itself).
    pub fn watches_idle(&self) -> bool {
        !matches!(self, Self::Welcome | Self::Done)
    }
}

/// Settings of the flow, from the kiosk's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSettings {
    /// The rule windows and actions.
    pub rules: RulePolicy,
    /// The location this kiosk stands in.
    pub kiosk_location: LocationId,
    /// How many last-name letters a patient types (3 by default).
    pub name_prefix_len: usize,
    /// Failed lookups in one session before `identity_not_found` and help.
    pub max_failed_lookups: u32,
    /// Demographics confirmed within this many days are not asked again.
    pub demographics_skip_days: u32,
    /// Whether "Bill me later" is offered.
    pub allow_bill_later: bool,
    /// Whether "Pay on my phone" is offered (the clinic has a payment link).
    pub allow_pay_on_phone: bool,
    /// The language every session starts in.
    pub language: Language,
}

impl FlowSettings {
    /// Defaults for a kiosk at `kiosk_location`.
    pub fn with_location(kiosk_location: LocationId) -> Self {
        Self {
            rules: RulePolicy::default(),
            kiosk_location,
            name_prefix_len: 3,
            max_failed_lookups: 3,
            demographics_skip_days: 7,
            allow_bill_later: false,
            allow_pay_on_phone: true,
            language: Language::En,
        }
    }
}

/// A flag for the staff queue, as raised by the flow. The kiosk adds its id
/// when it records the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagRaised {
    /// Why.
    pub code: ReasonCode,
    /// The appointment, where one is known.
    pub appointment_id: Option<AppointmentId>,
    /// The step the patient was on.
    pub step: Step,
    /// When.
    pub at: DateTime<Utc>,
    /// A short text for staff, with no PHI.
    pub text: String,
}

/// What kind of PHI a screen showed; recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhiShown {
    /// The masked name, time and clinician of a match.
    Identity,
    /// The masked demographics.
    Demographics,
    /// The masked coverage.
    Coverage,
    /// The amount due.
    CoPay,
    /// A patient's answers to an intake form (audited when submitted,
    /// never shown back).
    Form,
}

impl PhiShown {
    /// The audit name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Demographics => "demographics",
            Self::Coverage => "coverage",
            Self::CoPay => "copay",
            Self::Form => "form",
        }
    }
}

/// What a transition asks the kiosk to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// The patient was identified for this appointment.
    Arrived {
        /// The appointment.
        appointment_id: AppointmentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The patient finished check-in.
    CheckedIn {
        /// The appointment.
        appointment_id: AppointmentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// A flag for the staff queue.
    Flag(FlagRaised),
    /// The patient confirmed the demographics on file.
    DemographicsConfirmed {
        /// The appointment during which they confirmed.
        appointment_id: AppointmentId,
        /// The patient.
        patient_id: PatientId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The patient proposed new demographics, for staff to verify.
    DemographicsProposed {
        /// The appointment.
        appointment_id: AppointmentId,
        /// The patient.
        patient_id: PatientId,
        /// The proposed details, in full.
        proposed: Demographics,
        /// When.
        at: DateTime<Utc>,
    },
    /// The patient proposed new coverage, or said they have none (`None`).
    CoverageProposed {
        /// The appointment.
        appointment_id: AppointmentId,
        /// The patient.
        patient_id: PatientId,
        /// The proposed coverage; `None` means "I have no insurance".
        proposed: Option<CoverageUpdate>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The patient chose how to pay the co-pay.
    CoPayChosen {
        /// The appointment.
        appointment_id: AppointmentId,
        /// The choice.
        choice: CoPayChoice,
        /// The amount due at this visit.
        amount: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// A screen showed PHI; recorded in the audit log, never with the PHI itself.
    PhiShown {
        /// The appointment whose data was shown.
        appointment_id: AppointmentId,
        /// What was shown.
        what: PhiShown,
        /// When.
        at: DateTime<Utc>,
    },
    /// The patient completed an intake form.
    FormCompleted {
        /// The appointment.
        appointment_id: AppointmentId,
        /// The patient.
        patient_id: PatientId,
        /// The form, its answers, the signature and whether it is urgent.
        completed: Box<CompletedForm>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What the patient or the kiosk's timers did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// "Use my date of birth" on Welcome, or "Try again" after a miss.
    UseDateOfBirth,
    /// The keypad's date of birth.
    DateOfBirth(NaiveDate),
    /// The result of looking up the date of birth and the typed letters:
    /// the matching appointments, already filtered by
    /// [`super::matching::match_appointments`].
    LookupResult(Vec<Appointment>),
    /// A scanned pass verified and its appointment was found.
    PassAccepted(Box<Appointment>),
    /// A scanned pass was refused.
    PassRefused(PassProblem),
    /// The patient picked one of several matches, by index.
    ChooseAppointment(usize),
    /// "This is correct" on Demographics.
    DemographicsCorrect,
    /// "Update" on Demographics.
    UpdateDemographics,
    /// The edited demographics.
    SubmitDemographics(Demographics),
    /// "Still correct" on Insurance.
    InsuranceStillCorrect,
    /// "It changed" on Insurance.
    InsuranceChanged,
    /// The new coverage.
    SubmitCoverage(CoverageUpdate),
    /// "I have no insurance".
    NoInsurance,
    /// A co-pay choice.
    CoPay(CoPayChoice),
    /// "Continue" after the payment QR code, or after help arrived.
    Continue,
    /// "Back" on a screen that has one.
    Back,
    /// "I need help", from any screen.
    Help,
    /// A language switch, from any screen; progress is kept.
    SetLanguage(Language),
    /// The idle timer reached its warning time.
    IdleWarning,
    /// The patient touched the screen while the idle warning showed.
    StillHere,
    /// The idle timer ran out; everything is cleared.
    IdleTimeout,
    /// The Done or See-desk screen's timer ran out, or "Finish" was pressed.
    Finish,
    /// Staff resolved this session's help request from the console: the
    /// desk has the patient, so the session ends with no further flag.
    HelpAnswered,
    /// Something done on an intake form page.
    Form(FormInput),
}

/// An input that does not fit the current step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The input makes no sense on this screen.
    #[error("{input} is not possible on the {step} screen")]
    NotHere {
        /// The input's name.
        input: &'static str,
        /// The step's name.
        step: &'static str,
    },
    /// The chosen match does not exist.
    #[error("there is no appointment number {0} to choose")]
    NoSuchChoice(usize),
    /// The clinic does not offer this co-pay choice.
    #[error("the clinic does not offer {0}")]
    ChoiceNotOffered(&'static str),
    /// A required field was left empty.
    #[error("{0} cannot be empty")]
    Empty(&'static str),
    /// A date of birth in the future.
    #[error("a date of birth cannot be in the future")]
    DobInFuture,
    /// A lookup result that does not fit the entered date of birth.
    #[error("a lookup result does not match the entered date of birth")]
    LookupMismatch,
    /// A typed value breaks its field's rule.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// An input that does not fit the form page.
    #[error(transparent)]
    Form(#[from] FormsError),
}

/// One patient's session at the kiosk, from Welcome to Done.
#[derive(Debug, Clone)]
pub struct CheckInFlow {
    /// Rules and options from config.
    settings: FlowSettings,
    /// The current screen.
    step: Step,
    /// The screen to return to when help is dismissed.
    help_return: Option<Step>,
    /// Whether the idle warning overlay is showing.
    idle_warning: bool,
    /// The patient's language; kept across steps and reset with the session.
    language: Language,
    /// Lookups that found nobody in this session.
    failed_lookups: u32,
    /// The date of birth typed, between the keypad and the name keyboard.
    dob: Option<NaiveDate>,
    /// Matches to choose from, when several matched.
    candidates: Vec<Appointment>,
    /// The identified appointment.
    appointment: Option<Appointment>,
    /// Flags the rules raised that let check-in carry on, for a gentle notice.
    notices: Vec<ReasonCode>,
    /// Whether `arrived` was recorded, so an abandoned session is flagged.
    arrived: bool,
    /// Whether `checked_in` was recorded.
    checked_in: bool,
    /// Whether the patient said they have no insurance: the payment step
    /// is then self-pay, and shows even when the plan's co-pay is zero.
    self_pay: bool,
    /// Whether the demographics step was skipped (confirmed lately) and
    /// not gone back to.
    demographics_skipped: bool,
    /// How the patient chose to pay, for the Done screen.
    copay_choice: Option<CoPayChoice>,
    /// The intake forms due at this visit, once the kiosk loaded them.
    forms: Option<FormsSession>,
    /// The step before the forms, for Back from their first page.
    forms_return: Option<Step>,
}

fn not_here(input: &Input, step: Step) -> FlowError {
    let input = match input {
        Input::UseDateOfBirth => "use date of birth",
        Input::DateOfBirth(_) => "date of birth",
        Input::LookupResult(_) => "a lookup",
        Input::PassAccepted(_) | Input::PassRefused(_) => "a scanned pass",
        Input::ChooseAppointment(_) => "choosing an appointment",
        Input::DemographicsCorrect => "confirming demographics",
        Input::UpdateDemographics | Input::SubmitDemographics(_) => "updating demographics",
        Input::InsuranceStillCorrect => "confirming insurance",
        Input::InsuranceChanged | Input::SubmitCoverage(_) => "changing insurance",
        Input::NoInsurance => "no insurance",
        Input::CoPay(_) => "a co-pay choice",
        Input::Continue => "continue",
        Input::Back => "back",
        Input::Help => "help",
        Input::SetLanguage(_) => "a language switch",
        Input::IdleWarning => "an idle warning",
        Input::StillHere => "still here",
        Input::IdleTimeout => "an idle timeout",
        Input::Finish => "finish",
        Input::HelpAnswered => "an answered help request",
        Input::Form(f) => f.name(),
    };
    FlowError::NotHere {
        input,
        step: step.as_str(),
    }
}

impl CheckInFlow {
    /// A fresh session on Welcome.
    pub fn new(settings: FlowSettings) -> Self {
        let language = settings.language;
        Self {
            settings,
            step: Step::Welcome,
            help_return: None,
            idle_warning: false,
            language,
            failed_lookups: 0,
            dob: None,
            candidates: Vec::new(),
            appointment: None,
            notices: Vec::new(),
            arrived: false,
            checked_in: false,
            self_pay: false,
            demographics_skipped: false,
            copay_choice: None,
            forms: None,
            forms_return: None,
        }
    }

    /// Gives the identified patient's intake forms to the session; they are
    /// asked after the payment step. Only before the forms start, and only
    /// with an appointment; otherwise nothing changes.
    pub fn set_forms(&mut self, set: FormSet) {
        if self.appointment.is_some() && !matches!(self.step, Step::Forms | Step::Done) {
            self.forms = FormsSession::new(set);
        }
    }

    /// The intake forms of this session, if any are due.
    pub fn forms(&self) -> Option<&FormsSession> {
        self.forms.as_ref()
    }

    /// Whether the patient sees the contact details: identified, and the
    /// step not skipped (or gone back to).
    pub fn demographics_shown(&self) -> bool {
        self.appointment.is_some() && !self.demographics_skipped
    }

    /// How the patient chose to pay, once they have.
    pub fn copay_choice(&self) -> Option<CoPayChoice> {
        self.copay_choice
    }

    /// Whether the patient said they have no insurance.
    pub fn self_pay(&self) -> bool {
        self.self_pay
    }

    /// The current screen.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The session's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Whether the idle warning overlay shows.
    pub fn idle_warning(&self) -> bool {
        self.idle_warning
    }

    /// The settings in force.
    pub fn settings(&self) -> &FlowSettings {
        &self.settings
    }

    /// The identified appointment, once there is a match.
    pub fn appointment(&self) -> Option<&Appointment> {
        self.appointment.as_ref()
    }

    /// The matches to choose from on [`Step::ChooseAppointment`].
    pub fn candidates(&self) -> &[Appointment] {
        &self.candidates
    }

    /// Lookups that found nobody in this session.
    pub fn failed_lookups(&self) -> u32 {
        self.failed_lookups
    }

    /// Rule codes that let check-in carry on, for a notice on screen.
    pub fn notices(&self) -> &[ReasonCode] {
        &self.notices
    }

    /// The date of birth typed so far, between the keypad and the name keyboard.
    pub fn entered_dob(&self) -> Option<NaiveDate> {
        self.dob
    }

    /// "Maria G." for the identified patient.
    pub fn display_name(&self) -> Option<String> {
        self.appointment
            .as_ref()
            .map(|a| patient_display_name(&a.patient.first_name, &a.patient.last_name))
    }

    /// The identified patient's demographics, masked.
    pub fn masked_demographics(&self) -> Option<MaskedDemographics> {
        self.appointment
            .as_ref()
            .map(|a| MaskedDemographics::from_demographics(&a.patient.demographics))
    }

    /// The identified patient's member ID, masked.
    pub fn masked_member_id(&self) -> Option<String> {
        self.appointment
            .as_ref()
            .and_then(|a| a.coverage.as_ref())
            .map(|c| mask_member_id(&c.member_id))
    }

    /// Handles one input. On success the flow has moved and the returned
    /// events must be recorded; on error nothing changed.
    pub fn handle(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, FlowError> {
        if let Some(answer) = self.handle_anywhere(&input, now) {
            return answer;
        }
        let events = match input {
            Input::Back => self.back(now)?,
            Input::Finish => self.finish(now)?,
            input => match self.step {
                Step::Welcome
                | Step::EnterDob
                | Step::EnterLastName
                | Step::NotFound
                | Step::PassRejected(_)
                | Step::ChooseAppointment => self.identify(input, now)?,
                Step::Demographics
                | Step::EditDemographics
                | Step::Insurance
                | Step::EditInsurance => self.confirm(input, now)?,
                Step::CoPay
                | Step::PayOnPhone
                | Step::Forms
                | Step::Help
                | Step::Done
                | Step::SeeDesk(_) => self.finish_visit(input, now)?,
            },
        };
        // Any accepted touch also dismisses the idle warning.
        self.idle_warning = false;
        Ok(events)
    }

    /// Inputs that work the same on every screen; `None` for any other.
    fn handle_anywhere(
        &mut self,
        input: &Input,
        now: DateTime<Utc>,
    ) -> Option<Result<Vec<DomainEvent>, FlowError>> {
        Some(match input {
            Input::SetLanguage(lang) => {
                self.language = *lang;
                Ok(Vec::new())
            }
            Input::IdleWarning if !self.step.watches_idle() => Err(not_here(input, self.step)),
            Input::IdleWarning => {
                self.idle_warning = true;
                Ok(Vec::new())
            }
            Input::StillHere => {
                self.idle_warning = false;
                Ok(Vec::new())
            }
            Input::IdleTimeout if !self.step.watches_idle() => Err(not_here(input, self.step)),
            Input::IdleTimeout => Ok(self.reset(now)),
            Input::Help => Ok(self.help(now)),
            _ => return None,
        })
    }

    /// Finding the patient: date of birth and name, a scanned pass, or a
    /// choice between appointments.
    fn identify(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, FlowError> {
        let mut events = Vec::new();
        match (self.step, input) {
            (Step::Welcome | Step::NotFound | Step::PassRejected(_), Input::UseDateOfBirth) => {
                self.dob = None;
                self.step = Step::EnterDob;
            }
            (Step::EnterDob, Input::DateOfBirth(dob)) => {
                // The flow knows no zone: a date counts as future only if
                // it is still to come in the easternmost one (UTC+14), so
                // the clinic's own "today" always passes, as the keypad
                // already checked it against.
                if dob > (now + Duration::hours(14)).date_naive() {
                    return Err(FlowError::DobInFuture);
                }
                self.dob = Some(dob);
                self.step = Step::EnterLastName;
            }
            (Step::EnterLastName, Input::LookupResult(found)) => {
                let dob = self.dob.ok_or(FlowError::LookupMismatch)?;
                if found.iter().any(|a| a.patient.date_of_birth != dob) {
                    return Err(FlowError::LookupMismatch);
                }
                events = self.after_lookup(found, now);
            }
            (
                Step::Welcome
                | Step::EnterDob
                | Step::EnterLastName
                | Step::NotFound
                | Step::PassRejected(_),
                Input::PassAccepted(a),
            ) => {
                events = self.identified(*a, now);
            }
            (
                Step::Welcome
                | Step::EnterDob
                | Step::EnterLastName
                | Step::NotFound
                | Step::PassRejected(_),
                Input::PassRefused(problem),
            ) => {
                events.push(self.flag(ReasonCode::PassInvalid, now));
                self.step = Step::PassRejected(problem);
            }
            (Step::ChooseAppointment, Input::ChooseAppointment(i)) => {
                if i >= self.candidates.len() {
                    return Err(FlowError::NoSuchChoice(i));
                }
                let chosen = self.candidates.swap_remove(i);
                self.candidates.clear();
                events = self.identified(chosen, now);
            }
            (step, input) => return Err(not_here(&input, step)),
        }
        Ok(events)
    }

    /// Confirming or changing the contact details and the insurance.
    fn confirm(&mut self, input: Input, now: DateTime<Utc>) -> Result<Vec<DomainEvent>, FlowError> {
        let mut events = Vec::new();
        match (self.step, input) {
            (Step::Demographics, Input::DemographicsCorrect) => {
                let a = self.current()?;
                events.push(DomainEvent::DemographicsConfirmed {
                    appointment_id: a.id.clone(),
                    patient_id: a.patient.id.clone(),
                    at: now,
                });
                events.extend(self.enter_insurance(now));
            }
            (Step::Demographics, Input::UpdateDemographics) => {
                self.step = Step::EditDemographics;
            }
            (Step::EditDemographics, Input::SubmitDemographics(proposed)) => {
                if proposed.phone.trim().is_empty() && proposed.address.line1.trim().is_empty() {
                    return Err(FlowError::Empty("the address and phone"));
                }
                let a = self.current()?;
                fields::check_demographics_change(&proposed, &a.patient.demographics)?;
                events.push(DomainEvent::DemographicsProposed {
                    appointment_id: a.id.clone(),
                    patient_id: a.patient.id.clone(),
                    proposed,
                    at: now,
                });
                events.push(self.flag(ReasonCode::DemographicsChanged, now));
                events.extend(self.enter_insurance(now));
            }
            (Step::Insurance, Input::InsuranceStillCorrect) => {
                // Nothing on file cannot be "still correct".
                if self.current()?.coverage.is_none() {
                    return Err(not_here(&Input::InsuranceStillCorrect, self.step));
                }
                events.extend(self.enter_copay(now));
            }
            (Step::Insurance, Input::InsuranceChanged) => self.step = Step::EditInsurance,
            (Step::EditInsurance, Input::SubmitCoverage(update)) => {
                if update.payer.trim().is_empty() {
                    return Err(FlowError::Empty("the insurance company"));
                }
                if update.member_id.trim().is_empty() {
                    return Err(FlowError::Empty("the member ID"));
                }
                fields::check_coverage_update(&update)?;
                let a = self.current()?;
                events.push(DomainEvent::CoverageProposed {
                    appointment_id: a.id.clone(),
                    patient_id: a.patient.id.clone(),
                    proposed: Some(update),
                    at: now,
                });
                events.push(self.flag(ReasonCode::InsuranceChanged, now));
                events.extend(self.enter_copay(now));
            }
            (Step::Insurance | Step::EditInsurance, Input::NoInsurance) => {
                let a = self.current()?;
                events.push(DomainEvent::CoverageProposed {
                    appointment_id: a.id.clone(),
                    patient_id: a.patient.id.clone(),
                    proposed: None,
                    at: now,
                });
                events.push(self.flag(ReasonCode::SelfPaySelected, now));
                self.self_pay = true;
                events.extend(self.enter_copay(now));
            }
            (step, input) => return Err(not_here(&input, step)),
        }
        Ok(events)
    }

    /// The co-pay, the payment link, the intake forms and a call for help.
    fn finish_visit(
        &mut self,
        input: Input,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, FlowError> {
        let mut events = Vec::new();
        match (self.step, input) {
            (Step::CoPay, Input::CoPay(choice)) => {
                match choice {
                    CoPayChoice::BillLater if !self.settings.allow_bill_later => {
                        return Err(FlowError::ChoiceNotOffered("bill me later"));
                    }
                    CoPayChoice::Phone if !self.settings.allow_pay_on_phone => {
                        return Err(FlowError::ChoiceNotOffered("pay on my phone"));
                    }
                    _ => {}
                }
                let a = self.current()?;
                events.push(DomainEvent::CoPayChosen {
                    appointment_id: a.id.clone(),
                    choice,
                    amount: a.expected_copay,
                    at: now,
                });
                self.copay_choice = Some(choice);
                if choice == CoPayChoice::Phone {
                    self.step = Step::PayOnPhone;
                } else {
                    events.extend(self.after_payment(now));
                }
            }
            (Step::PayOnPhone, Input::Continue) => events.extend(self.after_payment(now)),
            (Step::Forms, Input::Form(input)) => events = self.form_input(input, now)?,
            // Staff are with the patient: a new session, and no
            // `incomplete_checkin` about the one they took over.
            (Step::Help, Input::HelpAnswered) => *self = Self::new(self.settings.clone()),
            (Step::Help, Input::Continue) => {
                match self.help_return.take().unwrap_or(Step::Welcome) {
                    // Back to Welcome is a new session: nothing carries over.
                    Step::Welcome => events = self.reset(now),
                    back => self.step = back,
                }
            }
            (step, input) => return Err(not_here(&input, step)),
        }
        Ok(events)
    }

    /// Back, from every screen that offers it.
    fn back(&mut self, now: DateTime<Utc>) -> Result<Vec<DomainEvent>, FlowError> {
        let mut events = Vec::new();
        match self.step {
            Step::EditDemographics => self.step = Step::Demographics,
            // The first screen after a match: Back leaves the session, as
            // "Start over" would. The arrival stays recorded; nothing about
            // the patient carries over to the Welcome screen.
            Step::Demographics => events = self.reset(now),
            Step::EditInsurance => self.step = Step::Insurance,
            Step::EnterDob => {
                self.dob = None;
                self.step = Step::Welcome;
            }
            Step::EnterLastName => self.step = Step::EnterDob,
            Step::ChooseAppointment => {
                self.candidates.clear();
                self.step = Step::EnterLastName;
            }
            // Back to the contact details, even when they were skipped: the
            // patient may want to change them after all.
            Step::Insurance => {
                events.push(self.phi_shown(PhiShown::Demographics, now)?);
                self.demographics_skipped = false;
                self.step = Step::Demographics;
            }
            Step::CoPay => {
                // The answer on insurance is asked again.
                self.self_pay = false;
                self.copay_choice = None;
                if self.current()?.coverage.is_some() {
                    events.push(self.phi_shown(PhiShown::Coverage, now)?);
                }
                self.step = Step::Insurance;
            }
            Step::PayOnPhone => {
                self.copay_choice = None;
                self.step = Step::CoPay;
            }
            step => return Err(not_here(&Input::Back, step)),
        }
        Ok(events)
    }

    /// "Start over" or "Done": a new session.
    fn finish(&mut self, now: DateTime<Utc>) -> Result<Vec<DomainEvent>, FlowError> {
        match self.step {
            Step::Done
            | Step::SeeDesk(_)
            | Step::NotFound
            | Step::PassRejected(_)
            | Step::EnterDob
            | Step::EnterLastName
            | Step::ChooseAppointment => Ok(self.reset(now)),
            step => Err(not_here(&Input::Finish, step)),
        }
    }

    /// The audit event for showing `what` of the identified appointment.
    fn phi_shown(&self, what: PhiShown, now: DateTime<Utc>) -> Result<DomainEvent, FlowError> {
        Ok(DomainEvent::PhiShown {
            appointment_id: self.current()?.id.clone(),
            what,
            at: now,
        })
    }

    fn current(&self) -> Result<&Appointment, FlowError> {
        // Every step after identification holds an appointment; a missing
        // one means the input arrived on the wrong screen.
        self.appointment.as_ref().ok_or(FlowError::NotHere {
            input: "a check-in answer",
            step: self.step.as_str(),
        })
    }

    fn flag(&self, code: ReasonCode, now: DateTime<Utc>) -> DomainEvent {
        DomainEvent::Flag(FlagRaised {
            code,
            appointment_id: self.appointment.as_ref().map(|a| a.id.clone()),
            step: self.step,
            at: now,
            text: code.staff_text().to_string(),
        })
    }

    fn after_lookup(
        &mut self,
        mut found: Vec<Appointment>,
        now: DateTime<Utc>,
    ) -> Vec<DomainEvent> {
        match found.len() {
            0 => {
                self.failed_lookups += 1;
                if self.failed_lookups >= self.settings.max_failed_lookups {
                    let flag = self.flag(ReasonCode::IdentityNotFound, now);
                    self.help_return = Some(Step::Welcome);
                    self.step = Step::Help;
                    vec![flag]
                } else {
                    self.step = Step::NotFound;
                    Vec::new()
                }
            }
            1 => {
                let only = found.remove(0);
                self.identified(only, now)
            }
            _ => {
                let flag = self.flag(ReasonCode::MultipleMatches, now);
                let mut events = vec![flag];
                for a in &found {
                    events.push(DomainEvent::PhiShown {
                        appointment_id: a.id.clone(),
                        what: PhiShown::Identity,
                        at: now,
                    });
                }
                self.candidates = found;
                self.step = Step::ChooseAppointment;
                events
            }
        }
    }

    /// A patient is identified: record the arrival and run the rules before
    /// they do any work.
    fn identified(&mut self, appointment: Appointment, now: DateTime<Utc>) -> Vec<DomainEvent> {
        let outcome =
            self.settings
                .rules
                .check_arrival(&appointment, &self.settings.kiosk_location, now);
        self.appointment = Some(appointment);
        self.candidates.clear();
        self.dob = None;
        let a = self.appointment.as_ref().expect("just set");
        let id = a.id.clone();
        let mut events = vec![DomainEvent::PhiShown {
            appointment_id: id.clone(),
            what: PhiShown::Identity,
            at: now,
        }];
        // Someone at the wrong door, or for a closed appointment, has not
        // arrived for it; everyone else has, even if sent to the desk.
        let not_arrived = matches!(
            outcome.stop,
            Some(ReasonCode::WrongLocation | ReasonCode::AppointmentCancelled)
        ) || matches!(
            a.status,
            AppointmentStatus::CheckedIn | AppointmentStatus::Cancelled
        );
        if !not_arrived {
            events.push(DomainEvent::Arrived {
                appointment_id: id,
                at: now,
            });
            self.arrived = true;
        }
        for code in &outcome.flags {
            events.push(self.flag(*code, now));
        }
        if let Some(stop) = outcome.stop {
            self.step = Step::SeeDesk(stop);
            return events;
        }
        self.notices = outcome
            .flags
            .iter()
            .copied()
            .filter(|c| {
                matches!(
                    c,
                    ReasonCode::Late | ReasonCode::TooEarly | ReasonCode::WrongLocation
                )
            })
            .collect();
        events.extend(self.enter_demographics(now));
        events
    }

    fn enter_demographics(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        let Some(a) = self.appointment.as_ref() else {
            return Vec::new();
        };
        let window = Duration::days(i64::from(self.settings.demographics_skip_days));
        let recent = a
            .patient
            .demographics_confirmed_at
            .is_some_and(|at| at <= now && now - at <= window);
        if recent {
            self.demographics_skipped = true;
            return self.enter_insurance(now);
        }
        self.step = Step::Demographics;
        vec![DomainEvent::PhiShown {
            appointment_id: a.id.clone(),
            what: PhiShown::Demographics,
            at: now,
        }]
    }

    fn enter_insurance(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        self.step = Step::Insurance;
        let Some(a) = self.appointment.as_ref() else {
            return Vec::new();
        };
        let mut events = Vec::new();
        if a.coverage.is_some() {
            events.push(DomainEvent::PhiShown {
                appointment_id: a.id.clone(),
                what: PhiShown::Coverage,
                at: now,
            });
        }
        let day = a.local_day();
        if let Some(code) = check_coverage(a.coverage.as_ref(), day) {
            events.push(self.flag(code, now));
        }
        events
    }

    fn enter_copay(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        let Some(a) = self.appointment.as_ref() else {
            return Vec::new();
        };
        if !a.expected_copay.is_positive() && !self.self_pay {
            return self.after_payment(now);
        }
        let id = a.id.clone();
        self.step = Step::CoPay;
        vec![DomainEvent::PhiShown {
            appointment_id: id,
            what: PhiShown::CoPay,
            at: now,
        }]
    }

    /// After the payment step (or Insurance, when nothing is due): the
    /// intake forms when any is due, else Done.
    fn after_payment(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        if self.forms.as_ref().is_some_and(|f| !f.on_thank_you()) {
            self.forms_return = Some(self.step);
            self.step = Step::Forms;
            return Vec::new();
        }
        self.finish_checkin(now)
    }

    /// One input on a form page: each form completed becomes an event; the
    /// thank-you page records the check-in; Back from the first page
    /// returns to the step before the forms.
    fn form_input(
        &mut self,
        input: FormInput,
        now: DateTime<Utc>,
    ) -> Result<Vec<DomainEvent>, FlowError> {
        let language = self.language;
        let (appointment_id, patient_id) = {
            let a = self.current()?;
            (a.id.clone(), a.patient.id.clone())
        };
        let session = self.forms.as_mut().ok_or(FlowError::NotHere {
            input: "a form answer",
            step: "forms",
        })?;
        let outcome = session.handle(input, language)?;
        let mut events: Vec<DomainEvent> = outcome
            .completed
            .into_iter()
            .map(|c| DomainEvent::FormCompleted {
                appointment_id: appointment_id.clone(),
                patient_id: patient_id.clone(),
                completed: Box::new(c),
                at: now,
            })
            .collect();
        match outcome.moved {
            Moved::Stay => {}
            Moved::ThankYou => {
                // Everything is answered: the check-in is complete, though
                // the thank-you page still shows.
                let done = self.finish_checkin(now);
                self.step = Step::Forms;
                events.extend(done);
            }
            Moved::Finished => self.step = Step::Done,
            Moved::Out => events.extend(self.leave_forms_back(now)?),
        }
        Ok(events)
    }

    /// Back out of the forms' first page, to the step before them.
    fn leave_forms_back(&mut self, now: DateTime<Utc>) -> Result<Vec<DomainEvent>, FlowError> {
        let mut events = Vec::new();
        match self.forms_return.take().unwrap_or(Step::Insurance) {
            Step::PayOnPhone => self.step = Step::PayOnPhone,
            Step::CoPay => {
                self.copay_choice = None;
                self.step = Step::CoPay;
            }
            _ => {
                // As Back from the co-pay: the answer on insurance is asked again.
                self.self_pay = false;
                self.copay_choice = None;
                if self.current()?.coverage.is_some() {
                    events.push(self.phi_shown(PhiShown::Coverage, now)?);
                }
                self.step = Step::Insurance;
            }
        }
        Ok(events)
    }

    fn finish_checkin(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        self.step = Step::Done;
        let Some(a) = self.appointment.as_ref() else {
            return Vec::new();
        };
        self.checked_in = true;
        vec![DomainEvent::CheckedIn {
            appointment_id: a.id.clone(),
            at: now,
        }]
    }

    fn help(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        self.idle_warning = false;
        if self.step == Step::Help {
            // Already asked; a second press must not queue a second flag.
            return Vec::new();
        }
        self.help_return = Some(self.step);
        let flag = self.flag(ReasonCode::HelpRequested, now);
        self.step = Step::Help;
        vec![flag]
    }

    /// Clears the session back to Welcome; an identified patient who did not
    /// finish is flagged `incomplete_checkin`.
    fn reset(&mut self, now: DateTime<Utc>) -> Vec<DomainEvent> {
        let mut events = Vec::new();
        let stopped = matches!(self.step, Step::SeeDesk(_))
            || self
                .help_return
                .is_some_and(|s| matches!(s, Step::SeeDesk(_)));
        if self.arrived && !self.checked_in && !stopped {
            events.push(self.flag(ReasonCode::IncompleteCheckin, now));
        }
        *self = Self::new(self.settings.clone());
        events
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
