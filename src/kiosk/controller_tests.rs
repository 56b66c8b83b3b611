//! Plain tests of the `CheckInController`: every action and screen, driven
//! through an in-memory repository and a fixed clock, with no window.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, TimeZone};

use super::*;
use crate::domain::Field;
use crate::domain::testkit::{TZ, appointment};
use crate::domain::{
    AppointmentStatus, Currency, FixedClock, LocationId, MatchOutcome, match_appointments,
};
use crate::pass::{PassClaims, PassSigner};

/// What the fake repository was asked to do, shared with the test.
#[derive(Debug, Default)]
struct Ledger {
    /// One entry per committed step, in order.
    steps: Vec<Vec<DomainEvent>>,
    /// The client event ids handed out for each step's events.
    ids: Vec<Vec<Uuid>>,
    /// How many lookups reached the repository.
    lookups: usize,
    /// When set, `record` fails as a full or broken disk would.
    fail_record: bool,
    /// When set, reads (`appointment`, `lookup`) fail.
    fail_read: bool,
    /// The intake forms due, by appointment id.
    forms: Vec<(String, FormSet)>,
    /// When set, reading the forms fails.
    fail_forms: bool,
}

/// The schedule in a `Vec`, matched as the store matches it.
struct FakeRepo {
    /// Today's cached appointments.
    appointments: Vec<Appointment>,
    /// What was recorded, and the failure switches.
    ledger: Rc<RefCell<Ledger>>,
}

fn broken() -> ControllerError {
    ControllerError::Storage("the disk is full".into())
}

impl CheckInRepository for FakeRepo {
    fn appointment(&self, id: &AppointmentId) -> Result<Option<Appointment>, ControllerError> {
        if self.ledger.borrow().fail_read {
            return Err(broken());
        }
        Ok(self.appointments.iter().find(|a| &a.id == id).cloned())
    }

    fn lookup(
        &self,
        query: &LookupQuery,
        prefix_len: usize,
    ) -> Result<Vec<Appointment>, ControllerError> {
        let mut ledger = self.ledger.borrow_mut();
        ledger.lookups += 1;
        if ledger.fail_read {
            return Err(broken());
        }
        Ok(
            match match_appointments(&self.appointments, query, prefix_len)? {
                MatchOutcome::None => Vec::new(),
                MatchOutcome::One(a) => vec![a.clone()],
                MatchOutcome::Several(found) => found.into_iter().cloned().collect(),
            },
        )
    }

    fn record(
        &mut self,
        events: &[DomainEvent],
        _now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, ControllerError> {
        let mut ledger = self.ledger.borrow_mut();
        if ledger.fail_record {
            return Err(broken());
        }
        let step = ledger.steps.len() as u128;
        let ids: Vec<Uuid> = (0..events.len() as u128)
            .map(|i| Uuid::from_u128(step * 1000 + i + 1))
            .collect();
        ledger.steps.push(events.to_vec());
        ledger.ids.push(ids.clone());
        Ok(ids)
    }

    fn forms_for(&self, appointment: &AppointmentId) -> Result<FormSet, ControllerError> {
        let ledger = self.ledger.borrow();
        if ledger.fail_forms {
            return Err(broken());
        }
        Ok(ledger
            .forms
            .iter()
            .find(|(id, _)| id == appointment.as_str())
            .map(|(_, set)| set.clone())
            .unwrap_or_default())
    }
}

/// 09:55 local on the test day: five minutes before Maria's appointment.
fn now() -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2026, 3, 2, 9, 55, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn maria() -> Appointment {
    appointment("a1", "Maria", "Garcia", (1980, 5, 17), 10, 0)
}

/// Today's schedule: Maria, twins, a short name, and the rule cases.
fn schedule() -> Vec<Appointment> {
    let mut late = appointment("late", "Omar", "Haddad", (1985, 1, 9), 9, 30);
    late.prior_balance = Money::new(1250, Currency::USD);
    let mut no_cover = appointment("nocov", "Ana", "Lopez", (1990, 2, 3), 10, 0);
    no_cover.coverage = None;
    let mut lapsed = appointment("lapsed", "Ben", "Okafor", (1991, 4, 5), 10, 0);
    if let Some(c) = lapsed.coverage.as_mut() {
        c.valid_to = NaiveDate::from_ymd_opt(2025, 12, 31);
    }
    let mut free = appointment("free", "Cleo", "Moss", (1992, 6, 7), 10, 0);
    free.expected_copay = Money::zero(Currency::USD);
    let mut confirmed = appointment("seen", "Dee", "Park", (1993, 8, 9), 10, 0);
    confirmed.patient.demographics_confirmed_at = Some(now() - Duration::days(2));
    let mut elsewhere = appointment("c2-appt", "Eve", "Stone", (1994, 10, 11), 10, 0);
    elsewhere.clinic_id = ClinicId("c2".into());
    let mut done = appointment("done", "Finn", "Wolfe", (1995, 12, 13), 10, 0);
    done.status = AppointmentStatus::CheckedIn;
    let mut blank = appointment("blank", "Gus", "Vale", (1996, 2, 14), 10, 0);
    blank.patient.demographics.address.line1.clear();
    blank.patient.demographics.phone.clear();
    let mut flat = appointment("flat", "Ida", "Moreno", (1997, 3, 15), 10, 0);
    flat.patient.demographics.address.line2 = "Apt 4".into();
    let mut alone = appointment("alone", "Jo", "Quinn", (1998, 5, 20), 10, 0);
    alone.patient.demographics.emergency_contact = None;
    vec![
        maria(),
        appointment("t-late", "Luis", "Rivera", (2010, 3, 4), 10, 30),
        appointment("t-early", "Lucia", "Rivera", (2010, 3, 4), 10, 15),
        appointment("ng", "Kim", "Ng", (1970, 7, 7), 10, 0),
        appointment("soon", "Tom", "Early", (1960, 1, 1), 11, 30),
        late,
        no_cover,
        lapsed,
        free,
        confirmed,
        elsewhere,
        done,
        blank,
        flat,
        alone,
    ]
}

/// The form fields the tests name; selected through [`select`].
const STREET: DemographicsField = DemographicsField::Street;
const CITY: DemographicsField = DemographicsField::City;
const STATE: DemographicsField = DemographicsField::State;
const ZIP: DemographicsField = DemographicsField::Zip;
const PHONE: DemographicsField = DemographicsField::Phone;
const EMAIL: DemographicsField = DemographicsField::Email;
const APARTMENT: DemographicsField = DemographicsField::Apartment;
const CONTACT_NAME: DemographicsField = DemographicsField::ContactName;
const CONTACT_PHONE: DemographicsField = DemographicsField::ContactPhone;
const RELATION: DemographicsField = DemographicsField::ContactRelation;
const PAYER: InsuranceField = InsuranceField::Payer;
const MEMBER_ID: InsuranceField = InsuranceField::MemberId;
const GROUP: InsuranceField = InsuranceField::Group;

/// Selects a field of the form on screen. The only place that builds
/// `UiAction::EditSelect`.
fn select(field: impl Into<FormField>) -> UiAction {
    UiAction::EditSelect(field.into())
}

fn typed(text: &str) -> UiAction {
    UiAction::EditTyped(text.to_string())
}

fn context() -> KioskContext {
    let mut flow = FlowSettings::with_location(LocationId("main".into()));
    flow.allow_bill_later = true;
    KioskContext {
        clinic_id: ClinicId("c1".into()),
        clinic_name: "Riverside Family Clinic".into(),
        time_zone: TZ,
        payment_link: Some("https://pay.example.org/p/{reference}".into()),
        flow,
        self_pay: None,
        clock_24h: false,
    }
}

/// A controller on the fake repository, and the handles a test looks through.
struct Kiosk {
    controller: CheckInController<FakeRepo>,
    clock: Arc<FixedClock>,
    ledger: Rc<RefCell<Ledger>>,
    commits: Arc<AtomicUsize>,
    signer: PassSigner,
}

impl Kiosk {
    fn new() -> Self {
        Self::build(context(), LookupThrottle::standard(), true)
    }

    fn with(tweak: impl FnOnce(&mut KioskContext)) -> Self {
        let mut ctx = context();
        tweak(&mut ctx);
        Self::build(ctx, LookupThrottle::standard(), true)
    }

    fn build(context: KioskContext, throttle: LookupThrottle, enrolled: bool) -> Self {
        let ledger = Rc::new(RefCell::new(Ledger::default()));
        let clock = Arc::new(FixedClock::new(now()));
        let signer = PassSigner::from_seed(&[7; 32]);
        let repo = FakeRepo {
            appointments: schedule(),
            ledger: ledger.clone(),
        };
        let verifier = enrolled.then(|| signer.verifier());
        let mut controller =
            CheckInController::new(repo, context, verifier, clock.clone(), throttle);
        let commits = Arc::new(AtomicUsize::new(0));
        let counter = commits.clone();
        controller.on_commit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        Self {
            controller,
            clock,
            ledger,
            commits,
            signer,
        }
    }

    /// An action the screen takes; panics if the controller refuses it.
    fn act(&mut self, action: UiAction) {
        let shown = format!("{action:?}");
        if let Err(e) = self.controller.handle(action) {
            panic!("{shown} on {:?}: {e}", self.controller.step());
        }
    }

    fn acts(&mut self, actions: impl IntoIterator<Item = UiAction>) {
        for a in actions {
            self.act(a);
        }
    }

    fn view(&self) -> ViewModel {
        self.controller.view()
    }

    fn screen(&self) -> Screen {
        self.view().screen
    }

    fn steps(&self) -> Vec<Vec<DomainEvent>> {
        self.ledger.borrow().steps.clone()
    }

    /// The kinds of every recorded event, step by step.
    fn kinds(&self) -> Vec<Vec<&'static str>> {
        self.steps().iter().map(|s| kinds(s)).collect()
    }

    fn flags(&self) -> Vec<ReasonCode> {
        self.steps().iter().flat_map(|s| flags(s)).collect()
    }

    /// The client event id of the last recorded flag.
    fn last_flag_id(&self) -> Uuid {
        let ledger = self.ledger.borrow();
        ledger
            .steps
            .iter()
            .zip(&ledger.ids)
            .flat_map(|(events, ids)| events.iter().zip(ids))
            .filter(|(e, _)| matches!(e, DomainEvent::Flag(_)))
            .map(|(_, id)| *id)
            .next_back()
            .expect("a flag was recorded")
    }

    fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }

    fn type_dob(&mut self, digits: &str) {
        for d in digits.chars() {
            self.act(UiAction::DobDigit(d));
        }
    }

    /// Welcome → keypad → letters → "Find my appointment".
    fn dob_path(&mut self, digits: &str, letters: &str) {
        self.act(UiAction::UseDob);
        self.dob_path_again(digits, letters);
    }

    /// The keypad and letters again, from the keypad screen, replacing
    /// what is still typed there.
    fn dob_path_again(&mut self, digits: &str, letters: &str) {
        assert_eq!(self.screen(), Screen::EnterDob);
        self.act(UiAction::DobClear);
        self.type_dob(digits);
        self.act(UiAction::DobSubmit);
        while !self.view().name_letters.is_empty() {
            self.act(UiAction::NameErase);
        }
        self.act(UiAction::NameLetter(letters.to_string()));
        self.act(UiAction::NameSubmit);
    }

    fn pass(&self, clinic: &str, id: &str, expires_in: Duration) -> String {
        self.signer
            .sign(&PassClaims {
                clinic_id: ClinicId(clinic.into()),
                appointment_id: AppointmentId(id.into()),
                expires_at: (now() + expires_in).timestamp(),
            })
            .unwrap()
    }

    fn scan(&mut self, pass: &str) {
        self.act(UiAction::KeyInput(format!("{pass}\n")));
    }

    /// Maria, identified by pass, on Demographics.
    fn maria_scanned() -> Self {
        let mut k = Self::new();
        let pass = k.pass("c1", "a1", Duration::hours(1));
        k.scan(&pass);
        assert_eq!(
            (k.screen(), k.view().progress, k.view().progress_steps),
            (Screen::Demographics, 1, 3)
        );
        k
    }

    /// Maria on Insurance.
    fn maria_at_insurance() -> Self {
        let mut k = Self::maria_scanned();
        k.act(UiAction::DemographicsCorrect);
        k
    }

    /// Maria on Co-pay.
    fn maria_at_copay() -> Self {
        let mut k = Self::maria_at_insurance();
        k.act(UiAction::InsuranceStillCorrect);
        assert_eq!(k.screen(), Screen::CoPay);
        k
    }
}

fn kinds(events: &[DomainEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            DomainEvent::Arrived { .. } => "arrived",
            DomainEvent::CheckedIn { .. } => "checked_in",
            DomainEvent::Flag(_) => "flag",
            DomainEvent::DemographicsConfirmed { .. } => "demographics_confirmed",
            DomainEvent::DemographicsProposed { .. } => "demographics_proposed",
            DomainEvent::CoverageProposed { .. } => "coverage_proposed",
            DomainEvent::CoPayChosen { .. } => "copay_chosen",
            DomainEvent::PhiShown { .. } => "phi_shown",
            DomainEvent::FormCompleted { .. } => "form_completed",
        })
        .collect()
}

fn flags(events: &[DomainEvent]) -> Vec<ReasonCode> {
    events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::Flag(f) => Some(f.code),
            _ => None,
        })
        .collect()
}

/// The view of a controller that has seen nothing.
fn fresh_view() -> ViewModel {
    Kiosk::new().view()
}

// ---- the scanner and passes ----

#[test]
fn a_scanner_burst_is_one_scan_when_enter_comes() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "a1", Duration::hours(1));
    for c in pass.chars() {
        k.act(UiAction::KeyInput(c.to_string()));
    }
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(k.steps().is_empty());
    k.act(UiAction::KeyInput("\r".into()));
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!(v.identity.unwrap().name, "Maria G.");
    assert_eq!(k.kinds(), vec![vec!["phi_shown", "arrived", "phi_shown"]]);
}

#[test]
fn a_scan_timeout_drops_the_partial_burst() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.act(UiAction::KeyInput("CK1.noise".into()));
    k.act(UiAction::ScanTimeout);
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);

    // Without the timeout the noise and the pass run together.
    let mut k = Kiosk::new();
    k.act(UiAction::KeyInput("CK1.noise".into()));
    k.scan(&pass);
    let v = k.view();
    assert_eq!(v.screen, Screen::PassRejected);
    assert_eq!(v.pass_problem, Some(PassProblem::Malformed));
    assert_eq!(k.flags(), vec![ReasonCode::PassInvalid]);
}

#[test]
fn a_scan_counts_only_while_the_patient_identifies() {
    let mut k = Kiosk::maria_scanned();
    let before = k.view();
    let other = k.pass("c1", "ng", Duration::hours(1));
    k.scan(&other);
    assert_eq!(k.view(), before);
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn a_pass_is_accepted_from_the_keypad_and_letter_screens() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.act(UiAction::UseDob);
    k.type_dob("0517");
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    assert_eq!(k.view().identity.unwrap().name, "Maria G.");
}

fn refused(k: &mut Kiosk, pass: &str, problem: PassProblem) {
    k.scan(pass);
    let v = k.view();
    assert_eq!(v.screen, Screen::PassRejected, "{problem:?}");
    assert_eq!(v.pass_problem, Some(problem));
    assert_eq!(v.identity, None);
    assert_eq!(v.progress, 0);
    assert_eq!(k.flags(), vec![ReasonCode::PassInvalid], "{problem:?}");
    assert_eq!(k.commits(), 1);
}

#[test]
fn a_pass_for_another_clinic_is_refused() {
    let mut k = Kiosk::new();
    let pass = k.pass("c2", "c2-appt", Duration::hours(1));
    refused(&mut k, &pass, PassProblem::WrongClinic);
}

#[test]
fn an_expired_pass_is_refused_and_offers_the_keypad() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "a1", Duration::minutes(-1));
    refused(&mut k, &pass, PassProblem::Expired);
    k.act(UiAction::UseDob);
    assert_eq!(k.screen(), Screen::EnterDob);
    assert_eq!(k.view().pass_problem, None);
}

#[test]
fn a_pass_for_an_appointment_not_in_the_schedule_is_refused() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "nobody", Duration::hours(1));
    refused(&mut k, &pass, PassProblem::UnknownAppointment);
    // Signed for this clinic, but the cached appointment is another clinic's.
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "c2-appt", Duration::hours(1));
    refused(&mut k, &pass, PassProblem::UnknownAppointment);
}

#[test]
fn a_forged_pass_is_refused() {
    let mut k = Kiosk::new();
    let forged = PassSigner::from_seed(&[9; 32])
        .sign(&PassClaims {
            clinic_id: ClinicId("c1".into()),
            appointment_id: AppointmentId("a1".into()),
            expires_at: (now() + Duration::hours(1)).timestamp(),
        })
        .unwrap();
    refused(&mut k, &forged, PassProblem::BadSignature);
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn without_a_verifier_every_pass_is_refused() {
    let mut k = Kiosk::build(context(), LookupThrottle::standard(), false);
    let pass = k.pass("c1", "a1", Duration::hours(1));
    refused(&mut k, &pass, PassProblem::BadSignature);
}

// ---- the date-of-birth keypad ----

#[test]
fn the_keypad_types_erases_clears_and_stops_at_eight_digits() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    assert_eq!(k.screen(), Screen::EnterDob);
    assert_eq!(k.view().dob_display, "MM / DD / YYYY");
    k.type_dob("051");
    k.act(UiAction::DobDigit('x'));
    let v = k.view();
    assert_eq!(v.dob_digits, "051");
    assert_eq!(v.dob_display, "05 / 1D / YYYY");
    k.act(UiAction::DobErase);
    assert_eq!(k.view().dob_digits, "05");
    k.act(UiAction::DobClear);
    assert_eq!(k.view().dob_digits, "");
    k.act(UiAction::DobErase);
    assert_eq!(k.view().dob_digits, "");
    k.type_dob("0517198099");
    let v = k.view();
    assert_eq!(v.dob_digits, "05171980");
    assert_eq!(v.dob_display, "05 / 17 / 1980");
    assert!(k.steps().is_empty());
}

fn dob_problem(digits: &str) -> Option<DobProblem> {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    k.type_dob(digits);
    k.act(UiAction::DobSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::EnterDob, "{digits}");
    assert_eq!(v.dob_digits, digits);
    assert!(k.steps().is_empty());
    v.dob_problem
}

#[test]
fn each_bad_date_shows_its_own_problem_and_stays() {
    assert_eq!(dob_problem(""), Some(DobProblem::Incomplete));
    assert_eq!(dob_problem("0517198"), Some(DobProblem::Incomplete));
    assert_eq!(dob_problem("13011980"), Some(DobProblem::Month));
    assert_eq!(dob_problem("00011980"), Some(DobProblem::Month));
    assert_eq!(dob_problem("02301980"), Some(DobProblem::Day));
    assert_eq!(dob_problem("04311980"), Some(DobProblem::Day));
    assert_eq!(dob_problem("02292001"), Some(DobProblem::Day));
    assert_eq!(dob_problem("01011899"), Some(DobProblem::Year));
    // Tomorrow in the clinic's zone.
    assert_eq!(dob_problem("03032026"), Some(DobProblem::Future));
}

#[test]
fn a_leap_day_and_today_are_accepted() {
    for digits in ["02292000", "03022026"] {
        let mut k = Kiosk::new();
        k.act(UiAction::UseDob);
        k.type_dob(digits);
        k.act(UiAction::DobSubmit);
        let v = k.view();
        assert_eq!(v.screen, Screen::EnterName, "{digits}");
        assert_eq!(v.dob_problem, None);
    }
    let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    assert_eq!(
        parse_dob("02292000", today),
        Ok(NaiveDate::from_ymd_opt(2000, 2, 29).unwrap())
    );
    assert_eq!(parse_dob("0229200a", today), Err(DobProblem::Incomplete));
}

#[test]
fn typing_after_a_problem_clears_it() {
    for fix in [
        UiAction::DobDigit('1'),
        UiAction::DobErase,
        UiAction::DobClear,
    ] {
        let mut k = Kiosk::new();
        k.act(UiAction::UseDob);
        k.type_dob("1301198");
        k.act(UiAction::DobSubmit);
        assert_eq!(k.view().dob_problem, Some(DobProblem::Incomplete));
        k.act(fix.clone());
        assert_eq!(k.view().dob_problem, None, "{fix:?}");
    }
}

#[test]
fn back_from_the_keypad_and_the_letters() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    k.act(UiAction::NameLetter("GA".into()));
    k.act(UiAction::Back);
    let v = k.view();
    assert_eq!(v.screen, Screen::EnterDob);
    assert_eq!(v.dob_digits, "05171980");
    assert_eq!(v.name_letters, "");
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::Welcome);
    k.act(UiAction::UseDob);
    assert_eq!(k.view().dob_digits, "");
    assert!(k.steps().is_empty());
}

// ---- the last-name letters ----

#[test]
fn letters_are_uppercased_control_keys_dropped_and_twenty_kept() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    assert_eq!(k.screen(), Screen::EnterName);
    assert_eq!(k.view().name_prefix_len, 3);
    k.act(UiAction::NameLetter("g\u{8}a\tr'".into()));
    assert_eq!(k.view().name_letters, "GAR'");
    k.act(UiAction::NameErase);
    assert_eq!(k.view().name_letters, "GAR");
    k.act(UiAction::NameLetter("c".repeat(30)));
    let letters = k.view().name_letters;
    assert_eq!(letters.chars().count(), 20);
    assert_eq!(letters, format!("GAR{}", "C".repeat(17)));
}

#[test]
fn too_few_letters_is_a_typing_problem_not_a_miss() {
    let mut k = Kiosk::new();
    k.dob_path("05171980", "G");
    let v = k.view();
    assert_eq!(v.screen, Screen::EnterName);
    assert_eq!(v.name_problem, Some(NameProblem::TooShort));
    assert_eq!(v.not_found.attempts_left, 3);
    k.act(UiAction::NameErase);
    assert_eq!(k.view().name_problem, None);
    k.act(UiAction::NameLetter("'-".into()));
    k.act(UiAction::NameSubmit);
    assert_eq!(k.view().name_problem, Some(NameProblem::TooShort));
    k.act(UiAction::NameLetter("X".into()));
    assert_eq!(k.view().name_problem, None);
    assert!(k.steps().is_empty());
    assert_eq!(k.commits(), 0);
}

#[test]
fn a_short_last_name_is_typed_in_full() {
    let mut k = Kiosk::new();
    k.dob_path("07071970", "ng");
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!(v.identity.unwrap().name, "Kim N.");
}

#[test]
fn a_miss_offers_try_again_and_the_third_calls_for_help() {
    let mut k = Kiosk::new();
    k.dob_path("05171980", "GOM");
    let v = k.view();
    assert_eq!(v.screen, Screen::NotFound);
    assert_eq!(v.not_found.attempts_left, 2);
    assert!(k.steps().is_empty());
    assert_eq!(k.commits(), 0);
    assert_eq!(
        (v.not_found.dob.as_str(), v.not_found.letters.as_str()),
        ("05 / 17 / ••80", "GOM"),
        "what was typed, the year masked"
    );
    k.act(UiAction::TryAgain);
    let v = k.view();
    assert_eq!(v.screen, Screen::EnterDob);
    assert_eq!(
        (v.dob_digits.as_str(), v.name_letters.as_str()),
        ("05171980", "GOM"),
        "try again keeps what was typed"
    );
    k.act(UiAction::DobSubmit);
    assert_eq!(k.view().name_letters, "GOM");
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::EnterDob);
    k.dob_path_again("05171980", "GOM");
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GOM");
    let v = k.view();
    assert_eq!(v.screen, Screen::Help);
    assert_eq!(v.not_found.attempts_left, 0);
    assert!(!v.help_can_resume);
    assert_eq!(k.flags(), vec![ReasonCode::IdentityNotFound]);
    k.act(UiAction::Resume);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn finish_on_not_found_starts_over() {
    let mut k = Kiosk::new();
    k.dob_path("05171980", "GOM");
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn repeated_misses_make_the_next_lookup_wait() {
    let mut ctx = context();
    ctx.flow.max_failed_lookups = 10;
    let throttle = LookupThrottle::new(
        1,
        Duration::minutes(1),
        Duration::seconds(2),
        Duration::seconds(60),
    );
    let mut k = Kiosk::build(ctx, throttle, true);
    k.dob_path("05171980", "GOM");
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GOM");
    assert_eq!(k.ledger.borrow().lookups, 2);
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GAR");
    let v = k.view();
    assert_eq!(v.screen, Screen::EnterName);
    assert_eq!(v.name_problem, Some(NameProblem::Wait));
    assert_eq!(v.name_wait_seconds, 2);
    assert_eq!(k.ledger.borrow().lookups, 2);
    k.clock.advance(Duration::milliseconds(1500));
    assert_eq!(k.view().name_wait_seconds, 1);
    k.act(UiAction::NameSubmit);
    assert_eq!(k.view().name_problem, Some(NameProblem::Wait));
    assert_eq!(k.ledger.borrow().lookups, 2);
    k.clock.advance(Duration::milliseconds(500));
    k.act(UiAction::NameSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!((v.name_problem, v.name_wait_seconds), (None, 0));
    assert_eq!(k.ledger.borrow().lookups, 3);
}

#[test]
fn an_idle_reset_forgets_the_wait_on_screen() {
    let throttle = LookupThrottle::new(
        0,
        Duration::minutes(1),
        Duration::seconds(8),
        Duration::seconds(60),
    );
    let mut k = Kiosk::build(context(), throttle, true);
    k.dob_path("05171980", "GOM");
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GAR");
    assert_eq!(k.view().name_wait_seconds, 8);
    let _ = k.controller.handle(UiAction::IdleTimeout);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn twins_choose_by_time_and_clinician_only() {
    let mut k = Kiosk::new();
    k.dob_path("03042010", "RIV");
    let v = k.view();
    assert_eq!(v.screen, Screen::Choose);
    assert_eq!(v.progress, 1);
    assert_eq!(v.identity, None);
    let times: Vec<(&str, &str)> = v
        .choices
        .iter()
        .map(|c| (c.time.as_str(), c.clinician.as_str()))
        .collect();
    assert_eq!(
        times,
        vec![("10:15 AM", "Dr. Patel"), ("10:30 AM", "Dr. Patel")]
    );
    assert_eq!(k.flags(), vec![ReasonCode::MultipleMatches]);
    assert_eq!(k.kinds(), vec![vec!["flag", "phi_shown", "phi_shown"]]);
    let err = k.controller.handle(UiAction::Choose(2)).unwrap_err();
    assert!(matches!(
        err,
        ControllerError::Flow(FlowError::NoSuchChoice(2))
    ));
    assert_eq!(k.view(), v);
    k.act(UiAction::Choose(1));
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!(v.choices, vec![]);
    let id = v.identity.unwrap();
    assert_eq!(
        (id.name.as_str(), id.time.as_str()),
        ("Luis R.", "10:30 AM")
    );
    assert_eq!(k.commits(), 2);
}

#[test]
fn finish_on_the_choice_starts_over() {
    let mut k = Kiosk::new();
    k.dob_path("03042010", "RIV");
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
}

// ---- demographics ----

#[test]
fn demographics_correct_moves_to_insurance() {
    let mut k = Kiosk::maria_scanned();
    k.act(UiAction::DemographicsCorrect);
    let v = k.view();
    assert_eq!(v.screen, Screen::Insurance);
    assert_eq!((v.progress, v.progress_steps), (2, 3));
    assert_eq!(k.kinds()[1], vec!["demographics_confirmed", "phi_shown"]);
}

#[test]
fn demographics_confirmed_lately_are_not_asked_again() {
    let mut k = Kiosk::new();
    k.dob_path("08091993", "PAR");
    assert_eq!(k.screen(), Screen::Insurance);
}

fn editing_demographics() -> Kiosk {
    let mut k = Kiosk::maria_scanned();
    k.act(UiAction::DemographicsUpdate);
    assert_eq!(k.screen(), Screen::EditDemographics);
    assert_eq!(k.view().progress, 1);
    assert_eq!(k.view().edit_demographics, EditDemographicsView::default());
    k
}

#[test]
fn each_demographics_field_keeps_to_its_length() {
    let mut k = editing_demographics();
    let limits = [
        (STREET, 80),
        (CITY, 40),
        (STATE, 2),
        (ZIP, 10),
        (PHONE, 20),
        (APARTMENT, 40),
        (CONTACT_NAME, 80),
        (CONTACT_PHONE, 20),
        (RELATION, 40),
        (EMAIL, 80),
    ];
    for (field, limit) in limits {
        k.act(select(field));
        k.act(typed(&"7".repeat(limit + 5)));
        let v = k.view().edit_demographics;
        assert_eq!(v.active, field);
        assert_eq!(v.fields[field].chars().count(), limit, "field {field:?}");
    }
    // A field of the other form does nothing here.
    k.act(select(GROUP));
    assert_eq!(k.view().edit_demographics.active, EMAIL);
    k.act(UiAction::EditErase);
    assert_eq!(k.view().edit_demographics.fields[EMAIL].len(), 79);
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn typing_drops_control_characters_and_erase_works_on_the_active_field() {
    let mut k = editing_demographics();
    k.act(select(PHONE));
    k.act(typed("541\u{7}-555\n"));
    k.act(select(ZIP));
    k.act(typed("974"));
    k.act(UiAction::EditErase);
    let v = k.view().edit_demographics;
    assert_eq!(v.fields[PHONE], "541-555");
    assert_eq!(v.fields[ZIP], "97");
}

#[test]
fn saving_an_empty_form_asks_for_something() {
    let mut k = editing_demographics();
    k.act(typed("   "));
    k.act(UiAction::EditSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::EditDemographics);
    assert_eq!(v.edit_demographics.problem, Some(EditProblem::NothingTyped));
    k.act(typed("1"));
    assert_eq!(k.view().edit_demographics.problem, None);
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn with_no_street_or_phone_on_file_one_of_them_is_asked_for() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "blank", Duration::hours(1));
    k.scan(&pass);
    k.act(UiAction::DemographicsUpdate);
    k.act(select(CITY));
    k.act(typed("SALEM"));
    let before = k.steps().len();
    k.act(UiAction::EditSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::EditDemographics);
    assert_eq!(
        v.edit_demographics.problem,
        Some(EditProblem::NeedStreetOrPhone)
    );
    assert_eq!(k.steps().len(), before, "nothing recorded");
    k.act(select(PHONE));
    k.act(typed("2125550123"));
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::Insurance);
}

#[test]
fn a_broken_field_rule_keeps_the_patient_on_that_field() {
    let mut k = editing_demographics();
    k.act(select(PHONE));
    k.act(typed("555-0123"));
    k.act(select(STREET));
    k.act(typed("12 Oak St"));
    let commits = k.commits();
    k.act(UiAction::EditSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::EditDemographics);
    assert_eq!(
        v.edit_demographics.problem,
        Some(EditProblem::Invalid(Field::Phone))
    );
    assert_eq!(v.edit_demographics.active, PHONE);
    assert_eq!(v.edit_demographics.fields[STREET], "12 Oak St");
    assert_eq!((k.steps().len(), k.commits()), (1, commits));
    k.act(UiAction::EditErase);
    assert_eq!(k.view().edit_demographics.problem, None);
}

#[test]
fn a_bad_state_is_refused_on_the_state_field() {
    let mut k = editing_demographics();
    k.act(select(STATE));
    k.act(typed("Q1"));
    k.act(select(EMAIL));
    k.act(UiAction::EditSubmit);
    let v = k.view().edit_demographics;
    assert_eq!(v.problem, Some(EditProblem::Invalid(Field::State)));
    assert_eq!(v.active, STATE);
}

#[test]
fn updated_demographics_are_proposed_with_the_rest_as_on_file() {
    let mut k = editing_demographics();
    k.act(select(STREET));
    k.act(typed(" 12 Oak St "));
    k.act(select(PHONE));
    k.act(typed("(541) 555-0100"));
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::Insurance);
    assert_eq!(
        k.kinds()[1],
        vec!["demographics_proposed", "flag", "phi_shown"]
    );
    assert_eq!(k.flags(), vec![ReasonCode::DemographicsChanged]);
    let DomainEvent::DemographicsProposed { proposed, .. } = &k.steps()[1][0] else {
        panic!("not a proposal");
    };
    let mut expected = maria().patient.demographics;
    expected.address.line1 = "12 Oak St".into();
    expected.phone = "(541) 555-0100".into();
    assert_eq!(proposed, &expected);
}

/// The patient with appointment `id`, scanned in and on the edit form.
fn editing_for(id: &str) -> Kiosk {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", id, Duration::hours(1));
    k.scan(&pass);
    k.act(UiAction::DemographicsUpdate);
    assert_eq!(k.screen(), Screen::EditDemographics);
    k
}

/// The demographics of the last proposal recorded.
fn last_proposal(k: &Kiosk) -> Demographics {
    k.steps()
        .iter()
        .flatten()
        .rev()
        .find_map(|e| match e {
            DomainEvent::DemographicsProposed { proposed, .. } => Some(proposed.clone()),
            _ => None,
        })
        .expect("a proposal")
}

#[test]
fn an_apartment_is_typed_and_a_new_street_drops_the_old_one() {
    let mut k = editing_for("flat");
    k.acts([select(APARTMENT), typed("Unit 9")]);
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::Insurance);
    let p = last_proposal(&k);
    assert_eq!(p.address.line2, "Unit 9");
    assert_eq!(p.address.line1, maria().patient.demographics.address.line1);

    let mut k = editing_for("flat");
    k.acts([select(STREET), typed("12 Oak St")]);
    k.act(UiAction::EditSubmit);
    let p = last_proposal(&k);
    assert_eq!(
        (p.address.line1.as_str(), p.address.line2.as_str()),
        ("12 Oak St", "")
    );

    let mut k = editing_for("flat");
    k.acts([select(APARTMENT), typed("Apt @")]);
    k.act(UiAction::EditSubmit);
    let v = k.view().edit_demographics;
    assert_eq!(v.problem, Some(EditProblem::Invalid(Field::AddressLine2)));
    assert_eq!(v.active, APARTMENT);
}

#[test]
fn an_emergency_contact_is_added_when_none_is_on_file() {
    let mut k = editing_for("alone");
    assert_eq!(k.view().demographics.emergency_contact, "");
    let before = k.steps().len();
    k.acts([select(CONTACT_PHONE), typed("541 555 0111")]);
    k.act(UiAction::EditSubmit);
    let v = k.view().edit_demographics;
    assert_eq!(v.problem, Some(EditProblem::Required(Field::ContactName)));
    assert_eq!(v.active, CONTACT_NAME);
    assert_eq!(k.steps().len(), before, "nothing recorded");
    k.acts([
        typed("Ana Núñez-O'Brien"),
        select(RELATION),
        typed("Sister"),
    ]);
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::Insurance);
    let contact = last_proposal(&k).emergency_contact.expect("a contact");
    assert_eq!(contact.name, "Ana Núñez-O'Brien");
    assert_eq!(contact.phone, "541 555 0111");
    assert_eq!(contact.relation, "Sister");
}

#[test]
fn a_new_contact_needs_a_phone_too() {
    let mut k = editing_for("alone");
    k.acts([select(CONTACT_NAME), typed("Ana Quinn")]);
    k.act(UiAction::EditSubmit);
    let v = k.view().edit_demographics;
    assert_eq!(v.problem, Some(EditProblem::Required(Field::ContactPhone)));
    assert_eq!(v.active, CONTACT_PHONE);
}

#[test]
fn a_changed_contact_keeps_the_rest_of_the_one_on_file() {
    let mut k = editing_demographics();
    k.acts([select(RELATION), typed("Sister")]);
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::Insurance);
    let on_file = maria().patient.demographics.emergency_contact.unwrap();
    let contact = last_proposal(&k).emergency_contact.unwrap();
    assert_eq!(
        (contact.name, contact.phone, contact.relation.as_str()),
        (on_file.name, on_file.phone, "Sister")
    );
}

#[test]
fn each_contact_rule_keeps_the_patient_on_its_field() {
    for (field, bad, rule) in [
        (CONTACT_NAME, "Ana 2", Field::ContactName),
        (CONTACT_PHONE, "12", Field::ContactPhone),
        (RELATION, "Sis2", Field::ContactRelation),
    ] {
        let mut k = editing_demographics();
        k.acts([select(field), typed(bad), select(EMAIL)]);
        k.act(UiAction::EditSubmit);
        let v = k.view().edit_demographics;
        assert_eq!(v.problem, Some(EditProblem::Invalid(rule)), "{bad}");
        assert_eq!(v.active, field);
    }
}

#[test]
fn back_from_the_form_and_update_again_starts_a_clean_form() {
    let mut k = editing_demographics();
    k.act(select(PHONE));
    k.act(typed("541"));
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::Demographics);
    k.act(UiAction::DemographicsUpdate);
    assert_eq!(k.view().edit_demographics, EditDemographicsView::default());
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn form_keys_do_nothing_off_the_forms() {
    let mut k = Kiosk::maria_scanned();
    let before = k.view();
    k.acts([
        select(PHONE),
        typed("5"),
        UiAction::EditErase,
        UiAction::EditSubmit,
    ]);
    assert_eq!(k.view(), before);
}

// ---- insurance ----

#[test]
fn insurance_still_correct_moves_to_the_copay() {
    let mut k = Kiosk::maria_at_copay();
    let v = k.view();
    assert_eq!((v.progress, v.progress_steps), (3, 3));
    assert_eq!(v.copay.amount, "$25.00");
    assert_eq!(v.copay.balance, "");
    assert!(v.copay.allow_phone && v.copay.allow_bill_later);
    assert_eq!(k.kinds()[2], vec!["phi_shown"]);
    k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
    assert_eq!(k.screen(), Screen::Done);
}

fn editing_insurance() -> Kiosk {
    let mut k = Kiosk::maria_at_insurance();
    k.act(UiAction::InsuranceChanged);
    assert_eq!(k.screen(), Screen::EditInsurance);
    assert_eq!(k.view().progress, 2);
    k
}

#[test]
fn each_insurance_field_keeps_to_its_length() {
    let mut k = editing_insurance();
    for (field, limit) in [(PAYER, 60), (MEMBER_ID, 30), (GROUP, 30)] {
        k.act(select(field));
        k.act(typed(&"A".repeat(limit + 3)));
        let v = k.view().edit_insurance;
        assert_eq!(v.active, field);
        assert_eq!(v.fields[field].chars().count(), limit);
    }
    k.act(select(STREET));
    assert_eq!(k.view().edit_insurance.active, GROUP);
    k.act(UiAction::EditErase);
    assert_eq!(k.view().edit_insurance.fields[GROUP].len(), 29);
}

#[test]
fn the_insurance_form_needs_a_payer_and_a_member_id() {
    let mut k = editing_insurance();
    k.act(UiAction::EditSubmit);
    assert_eq!(
        k.view().edit_insurance.problem,
        Some(EditProblem::MissingPayer)
    );
    k.act(typed("Aetna"));
    assert_eq!(k.view().edit_insurance.problem, None);
    k.act(UiAction::EditSubmit);
    assert_eq!(
        k.view().edit_insurance.problem,
        Some(EditProblem::MissingMemberId)
    );
    k.act(select(MEMBER_ID));
    k.act(typed("W123!"));
    k.act(select(GROUP));
    k.act(UiAction::EditSubmit);
    let v = k.view();
    assert_eq!(v.screen, Screen::EditInsurance);
    assert_eq!(
        v.edit_insurance.problem,
        Some(EditProblem::Invalid(Field::MemberId))
    );
    assert_eq!(v.edit_insurance.active, MEMBER_ID);
    assert_eq!(k.steps().len(), 2);
}

#[test]
fn changed_insurance_is_proposed() {
    let mut k = editing_insurance();
    k.act(typed("Aetna"));
    k.act(select(MEMBER_ID));
    k.act(typed("W123456789"));
    k.act(UiAction::EditSubmit);
    assert_eq!(k.screen(), Screen::CoPay);
    assert_eq!(k.kinds()[2], vec!["coverage_proposed", "flag", "phi_shown"]);
    assert_eq!(k.flags(), vec![ReasonCode::InsuranceChanged]);
    let DomainEvent::CoverageProposed { proposed, .. } = &k.steps()[2][0] else {
        panic!("not a proposal");
    };
    let expected = CoverageUpdate {
        payer: "Aetna".into(),
        member_id: "W123456789".into(),
        group: String::new(),
    };
    assert_eq!(proposed.as_ref(), Some(&expected));
}

#[test]
fn back_from_the_insurance_form_and_change_again_starts_clean() {
    let mut k = editing_insurance();
    k.act(typed("Aetna"));
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::Insurance);
    k.act(UiAction::InsuranceChanged);
    assert_eq!(k.view().edit_insurance, EditInsuranceView::default());
}

#[test]
fn no_insurance_asks_to_confirm_then_is_self_pay() {
    let mut k = Kiosk::maria_at_insurance();
    let before = k.steps().len();
    k.act(UiAction::NoInsurance);
    let v = k.view();
    assert_eq!(v.screen, Screen::Insurance);
    assert!(v.insurance.confirm_no_insurance);
    assert_eq!(
        k.steps().len(),
        before,
        "nothing recorded before the answer"
    );
    // "No, go back" leaves the question; the coverage shows again.
    k.act(UiAction::Back);
    let v = k.view();
    assert_eq!(v.screen, Screen::Insurance);
    assert!(!v.insurance.confirm_no_insurance);
    k.act(UiAction::NoInsurance);
    k.act(UiAction::ConfirmNoInsurance);
    let v = k.view();
    assert_eq!(v.screen, Screen::CoPay);
    assert!(!v.insurance.confirm_no_insurance);
    assert!(v.copay.self_pay);
    assert_eq!(v.copay.amount, "", "the front desk tells the amount");
    assert!(!v.copay.allow_phone, "no link for an unknown amount");
    assert_eq!(k.flags(), vec![ReasonCode::SelfPaySelected]);
    let DomainEvent::CoverageProposed { proposed, .. } = &k.steps()[2][0] else {
        panic!("not a proposal");
    };
    assert_eq!(proposed, &None);
    k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
    let v = k.view();
    assert_eq!(v.screen, Screen::Done);
    assert_eq!(
        v.done,
        DoneView {
            choice: Some(CoPayChoice::FrontDesk),
            amount: String::new(),
            self_pay: true,
        }
    );
}

#[test]
fn self_pay_shows_the_clinic_amount_never_the_plan_copay() {
    let mut k = Kiosk::with(|c| c.self_pay = Some(Money::new(15_000, Currency::USD)));
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.scan(&pass);
    k.acts([
        UiAction::DemographicsCorrect,
        UiAction::NoInsurance,
        UiAction::ConfirmNoInsurance,
    ]);
    let v = k.view();
    assert_eq!(
        (v.copay.amount.as_str(), v.copay.self_pay),
        ("$150.00", true)
    );
    assert!(v.copay.allow_phone);
    k.act(UiAction::CoPay(CoPayChoice::Phone));
    assert_eq!(k.view().pay_phone.amount, "$150.00");
    k.act(UiAction::PayPhoneDone);
    assert_eq!(k.view().done.amount, "$150.00");
    // Back from the co-pay asks about insurance again, with the plan.
    let mut k = Kiosk::with(|c| c.self_pay = Some(Money::new(15_000, Currency::USD)));
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.scan(&pass);
    k.acts([
        UiAction::DemographicsCorrect,
        UiAction::NoInsurance,
        UiAction::ConfirmNoInsurance,
        UiAction::Back,
    ]);
    assert_eq!(k.screen(), Screen::Insurance);
    k.act(UiAction::InsuranceStillCorrect);
    assert_eq!(k.view().copay.amount, "$25.00");
    assert!(!k.view().copay.self_pay);
}

#[test]
fn confirming_no_insurance_needs_the_question_first() {
    let mut k = Kiosk::maria_at_insurance();
    let before = k.view();
    k.act(UiAction::ConfirmNoInsurance);
    assert_eq!(k.view(), before);
    // The form has no such button; the press does nothing there.
    let mut k = editing_insurance();
    k.act(UiAction::NoInsurance);
    assert!(!k.view().insurance.confirm_no_insurance);
    assert_eq!(k.screen(), Screen::EditInsurance);
}

#[test]
fn back_goes_one_screen_back_after_the_match() {
    let mut k = Kiosk::maria_at_insurance();
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::Demographics);
    let mut k = Kiosk::maria_at_copay();
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::Insurance);
    k.act(UiAction::InsuranceStillCorrect);
    k.act(UiAction::CoPay(CoPayChoice::Phone));
    k.act(UiAction::Back);
    assert_eq!(k.screen(), Screen::CoPay);
    k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
    let v = k.view();
    assert_eq!(v.screen, Screen::Done);
    assert_eq!(v.done.choice, Some(CoPayChoice::FrontDesk));
    assert_eq!(v.done.amount, "$25.00");
    // Details confirmed lately were skipped, and can be changed after all.
    let mut k = Kiosk::new();
    k.dob_path("08091993", "PAR");
    assert_eq!(k.view().progress_steps, 3);
    k.act(UiAction::Back);
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!((v.progress, v.progress_steps), (2, 4));
    // Twins: Back from the choice returns to the letters.
    let mut k = Kiosk::new();
    k.dob_path("03042010", "RIV");
    assert_eq!(k.screen(), Screen::Choose);
    k.act(UiAction::Back);
    let v = k.view();
    assert_eq!(
        (v.screen, v.name_letters.as_str()),
        (Screen::EnterName, "RIV")
    );
    assert!(v.choices.is_empty());
}

#[test]
fn nothing_on_file_cannot_be_still_correct() {
    let mut k = Kiosk::new();
    k.dob_path("02031990", "LOP");
    k.act(UiAction::DemographicsCorrect);
    let v = k.view();
    assert_eq!(v.screen, Screen::Insurance);
    assert_eq!(
        v.insurance,
        InsuranceView {
            ..InsuranceView::default()
        }
    );
    assert_eq!(k.flags(), vec![ReasonCode::InsuranceMissing]);
    assert!(
        k.controller
            .handle(UiAction::InsuranceStillCorrect)
            .is_err()
    );
    assert_eq!(k.view(), v);
    k.act(UiAction::InsuranceChanged);
    assert_eq!(k.screen(), Screen::EditInsurance);
}

#[test]
fn lapsed_coverage_shows_as_expired() {
    let mut k = Kiosk::new();
    k.dob_path("04051991", "OKA");
    k.act(UiAction::DemographicsCorrect);
    let v = k.view();
    assert!(v.insurance.has_coverage && v.insurance.expired);
    assert_eq!(k.flags(), vec![ReasonCode::InsuranceExpired]);
}

// ---- the co-pay ----

#[test]
fn each_copay_choice_is_recorded_and_checks_in() {
    for choice in [CoPayChoice::FrontDesk, CoPayChoice::BillLater] {
        let mut k = Kiosk::maria_at_copay();
        k.act(UiAction::CoPay(choice));
        let v = k.view();
        assert_eq!((v.screen, v.progress), (Screen::Done, 0));
        assert_eq!(k.kinds()[3], vec!["copay_chosen", "checked_in"]);
        let DomainEvent::CoPayChosen {
            choice: c, amount, ..
        } = &k.steps()[3][0]
        else {
            panic!("not a choice");
        };
        assert_eq!((*c, *amount), (choice, Money::new(2500, Currency::USD)));
        k.act(UiAction::Finish);
        assert_eq!(k.view(), fresh_view());
        assert_eq!(k.steps().len(), 4);
    }
}

#[test]
fn bill_later_is_refused_where_the_clinic_does_not_offer_it() {
    let mut k = Kiosk::with(|c| c.flow.allow_bill_later = false);
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.scan(&pass);
    k.acts([
        UiAction::DemographicsCorrect,
        UiAction::InsuranceStillCorrect,
    ]);
    let v = k.view();
    assert!(!v.copay.allow_bill_later);
    assert!(
        k.controller
            .handle(UiAction::CoPay(CoPayChoice::BillLater))
            .is_err()
    );
    assert_eq!(k.view(), v);
    assert_eq!(k.steps().len(), 3);
}

#[test]
fn pay_on_phone_shows_the_link_then_checks_in() {
    let mut k = Kiosk::maria_at_copay();
    assert_eq!(k.view().pay_phone, PayPhoneView::default());
    k.act(UiAction::CoPay(CoPayChoice::Phone));
    let v = k.view();
    assert_eq!((v.screen, v.progress), (Screen::PayPhone, 3));
    assert_eq!(
        v.pay_phone,
        PayPhoneView {
            url: "https://pay.example.org/p/a1".into(),
            reference: "a1".into(),
            amount: "$25.00".into(),
        }
    );
    assert_eq!(k.kinds()[3], vec!["copay_chosen"]);
    k.act(UiAction::PayPhoneDone);
    assert_eq!(k.screen(), Screen::Done);
    assert_eq!(k.kinds()[4], vec!["checked_in"]);
}

#[test]
fn without_a_payment_link_the_phone_is_not_offered() {
    let mut k = Kiosk::with(|c| c.payment_link = None);
    let pass = k.pass("c1", "late", Duration::hours(1));
    k.scan(&pass);
    k.acts([
        UiAction::DemographicsCorrect,
        UiAction::InsuranceStillCorrect,
    ]);
    let v = k.view();
    assert_eq!(v.screen, Screen::CoPay);
    assert!(!v.copay.allow_phone);
    assert_eq!(v.copay.balance, "$12.50");
}

#[test]
fn no_copay_due_goes_straight_to_done() {
    let mut k = Kiosk::new();
    k.dob_path("06071992", "MOS");
    k.acts([
        UiAction::DemographicsCorrect,
        UiAction::InsuranceStillCorrect,
    ]);
    assert_eq!(k.screen(), Screen::Done);
    assert_eq!(k.kinds()[2], vec!["checked_in"]);
}

// ---- rules on arrival ----

#[test]
fn a_late_patient_carries_on_with_a_notice() {
    let mut k = Kiosk::new();
    k.dob_path("01091985", "HAD");
    let v = k.view();
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!(v.notice, Some(ReasonCode::Late));
    assert!(k.flags().contains(&ReasonCode::Late));
}

#[test]
fn a_stopping_rule_sends_to_the_desk_and_finish_starts_over() {
    let mut k = Kiosk::new();
    k.dob_path("01011960", "EAR");
    let v = k.view();
    assert_eq!(v.screen, Screen::SeeDesk);
    assert_eq!(v.desk_reason, Some(DeskReason::Rule(ReasonCode::TooEarly)));
    assert_eq!(v.progress, 0);
    assert_eq!(k.flags(), vec![ReasonCode::TooEarly]);
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn an_appointment_already_checked_in_is_not_arrived_again() {
    let mut k = Kiosk::new();
    k.dob_path("12131995", "WOL");
    assert_eq!(
        k.view().desk_reason,
        Some(DeskReason::Rule(ReasonCode::AlreadyCheckedIn))
    );
    assert_eq!(k.kinds(), vec![vec!["phi_shown", "flag"]]);
}

// ---- help, language, idle ----

#[test]
fn help_flags_once_and_resumes_where_the_patient_was() {
    let mut k = Kiosk::maria_at_insurance();
    k.act(UiAction::Help);
    let v = k.view();
    assert_eq!((v.screen, v.progress), (Screen::Help, 0));
    assert!(v.help_can_resume);
    k.act(UiAction::Help);
    let help: Vec<(ReasonCode, Step)> = k
        .steps()
        .iter()
        .flatten()
        .filter_map(|e| match e {
            DomainEvent::Flag(f) => Some((f.code, f.step)),
            _ => None,
        })
        .collect();
    assert_eq!(help, vec![(ReasonCode::HelpRequested, Step::Insurance)]);
    assert_eq!(k.commits(), 3);
    k.act(UiAction::Resume);
    assert_eq!(k.screen(), Screen::Insurance);
    assert_eq!(k.commits(), 3);
}

#[test]
fn help_from_welcome_resumes_to_a_fresh_welcome() {
    let mut k = Kiosk::new();
    k.act(UiAction::Help);
    assert_eq!(k.screen(), Screen::Help);
    k.act(UiAction::Resume);
    assert_eq!(k.view(), fresh_view());
    assert_eq!(k.flags(), vec![ReasonCode::HelpRequested]);
}

#[test]
fn staff_answering_the_help_request_ends_the_session_without_a_flag() {
    let mut k = Kiosk::maria_at_insurance();
    k.act(UiAction::Help);
    let flag = k.last_flag_id();
    let commits = k.commits();
    assert!(k.controller.waiting_for_help());
    // Another kiosk's or an older request's answer changes nothing.
    k.act(UiAction::HelpAnswered(vec![Uuid::from_u128(7)]));
    assert_eq!(k.screen(), Screen::Help);
    k.act(UiAction::HelpAnswered(vec![Uuid::from_u128(7), flag]));
    assert_eq!(k.view(), fresh_view());
    assert!(!k.controller.waiting_for_help());
    // No `incomplete_checkin`: the desk has the patient.
    assert_eq!(k.flags(), vec![ReasonCode::HelpRequested]);
    assert_eq!(k.commits(), commits);
}

#[test]
fn an_answer_after_the_patient_resumed_changes_nothing() {
    let mut k = Kiosk::maria_at_insurance();
    k.act(UiAction::Help);
    let flag = k.last_flag_id();
    k.act(UiAction::Resume);
    k.act(UiAction::HelpAnswered(vec![flag]));
    assert_eq!(k.screen(), Screen::Insurance);
    // A second request is a new flag: the old answer does not end it.
    k.act(UiAction::Help);
    assert_ne!(k.last_flag_id(), flag);
    k.act(UiAction::HelpAnswered(vec![flag]));
    assert_eq!(k.screen(), Screen::Help);
    k.act(UiAction::HelpAnswered(vec![k.last_flag_id()]));
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn staff_answering_a_not_found_flag_frees_the_kiosk() {
    let mut k = Kiosk::new();
    k.dob_path("05171980", "GOM");
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GOM");
    k.act(UiAction::TryAgain);
    k.dob_path_again("05171980", "GOM");
    assert_eq!(k.screen(), Screen::Help);
    assert_eq!(k.flags(), vec![ReasonCode::IdentityNotFound]);
    k.act(UiAction::HelpAnswered(vec![k.last_flag_id()]));
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn a_language_switch_keeps_progress_and_records_nothing() {
    let mut k = Kiosk::maria_scanned();
    let commits = k.commits();
    k.act(UiAction::SetLanguage(Language::Es));
    let v = k.view();
    assert_eq!(v.language, Language::Es);
    assert_eq!(v.screen, Screen::Demographics);
    assert_eq!(v.identity.unwrap().time, "10:00 a. m.");
    assert_eq!(k.commits(), commits);
    k.act(UiAction::SetLanguage(Language::En));
    assert_eq!(k.view().identity.unwrap().time, "10:00 AM");
}

#[test]
fn times_follow_the_language_on_the_12_hour_clock_or_the_24_hour_one() {
    let t = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
    assert_eq!(format_clock(t(9, 20), Language::En, false), "9:20 AM");
    assert_eq!(format_clock(t(9, 20), Language::Es, false), "9:20 a. m.");
    assert_eq!(format_clock(t(0, 5), Language::En, false), "12:05 AM");
    assert_eq!(format_clock(t(12, 0), Language::Es, false), "12:00 p. m.");
    assert_eq!(format_clock(t(14, 30), Language::En, false), "2:30 PM");
    assert_eq!(format_clock(t(9, 20), Language::Es, true), "09:20");
    assert_eq!(format_clock(t(14, 30), Language::En, true), "14:30");
    let mut k = Kiosk::with(|c| c.clock_24h = true);
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.scan(&pass);
    assert_eq!(k.view().identity.unwrap().time, "10:00");
}

#[test]
fn the_idle_warning_shows_and_a_touch_dismisses_it() {
    let mut k = Kiosk::maria_scanned();
    k.act(UiAction::IdleWarning);
    assert!(k.view().idle_warning);
    k.act(UiAction::StillHere);
    let v = k.view();
    assert!(!v.idle_warning);
    assert_eq!(v.screen, Screen::Demographics);
    k.act(UiAction::IdleWarning);
    k.act(UiAction::DemographicsCorrect);
    assert!(!k.view().idle_warning);
    assert_eq!(k.steps().len(), 2);
}

#[test]
fn welcome_and_done_do_not_watch_idle() {
    let mut k = Kiosk::new();
    assert!(k.controller.handle(UiAction::IdleWarning).is_err());
    assert_eq!(k.view(), fresh_view());
    let mut k = Kiosk::maria_at_copay();
    k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
    assert!(k.controller.handle(UiAction::IdleWarning).is_err());
    assert!(!k.view().idle_warning);
}

#[test]
fn an_idle_timeout_clears_every_per_patient_value() {
    let mut k = Kiosk::maria_scanned();
    k.acts([
        UiAction::SetLanguage(Language::Es),
        UiAction::DemographicsUpdate,
        select(PHONE),
        typed("541"),
        UiAction::Back,
        UiAction::DemographicsCorrect,
        UiAction::InsuranceChanged,
        typed("Aetna"),
        UiAction::DobDigit('0'),
        UiAction::NameLetter("GAR".into()),
        UiAction::KeyInput("CK1.partial".into()),
        UiAction::IdleWarning,
    ]);
    let before = k.view();
    assert_ne!(before, fresh_view());
    assert_eq!(before.edit_insurance.fields[PAYER], "Aetna");
    k.act(UiAction::IdleTimeout);
    assert_eq!(k.view(), fresh_view());
    assert_eq!(*k.flags().last().unwrap(), ReasonCode::IncompleteCheckin);
    // The partial scanner burst went too: a pass now scans on its own.
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
}

#[test]
fn an_idle_timeout_on_the_letters_forgets_what_was_typed() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    k.act(UiAction::NameLetter("GA".into()));
    k.act(UiAction::IdleTimeout);
    assert_eq!(k.view(), fresh_view());
    assert!(k.steps().is_empty());
}

// ---- storage faults ----

#[test]
fn a_failed_commit_puts_the_flow_back_and_sends_to_the_desk() {
    let mut k = Kiosk::maria_scanned();
    k.ledger.borrow_mut().fail_record = true;
    let err = k.controller.handle(UiAction::DemographicsCorrect);
    assert!(matches!(err, Err(ControllerError::Storage(_))));
    let v = k.view();
    assert_eq!(v.screen, Screen::SeeDesk);
    assert_eq!(v.desk_reason, Some(DeskReason::Fault));
    assert_eq!(v.progress, 0);
    assert_eq!(k.controller.step(), Step::Demographics);
    assert_eq!((k.steps().len(), k.commits()), (1, 1));
    // Only finishing and the language work now.
    k.ledger.borrow_mut().fail_record = false;
    for ignored in [
        UiAction::DemographicsCorrect,
        UiAction::Help,
        UiAction::Back,
        UiAction::IdleWarning,
        UiAction::DobDigit('1'),
    ] {
        k.act(ignored.clone());
        assert_eq!(k.view(), v, "{ignored:?}");
    }
    k.act(UiAction::SetLanguage(Language::Es));
    assert_eq!(k.view().language, Language::Es);
    assert_eq!(k.view().screen, Screen::SeeDesk);
    assert_eq!(k.steps().len(), 1);
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
    assert_eq!(k.steps().len(), 1);
}

#[test]
fn an_idle_timeout_also_ends_a_fault() {
    let mut k = Kiosk::maria_at_copay();
    k.ledger.borrow_mut().fail_record = true;
    assert!(
        k.controller
            .handle(UiAction::CoPay(CoPayChoice::FrontDesk))
            .is_err()
    );
    assert_eq!(k.controller.step(), Step::CoPay);
    assert_eq!(k.view().desk_reason, Some(DeskReason::Fault));
    k.act(UiAction::IdleTimeout);
    assert_eq!(k.view(), fresh_view());
    assert_eq!(k.steps().len(), 3);
}

#[test]
fn a_failed_lookup_read_sends_to_the_desk() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    k.act(UiAction::NameLetter("GAR".into()));
    k.ledger.borrow_mut().fail_read = true;
    assert!(k.controller.handle(UiAction::NameSubmit).is_err());
    let v = k.view();
    assert_eq!(v.screen, Screen::SeeDesk);
    assert_eq!(v.desk_reason, Some(DeskReason::Fault));
    assert_eq!(v.identity, None);
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn a_failed_read_of_a_scanned_pass_sends_to_the_desk() {
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "a1", Duration::hours(1));
    k.ledger.borrow_mut().fail_read = true;
    let result = k.controller.handle(UiAction::KeyInput(format!("{pass}\n")));
    assert!(matches!(result, Err(ControllerError::Storage(_))));
    let v = k.view();
    assert_eq!(v.screen, Screen::SeeDesk);
    assert_eq!(v.desk_reason, Some(DeskReason::Fault));
    assert!(k.steps().is_empty());
    k.act(UiAction::Finish);
    assert_eq!(k.view(), fresh_view());
}

#[test]
fn help_on_done_resumes_to_done_without_a_commit() {
    let mut k = Kiosk::maria_at_copay();
    k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
    k.act(UiAction::Help);
    k.ledger.borrow_mut().fail_record = true;
    assert!(k.controller.handle(UiAction::Resume).is_ok());
    // Help on Done returns to Done: nothing to record, no fault.
    assert_eq!(k.screen(), Screen::Done);
}

// ---- commits ----

#[test]
fn each_committed_step_wakes_the_sync_worker_once() {
    let mut k = Kiosk::new();
    k.act(UiAction::SetLanguage(Language::Es));
    k.act(UiAction::UseDob);
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    k.act(UiAction::NameLetter("GAR".into()));
    assert_eq!(k.commits(), 0);
    k.act(UiAction::NameSubmit);
    assert_eq!(k.commits(), 1);
    k.acts([
        UiAction::IdleWarning,
        UiAction::StillHere,
        UiAction::DemographicsCorrect,
        UiAction::InsuranceStillCorrect,
        UiAction::CoPay(CoPayChoice::Phone),
        UiAction::PayPhoneDone,
        UiAction::Finish,
    ]);
    assert_eq!(k.steps().len(), 5);
    assert_eq!(k.commits(), 5);
    // A finished session leaves nothing to flag on Finish.
    assert!(!k.flags().contains(&ReasonCode::IncompleteCheckin));
}

// ---- the view ----

#[test]
fn the_progress_header_follows_the_screens() {
    let mut k = Kiosk::new();
    let mut seen = vec![(k.screen(), k.view().progress)];
    k.act(UiAction::UseDob);
    seen.push((k.screen(), k.view().progress));
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    seen.push((k.screen(), k.view().progress));
    k.act(UiAction::NameLetter("GOM".into()));
    k.act(UiAction::NameSubmit);
    seen.push((k.screen(), k.view().progress));
    assert_eq!(
        seen,
        vec![
            (Screen::Welcome, 0),
            (Screen::EnterDob, 1),
            (Screen::EnterName, 1),
            (Screen::NotFound, 1),
        ]
    );
    k.act(UiAction::Help);
    assert_eq!((k.screen(), k.view().progress), (Screen::Help, 0));
    k.act(UiAction::Resume);
    assert_eq!((k.screen(), k.view().progress), (Screen::NotFound, 1));
    assert_eq!(
        k.view().progress_steps,
        4,
        "before a match every step counts"
    );
}

#[test]
fn the_progress_header_counts_only_the_steps_the_patient_sees() {
    // Typed in, details skipped, a co-pay due: Identify, Insurance, Payment.
    let mut k = Kiosk::new();
    k.dob_path("08091993", "PAR");
    let v = k.view();
    assert_eq!(v.screen, Screen::Insurance);
    assert_eq!((v.progress, v.progress_steps), (2, 3));
    k.act(UiAction::InsuranceStillCorrect);
    assert_eq!((k.view().progress, k.view().progress_steps), (3, 3));
    // Scanned, nothing due: Details and Insurance.
    let mut k = Kiosk::new();
    let pass = k.pass("c1", "free", Duration::hours(1));
    k.scan(&pass);
    assert_eq!((k.view().progress, k.view().progress_steps), (1, 2));
    k.act(UiAction::DemographicsCorrect);
    assert_eq!((k.view().progress, k.view().progress_steps), (2, 2));
    // Saying "no insurance" makes the payment step one to see.
    k.act(UiAction::NoInsurance);
    k.act(UiAction::ConfirmNoInsurance);
    let v = k.view();
    assert_eq!(v.screen, Screen::CoPay);
    assert_eq!((v.progress, v.progress_steps), (3, 3));
}

#[test]
fn the_view_shows_only_masked_identity_after_a_match() {
    let mut k = Kiosk::new();
    k.act(UiAction::UseDob);
    let v = k.view();
    assert_eq!(v.identity, None);
    assert_eq!(v.demographics, crate::domain::MaskedDemographics::default());
    assert_eq!(v.insurance, InsuranceView::default());
    assert_eq!(v.copay, CoPayView::default());
    k.type_dob("05171980");
    k.act(UiAction::DobSubmit);
    k.act(UiAction::NameLetter("GAR".into()));
    k.act(UiAction::NameSubmit);
    let v = k.view();
    assert_eq!(
        v.identity,
        Some(IdentityView {
            name: "Maria G.".into(),
            time: "10:00 AM".into(),
            clinician: "Dr. Patel".into(),
        })
    );
    assert_eq!(
        v.demographics,
        crate::domain::MaskedDemographics::from_demographics(&maria().patient.demographics)
    );
    let shown = format!("{:?}", v.demographics);
    for secret in ["Evergreen", "555-0134", "patient@", "Alex Doe"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(
        v.insurance,
        InsuranceView {
            has_coverage: true,
            expired: false,
            payer: "Blue Shield".into(),
            plan: "PPO Gold".into(),
            member_id: "••••3456".into(),
            confirm_no_insurance: false,
        }
    );
    assert_eq!(v.notice, None);
}

// ---------------------------------------------------------------------------
// Intake forms.

mod forms {
    use super::*;
    use crate::domain::forms_session::{CompletedForm, FormSet};
    use crate::domain::questionnaire::LocalizedText;
    use crate::domain::screening::Instrument;
    use crate::domain::testkit::{consent, screener, signature_png};
    use crate::kiosk::view::{FormItemKind, FormProblem};
    use crate::protocol::{EventBody, EventEnvelope};

    fn crisis() -> LocalizedText {
        LocalizedText::new(
            "If you are in danger, call 988.",
            "Si está en peligro, llame al 988.",
        )
    }

    /// Maria, scanned, with `set` due; the taps after the scan are counted
    /// from here.
    fn maria_with(set: FormSet) -> Kiosk {
        let mut k = Kiosk::new();
        k.ledger.borrow_mut().forms.push(("a1".into(), set));
        let pass = k.pass("c1", "a1", Duration::hours(1));
        k.scan(&pass);
        assert_eq!(k.screen(), Screen::Demographics);
        k
    }

    fn phq2_with_step_up() -> FormSet {
        FormSet {
            due: vec![screener(Instrument::Phq2)],
            step_up: Some(screener(Instrument::Phq9)),
            crisis_text: Some(crisis()),
        }
    }

    /// Taps until the forms, for a returning patient with nothing changed.
    fn to_forms(k: &mut Kiosk) -> usize {
        k.acts([
            UiAction::DemographicsCorrect,
            UiAction::InsuranceStillCorrect,
            UiAction::CoPay(CoPayChoice::FrontDesk),
        ]);
        3
    }

    /// Choose option `i` and "Next": two taps.
    fn answer(k: &mut Kiosk, i: usize) -> usize {
        assert_eq!(k.view().form.kind, FormItemKind::Choice);
        k.acts([UiAction::FormChoose(i), UiAction::FormNext]);
        2
    }

    fn completed(k: &Kiosk) -> Vec<CompletedForm> {
        k.steps()
            .iter()
            .flatten()
            .filter_map(|e| match e {
                DomainEvent::FormCompleted { completed, .. } => Some((**completed).clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_patient_with_no_form_due_keeps_todays_path() {
        let mut k = Kiosk::new();
        k.ledger
            .borrow_mut()
            .forms
            .push(("ng".into(), phq2_with_step_up()));
        let pass = k.pass("c1", "a1", Duration::hours(1));
        k.scan(&pass);
        let taps = to_forms(&mut k);
        assert_eq!((k.screen(), taps), (Screen::Done, 3));
        assert_eq!(k.kinds().last().unwrap(), &["copay_chosen", "checked_in"]);
        assert_eq!(k.view().form, FormView::default());
    }

    #[test]
    fn a_phq2_under_three_takes_six_taps_and_checks_in_with_the_last_answer() {
        let mut k = maria_with(phq2_with_step_up());
        let mut taps = to_forms(&mut k);
        let v = k.view();
        assert_eq!(v.screen, Screen::Form);
        assert_eq!(
            (v.form.kind, v.form.position, v.form.count),
            (FormItemKind::Display, 1, 3)
        );
        assert_eq!(
            v.progress, 0,
            "the journey's header gives way to the form's"
        );
        assert_eq!(
            k.kinds().last().unwrap(),
            &["copay_chosen"],
            "not checked in before the forms"
        );
        k.act(UiAction::FormNext);
        taps += 1;
        // "Next" without an answer: the page stays and says why.
        k.act(UiAction::FormNext);
        assert_eq!(k.view().form.problem, Some(FormProblem::Required));
        taps += answer(&mut k, 1) + answer(&mut k, 1);
        let v = k.view();
        assert_eq!(
            (v.screen, v.form.kind),
            (Screen::Form, FormItemKind::ThankYou)
        );
        assert_eq!(v.form.crisis_text, "");
        assert_eq!(
            k.kinds().last().unwrap(),
            &["form_completed", "checked_in"],
            "the last answer and the check-in commit together"
        );
        k.act(UiAction::FormFinish);
        taps += 1;
        assert_eq!(k.screen(), Screen::Done);
        // One more for the "Next" refused above, which a patient who
        // answers first does not tap.
        assert_eq!(taps - 3, 6, "form taps for a PHQ-2 only");
        assert_eq!(taps, 9, "taps after the scan");
        let forms = completed(&k);
        assert_eq!(forms.len(), 1);
        assert!(!forms[0].urgent);
    }

    #[test]
    fn a_phq2_of_three_steps_up_to_the_phq9_and_item_nine_shows_the_crisis_text() {
        let mut k = maria_with(phq2_with_step_up());
        let mut taps = to_forms(&mut k);
        k.act(UiAction::FormNext);
        taps += 1 + answer(&mut k, 2) + answer(&mut k, 1);
        let v = k.view().form;
        assert_eq!(
            (v.form_title.as_str(), v.position, v.count),
            ("PHQ-9", 4, 11)
        );
        let commits_before = k.commits();
        assert_eq!(completed(&k).len(), 1, "the PHQ-2 is recorded at once");
        k.act(UiAction::FormNext);
        taps += 1;
        for _ in 3..9 {
            taps += answer(&mut k, 0);
        }
        taps += answer(&mut k, 1);
        let v = k.view().form;
        assert_eq!(v.kind, FormItemKind::ThankYou);
        assert_eq!(v.crisis_text, crisis().en);
        k.act(UiAction::SetLanguage(Language::Es));
        assert_eq!(k.view().form.crisis_text, crisis().es);
        k.act(UiAction::FormFinish);
        taps += 1;
        assert_eq!(k.screen(), Screen::Done);
        assert_eq!(taps, 24, "taps after the scan with the PHQ-9");
        let forms = completed(&k);
        let ids: Vec<&str> = forms.iter().map(|f| f.form.id.as_str()).collect();
        assert_eq!(ids, ["phq-2", "phq-9"]);
        assert!(forms[1].urgent);
        assert!(k.commits() > commits_before, "the worker is woken for it");
    }

    #[test]
    fn a_consent_is_agreed_signed_cleared_and_signed_again() {
        let mut k = maria_with(FormSet {
            due: vec![consent()],
            ..FormSet::default()
        });
        to_forms(&mut k);
        let v = k.view().form;
        assert_eq!(
            (v.kind, v.agreed, v.signed),
            (FormItemKind::Consent, false, false)
        );
        assert!(v.text.starts_with("Consent to treatment."));
        k.act(UiAction::FormNext);
        assert_eq!(k.view().form.problem, Some(FormProblem::NotAgreed));
        k.act(UiAction::FormAgree);
        k.act(UiAction::FormNext);
        assert_eq!(k.view().form.problem, Some(FormProblem::NotSigned));
        k.act(UiAction::FormSigned(signature_png()));
        assert!(k.view().form.signed);
        k.act(UiAction::FormClearSignature);
        assert!(!k.view().form.signed);
        k.act(UiAction::FormSigned(signature_png()));
        k.act(UiAction::FormNext);
        assert_eq!(k.view().form.kind, FormItemKind::ThankYou);
        let forms = completed(&k);
        assert_eq!(forms[0].signature_png, Some(signature_png()));
    }

    #[test]
    fn the_form_event_goes_on_the_wire_as_a_valid_questionnaire_response() {
        let mut k = maria_with(FormSet {
            due: vec![consent(), screener(Instrument::Phq2)],
            ..FormSet::default()
        });
        to_forms(&mut k);
        k.acts([
            UiAction::FormAgree,
            UiAction::FormSigned(signature_png()),
            UiAction::FormNext,
        ]);
        let event = k
            .steps()
            .last()
            .unwrap()
            .iter()
            .find(|e| matches!(e, DomainEvent::FormCompleted { .. }))
            .cloned()
            .expect("a form event");
        let envelope = EventEnvelope::from_domain(&event);
        envelope.validate(now()).expect("a valid event");
        let EventBody::FormCompleted {
            patient_id,
            form_id,
            form_version,
            response,
            signature_png: png,
            signature_name,
        } = &envelope.body
        else {
            panic!("{:?}", envelope.body);
        };
        assert_eq!(signature_name, &None, "drawn, so no typed name");
        assert_eq!(
            (patient_id.as_str(), form_id.as_str(), form_version.as_str()),
            ("p-a1", "consent-npp", "v1")
        );
        assert_eq!(envelope.appointment_id.as_deref(), Some("a1"));
        assert_eq!(response["resourceType"], "QuestionnaireResponse");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["id"], envelope.id.to_string());
        assert_eq!(response["item"][0]["linkId"], "agree");
        assert_eq!(response["item"][0]["answer"][0]["valueBoolean"], true);
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(png.as_deref().unwrap())
            .unwrap();
        assert_eq!(decoded, signature_png());
        assert_eq!(k.view().form.form_title, "PHQ-2", "on to the next form");
    }

    #[test]
    fn back_from_the_first_form_page_returns_to_the_copay() {
        let mut k = maria_with(phq2_with_step_up());
        to_forms(&mut k);
        k.act(UiAction::FormNext);
        k.act(UiAction::FormChoose(3));
        k.act(UiAction::FormBack);
        assert_eq!(k.view().form.position, 1);
        k.act(UiAction::FormNext);
        assert_eq!(k.view().form.selected, Some(3), "the answer stays");
        k.act(UiAction::FormBack);
        k.act(UiAction::Back);
        assert_eq!(k.screen(), Screen::CoPay);
        k.act(UiAction::CoPay(CoPayChoice::FrontDesk));
        let v = k.view().form;
        assert_eq!((v.kind, v.position), (FormItemKind::Display, 1));
        k.act(UiAction::FormNext);
        assert_eq!(
            k.view().form.selected,
            Some(3),
            "answers survive the detour"
        );
    }

    #[test]
    fn a_language_switch_keeps_the_answers() {
        let mut k = maria_with(phq2_with_step_up());
        to_forms(&mut k);
        k.act(UiAction::FormNext);
        k.act(UiAction::FormChoose(2));
        k.act(UiAction::SetLanguage(Language::Es));
        let v = k.view();
        assert_eq!(v.screen, Screen::Form);
        assert_eq!(v.form.text, "Pregunta 1");
        assert_eq!(v.form.options[2], "Más de la mitad de los días");
        assert_eq!(v.form.selected, Some(2));
    }

    #[test]
    fn help_from_a_form_page_returns_to_it() {
        let mut k = maria_with(phq2_with_step_up());
        to_forms(&mut k);
        k.act(UiAction::FormNext);
        k.act(UiAction::FormChoose(1));
        k.act(UiAction::Help);
        assert_eq!(k.screen(), Screen::Help);
        assert_eq!(k.view().form, FormView::default(), "no answer behind help");
        k.act(UiAction::Resume);
        let v = k.view().form;
        assert_eq!((v.position, v.selected), (2, Some(1)));
        let flags = k.flags();
        assert_eq!(flags.last(), Some(&ReasonCode::HelpRequested));
        let help = k.steps().into_iter().flatten().find_map(|e| match e {
            DomainEvent::Flag(f) if f.code == ReasonCode::HelpRequested => Some(f),
            _ => None,
        });
        assert_eq!(help.unwrap().step, Step::Forms);
    }

    #[test]
    fn the_idle_reset_wipes_answers_and_signature() {
        let mut k = maria_with(FormSet {
            due: vec![consent(), screener(Instrument::Phq2)],
            ..FormSet::default()
        });
        to_forms(&mut k);
        k.acts([UiAction::FormAgree, UiAction::FormSigned(signature_png())]);
        assert!(k.view().form.signed);
        k.act(UiAction::IdleWarning);
        k.act(UiAction::IdleTimeout);
        let v = k.view();
        assert_eq!(v.screen, Screen::Welcome);
        assert_eq!(v.form, FormView::default());
        assert_eq!(k.flags().last(), Some(&ReasonCode::IncompleteCheckin));
        assert!(completed(&k).is_empty(), "nothing half-done is sent");
        // The same patient again starts the forms afresh.
        let pass = k.pass("c1", "a1", Duration::hours(1));
        k.scan(&pass);
        to_forms(&mut k);
        let v = k.view().form;
        assert_eq!(
            (v.kind, v.agreed, v.signed),
            (FormItemKind::Consent, false, false)
        );
    }

    #[test]
    fn an_unreadable_forms_cache_never_stops_a_check_in() {
        let mut k = Kiosk::new();
        {
            let mut ledger = k.ledger.borrow_mut();
            ledger.forms.push(("a1".into(), phq2_with_step_up()));
            ledger.fail_forms = true;
        }
        let pass = k.pass("c1", "a1", Duration::hours(1));
        k.scan(&pass);
        assert_eq!(k.screen(), Screen::Demographics);
        to_forms(&mut k);
        assert_eq!(k.screen(), Screen::Done, "checked in without the forms");
    }
}
