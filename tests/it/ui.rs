//! Patient journeys through the real Slint UI under the headless testing
//! backend, driven by accessible labels as a screen reader would. After
//! each journey the test checks what the patient saw and what landed in
//! the outbox, and counts taps.

use std::sync::Arc;
use std::time::Duration;

use checkin_kiosk::domain::testkit::{TZ, appointment};
use checkin_kiosk::domain::{
    Appointment, AppointmentId, AppointmentStatus, ClinicId, Currency, FixedClock, FlowSettings,
    KioskId, LocationId, LookupThrottle, Money,
};
use checkin_kiosk::kiosk::adapters::{KioskUi, Part, Timings};
use checkin_kiosk::kiosk::repository::StoreRepository;
use checkin_kiosk::kiosk::ui::{AppWindow, KioskAdapter, Screen};
use checkin_kiosk::kiosk::{CheckInController, KioskContext};
use checkin_kiosk::pass::{PassClaims, PassSigner};
use checkin_kiosk::protocol::ClinicSettings;
use checkin_kiosk::store::{Enrollment, Store};
use chrono::{DateTime, TimeZone, Utc};
use i_slint_backend_testing::{ElementHandle, TestingBackend, TestingBackendOptions};
use slint::platform::WindowEvent;
use slint::{ComponentHandle, Model};

/// Installs the headless backend for this test thread, once.
pub(super) fn init_backend() {
    thread_local! {
        static INIT: () = {
            slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
                mock_time: true,
                threading: false,
                renderer_name: Some("software".into()),
            })))
            .expect("a fresh test thread has no platform");
        };
    }
    INIT.with(|_| {});
}

/// 09:55 local on the test day.
pub(super) fn now() -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2026, 3, 2, 9, 55, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) struct Kiosk {
    _dir: tempfile::TempDir,
    pub(super) window: AppWindow,
    pub(super) ui: KioskUi<StoreRepository>,
    signer: PassSigner,
    clock: Arc<FixedClock>,
    taps: usize,
}

pub(super) fn schedule() -> Vec<Appointment> {
    let maria = appointment("a-maria", "Maria", "García", (1980, 5, 17), 10, 0);
    let twin1 = appointment("a-luis", "Luis", "Rivera", (2010, 3, 4), 10, 15);
    let mut twin2 = appointment("a-lucia", "Lucía", "Rivera", (2010, 3, 4), 10, 30);
    twin2.clinician = "Dr. Nguyen".into();
    let mut uninsured = appointment("a-noah", "Noah", "Okafor", (1992, 8, 9), 10, 0);
    uninsured.coverage = None;
    uninsured.patient.demographics.emergency_contact = None;
    let mut early = appointment("a-early", "Eva", "Lindqvist", (1970, 1, 1), 14, 0);
    early.clinician = "Dr. Chen".into();
    let mut late = appointment("a-late", "Omar", "Haddad", (1965, 6, 6), 9, 0);
    late.clinician = "Dr. Chen".into();
    let mut balance = appointment("a-bal", "Ana", "Silva", (1988, 2, 2), 10, 0);
    balance.prior_balance = Money::new(4_250, Currency::USD);
    let mut done = appointment("a-done", "Ben", "Cole", (1950, 4, 4), 10, 0);
    done.status = AppointmentStatus::CheckedIn;
    vec![maria, twin1, twin2, uninsured, early, late, balance, done]
}

impl Kiosk {
    pub(super) fn new() -> Self {
        Self::with_context(|_| {})
    }

    /// A kiosk whose clinic and flow settings `tweak` changes; the clinic
    /// charges $150.00 for a self-pay visit.
    fn with_context(tweak: impl FnOnce(&mut KioskContext)) -> Self {
        Self::with_store(tweak, |_| {})
    }

    /// A kiosk as `with_context` makes it, whose store `fill` adds to
    /// after the test schedule (intake forms, for one).
    /// A kiosk whose returning patient Maria (`a-maria`) has one form due:
    /// `definition`, the Questionnaire JSON, under the id `form_id`.
    pub(super) fn with_form_due_for_maria(form_id: &str, definition: String) -> Self {
        use checkin_kiosk::store::{FormDefinition, ScheduleUpdate};
        Self::with_store(
            |_| {},
            |store| {
                let maria: Vec<_> = schedule()
                    .into_iter()
                    .filter(|a| a.id.0 == "a-maria")
                    .collect();
                let update = ScheduleUpdate {
                    full: false,
                    upserts: &maria,
                    forms_due: &[vec![form_id.into()]],
                    removals: &[],
                    forms: &[FormDefinition {
                        id: form_id.into(),
                        version: "v1".into(),
                        definition,
                    }],
                    crisis_text: None,
                    cursor: "c-2",
                };
                store.apply_update(&update, now()).expect("the form is due");
            },
        )
    }

    pub(super) fn with_store(
        tweak: impl FnOnce(&mut KioskContext),
        fill: impl FnOnce(&mut Store),
    ) -> Self {
        init_backend();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(now()));
        let mut store = Store::open(
            &dir.path().join("kiosk.db"),
            &dir.path().join("kiosk.key"),
            now(),
        )
        .unwrap();
        let signer = PassSigner::generate();
        store
            .save_enrollment(&Enrollment {
                server_url: "http://127.0.0.1:9".parse().unwrap(),
                kiosk_id: KioskId("kiosk-1".into()),
                device_token: "secret".into(),
                pass_public_key: signer.public_key_b64(),
                clinic: ClinicSettings {
                    clinic_id: "c1".into(),
                    name: "Riverside Family Clinic".into(),
                    time_zone: TZ.name().into(),
                    currency: "USD".into(),
                    locations: vec!["main".into()],
                    payment_link: Some("https://pay.example.org/p/{reference}".into()),
                    allow_bill_later: true,
                },
                enrolled_at: now(),
            })
            .unwrap();
        store
            .apply_schedule(true, &schedule(), &[], "c-1", now())
            .unwrap();
        fill(&mut store);
        let mut flow = FlowSettings::with_location(LocationId("main".into()));
        flow.allow_bill_later = true;
        let mut context = KioskContext {
            clinic_id: ClinicId("c1".into()),
            clinic_name: "Riverside Family Clinic".into(),
            time_zone: TZ,
            payment_link: Some("https://pay.example.org/p/{reference}".into()),
            flow,
            self_pay: Some(Money::new(15_000, Currency::USD)),
            clock_24h: false,
        };
        tweak(&mut context);
        let controller = CheckInController::new(
            StoreRepository {
                store,
                kiosk_id: KioskId("kiosk-1".into()),
            },
            context,
            Some(signer.verifier()),
            clock.clone(),
            LookupThrottle::standard(),
        );
        let window = AppWindow::new().unwrap();
        window
            .window()
            .set_size(slint::PhysicalSize::new(1080, 1920));
        window.show().unwrap();
        let ui = KioskUi::connect(
            &window,
            controller,
            "Riverside Family Clinic",
            Timings::default(),
        );
        Self {
            _dir: dir,
            window,
            ui,
            signer,
            clock,
            taps: 0,
        }
    }

    pub(super) fn screen(&self) -> Screen {
        self.window.global::<KioskAdapter>().get_screen()
    }

    pub(super) fn find(&self, label: &str) -> Option<ElementHandle> {
        ElementHandle::find_by_accessible_label(&self.window, label).next()
    }

    fn sees(&self, label: &str) -> bool {
        self.find(label).is_some()
    }

    /// Presses the control with this accessible label, as a patient would.
    pub(super) fn tap(&mut self, label: &str) {
        let el = self
            .find(label)
            .unwrap_or_else(|| panic!("no control labelled {label:?} on {:?}", self.screen()));
        assert_ne!(
            el.accessible_enabled(),
            Some(false),
            "{label:?} is disabled"
        );
        el.invoke_accessible_default_action();
        self.taps += 1;
    }

    /// Types on the on-screen keypad or keyboard, one key per character.
    pub(super) fn keys(&mut self, text: &str) {
        for c in text.chars() {
            let label = if c == ' ' {
                "Space".to_string()
            } else {
                c.to_string()
            };
            self.tap(&label);
        }
    }

    /// Types a pass the way a keyboard-wedge scanner does: a burst, then Enter.
    pub(super) fn scan(&self, text: &str) {
        self.scan_burst(&format!("{text}\n"));
    }

    /// Types `text` as a scanner burst, with no Enter at the end.
    pub(super) fn scan_burst(&self, text: &str) {
        for c in text.chars() {
            let text: slint::SharedString = c.to_string().into();
            self.window
                .window()
                .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            self.window
                .window()
                .dispatch_event(WindowEvent::KeyReleased { text });
        }
    }

    pub(super) fn pass_for(&self, id: &str, expires_in: chrono::Duration) -> String {
        self.signer
            .sign(&PassClaims {
                clinic_id: ClinicId("c1".into()),
                appointment_id: AppointmentId(id.into()),
                expires_at: (now() + expires_in).timestamp(),
            })
            .unwrap()
    }

    /// The kinds of the outbox events for an appointment, in order.
    pub(super) fn outbox(&self, id: &str) -> Vec<String> {
        self.ui.with_controller(|c| {
            c.repository()
                .store
                .events_for(&AppointmentId(id.into()))
                .unwrap()
                .into_iter()
                .map(|item| match &item.envelope.body {
                    checkin_kiosk::protocol::EventBody::Flag { code, .. } => format!("flag:{code}"),
                    other => other.kind().to_string(),
                })
                .collect()
        })
    }

    fn flags(&self, id: &str) -> Vec<String> {
        self.outbox(id)
            .into_iter()
            .filter_map(|k| k.strip_prefix("flag:").map(str::to_string))
            .collect()
    }

    /// The pending outbox events that belong to no appointment.
    fn unattached_flags(&self) -> Vec<String> {
        self.ui.with_controller(|c| {
            c.repository()
                .store
                .pending(1000)
                .unwrap()
                .into_iter()
                .filter(|i| i.envelope.appointment_id.is_none())
                .filter_map(|i| match i.envelope.body {
                    checkin_kiosk::protocol::EventBody::Flag { code, .. } => Some(code),
                    _ => None,
                })
                .collect()
        })
    }

    pub(super) fn elapse(&self, d: Duration) {
        // The tick runs every second; advance a second at a time.
        for _ in 0..d.as_secs() {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        }
    }

    pub(super) fn dob_path(&mut self, digits: &str, letters: &str) {
        self.tap("Use my date of birth");
        self.keys(digits);
        self.tap("Next");
        self.keys(letters);
        self.tap("Find my appointment");
    }

    /// Every text on screen, for privacy checks.
    pub(super) fn all_text(&self) -> String {
        let mut out = String::new();
        for el in i_slint_backend_testing::ElementQuery::from_root(&self.window)
            .match_descendants()
            .find_all()
        {
            if let Some(l) = el.accessible_label() {
                out.push_str(&l);
                out.push('\n');
            }
            if let Some(v) = el.accessible_value() {
                out.push_str(&v);
                out.push('\n');
            }
        }
        out
    }
}

#[test]
fn qr_happy_path_takes_four_taps_after_the_scan() {
    let mut k = Kiosk::new();
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(k.sees("Scan your check-in code"));
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    assert!(
        k.sees("Maria G. — 10:00 AM with Dr. Patel"),
        "{}",
        k.all_text()
    );
    assert!(k.sees("Phone: •••-•••-0134"));
    k.tap("This is correct");
    assert_eq!(k.screen(), Screen::Insurance);
    assert!(k.sees("Member ID: ••••3456"));
    k.tap("Still correct");
    assert_eq!(k.screen(), Screen::Copay);
    assert!(k.sees("Amount due: $25.00"));
    k.tap("Pay at the front desk");
    assert_eq!(k.screen(), Screen::Done);
    // The product's bound is four taps; BENCHMARKS.md records the count.
    assert_eq!(k.taps, 3, "taps after the scan");
    assert_eq!(
        k.outbox("a-maria"),
        [
            "phi_viewed",
            "arrived",
            "phi_viewed",
            "demographics_confirmed",
            "phi_viewed",
            "phi_viewed",
            "copay_chosen",
            "checked_in"
        ]
    );
    // Done returns to Welcome by itself after 10 s, with nothing left on screen.
    k.elapse(Duration::from_secs(10));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.all_text().contains("Maria"));
}

#[test]
fn back_from_the_contact_details_starts_over_and_tells_the_desk() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    k.tap("Back");
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.all_text().contains("Maria"), "{}", k.all_text());
    let outbox = k.outbox("a-maria");
    assert_eq!(outbox.first().map(String::as_str), Some("phi_viewed"));
    assert!(outbox.iter().any(|e| e == "arrived"));
    assert_eq!(
        outbox.last().map(String::as_str),
        Some("flag:incomplete_checkin"),
        "the desk sees an unfinished check-in: {outbox:?}"
    );
}

#[test]
fn dob_path_takes_six_screens() {
    let mut k = Kiosk::new();
    let mut screens = vec![];
    k.tap("Use my date of birth");
    screens.push(k.screen());
    k.keys("05171980");
    assert!(k.sees("Date of birth"));
    k.tap("Next");
    screens.push(k.screen());
    k.keys("GAR");
    k.tap("Find my appointment");
    screens.push(k.screen());
    assert!(k.sees("Maria G. — 10:00 AM with Dr. Patel"));
    k.tap("This is correct");
    screens.push(k.screen());
    k.tap("Still correct");
    screens.push(k.screen());
    k.tap("Pay at the front desk");
    screens.push(k.screen());
    assert_eq!(
        screens,
        [
            Screen::EnterDob,
            Screen::EnterName,
            Screen::Demographics,
            Screen::Insurance,
            Screen::Copay,
            Screen::Done
        ]
    );
    // The product's bound is six screens; BENCHMARKS.md records the counts.
    assert_eq!(screens.len(), 6);
    assert_eq!(k.taps, 17, "taps from Welcome to Done");
    let out = k.outbox("a-maria");
    assert!(out.contains(&"arrived".to_string()) && out.ends_with(&["checked_in".to_string()]));
}

#[test]
fn a_bad_date_gets_a_specific_message_and_stays() {
    let mut k = Kiosk::new();
    k.tap("Use my date of birth");
    k.keys("13171980");
    k.tap("Next");
    assert_eq!(k.screen(), Screen::EnterDob);
    assert!(k.sees("The month must be from 01 to 12."));
    k.tap("Clear");
    k.keys("02301980");
    k.tap("Next");
    assert!(k.sees("That day does not exist in that month."));
    k.tap("Delete");
    k.keys("0");
    assert!(!k.sees("That day does not exist in that month."));
}

#[test]
fn twins_choose_by_time_and_clinician_only() {
    let mut k = Kiosk::new();
    k.dob_path("03042010", "RIV");
    assert_eq!(k.screen(), Screen::Choose);
    let text = k.all_text();
    assert!(text.contains("10:15 AM with Dr. Patel"), "{text}");
    assert!(text.contains("10:30 AM with Dr. Nguyen"));
    assert!(
        !text.contains("Luis") && !text.contains("Lucía"),
        "no names before a choice"
    );
    k.tap("10:30 AM with Dr. Nguyen");
    assert_eq!(k.screen(), Screen::Demographics);
    assert!(k.sees("Lucía R. — 10:30 AM with Dr. Nguyen"));
    assert_eq!(k.flags("a-luis"), Vec::<String>::new());
    assert!(k.outbox("a-lucia").contains(&"arrived".to_string()));
    assert!(
        k.unattached_flags()
            .contains(&"multiple_matches".to_string())
    );
}

/// Every part's render count, in a fixed order.
fn render_counts(k: &Kiosk) -> Vec<(Part, u64)> {
    [
        Part::Shell,
        Part::Dob,
        Part::Name,
        Part::NotFound,
        Part::Choose,
        Part::PassRejected,
        Part::SeeDesk,
        Part::Demographics,
        Part::EditDemographics,
        Part::Insurance,
        Part::EditInsurance,
        Part::CoPay,
        Part::PayPhone,
        Part::Done,
        Part::Help,
    ]
    .into_iter()
    .map(|p| (p, k.ui.render_count(p)))
    .collect()
}

#[test]
fn a_render_sets_only_the_parts_that_changed() {
    let mut k = Kiosk::new();
    k.tap("Use my date of birth");
    let before = render_counts(&k);
    k.keys("0304");
    let after = render_counts(&k);
    for ((part, was), (_, now)) in before.iter().zip(&after) {
        let expected = if *part == Part::Dob { was + 4 } else { *was };
        assert_eq!(*now, expected, "{part:?} after four digits");
    }
    // The clock's tick shows the countdown and renders no part.
    let left = k.window.global::<KioskAdapter>().get_idle_seconds_left();
    k.elapse(Duration::from_secs(3));
    assert_eq!(render_counts(&k), after);
    assert_eq!(
        k.window.global::<KioskAdapter>().get_idle_seconds_left(),
        left - 3
    );
    // The list of matches keeps its model while the matches stay the same.
    k.keys("2010");
    k.tap("Next");
    k.keys("RIV");
    k.tap("Find my appointment");
    assert_eq!(k.screen(), Screen::Choose);
    let choices = |k: &Kiosk| {
        k.window
            .global::<checkin_kiosk::kiosk::ui::ChooseAdapter>()
            .get_choices()
    };
    let model = choices(&k);
    assert_eq!(model.row_count(), 2);
    k.tap("I need help");
    k.tap("Continue check-in");
    assert_eq!(k.screen(), Screen::Choose);
    assert!(choices(&k) == model, "a new model for the same matches");
}

#[test]
fn three_misses_call_for_help() {
    let mut k = Kiosk::new();
    k.dob_path("01011999", "ZZZ");
    assert_eq!(k.screen(), Screen::NotFound);
    // What was typed shows, the year's first digits hidden.
    assert!(
        k.sees("Date of birth you typed: 01 / 01 / ••99"),
        "{}",
        k.all_text()
    );
    assert!(k.sees("Letters you typed: ZZZ"));
    assert!(!k.all_text().contains("1999"));
    // Try again keeps the date and the letters.
    k.tap("Try again");
    assert_eq!(
        k.window
            .global::<checkin_kiosk::kiosk::ui::DobAdapter>()
            .get_digits(),
        "01011999"
    );
    k.tap("Next");
    assert_eq!(
        k.window
            .global::<checkin_kiosk::kiosk::ui::NameAdapter>()
            .get_letters(),
        "ZZZ"
    );
    k.tap("Find my appointment");
    assert_eq!(k.screen(), Screen::NotFound);
    k.tap("Try again");
    k.tap("Next");
    k.tap("Find my appointment");
    assert_eq!(k.screen(), Screen::Help);
    assert!(k.sees("Someone from the front desk is coming"));
    assert_eq!(k.unattached_flags(), ["identity_not_found"]);
    k.tap("Start over");
    assert_eq!(k.screen(), Screen::Welcome);
}

#[test]
fn updating_demographics_sends_a_proposal() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("Update");
    assert_eq!(k.screen(), Screen::EditDemographics);
    k.tap("Save changes");
    assert!(k.sees("Please type at least one new detail, or go back."));
    k.tap("Phone");
    k.keys("5415550000");
    k.tap("Save changes");
    assert_eq!(k.screen(), Screen::Insurance);
    let out = k.outbox("a-maria");
    assert!(
        out.contains(&"demographics_proposed".to_string()),
        "{out:?}"
    );
    assert!(
        k.flags("a-maria")
            .contains(&"demographics_changed".to_string())
    );
}

#[test]
fn an_emergency_contact_can_be_added_when_none_is_on_file() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-noah", chrono::Duration::hours(8));
    k.scan(&pass);
    assert!(k.sees("Emergency contact: Not on file. Choose \"Update\" to add one."));
    k.tap("Update");
    k.tap("Emergency contact");
    k.tap("Contact's phone");
    k.keys("5415550111");
    k.tap("Save changes");
    assert!(k.sees("Please type the emergency contact's name too."));
    k.keys("ANA OKAFOR");
    k.tap("Contact's phone");
    for _ in 0..10 {
        k.tap("Delete");
    }
    k.tap("Save changes");
    assert!(k.sees("Please type the emergency contact's phone number too."));
    k.keys("5415550111");
    k.tap("Relationship");
    k.keys("SISTER");
    k.tap("Save changes");
    assert_eq!(k.screen(), Screen::Insurance);
    assert!(
        k.outbox("a-noah")
            .contains(&"demographics_proposed".to_string())
    );
}

#[test]
fn the_keyboard_types_small_and_accented_letters() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-noah", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("Update");
    k.tap("Emergency contact");
    k.keys("J");
    k.tap("Small letters");
    k.keys("os");
    k.tap("Accented letters");
    k.keys("é");
    k.tap("Letters A to Z");
    k.keys(" ");
    k.tap("Capital letters");
    k.keys("N");
    k.tap("Small letters");
    k.keys("u");
    k.tap("Accented letters");
    k.keys("ñ");
    k.tap("Letters A to Z");
    k.keys("ez");
    let form = k
        .window
        .global::<checkin_kiosk::kiosk::ui::EditDemographicsAdapter>();
    assert_eq!(form.get_contact_name(), "José Nuñez");
    // The last-name search takes accented letters too, and ignores them.
    let mut k = Kiosk::new();
    k.tap("Use my date of birth");
    k.keys("05171980");
    k.tap("Next");
    k.keys("G");
    k.tap("Accented letters");
    k.keys("Á");
    k.tap("Letters A to Z");
    k.keys("R");
    assert_eq!(
        k.window
            .global::<checkin_kiosk::kiosk::ui::NameAdapter>()
            .get_letters(),
        "GÁR"
    );
    k.tap("Find my appointment");
    assert_eq!(k.screen(), Screen::Demographics);
}

/// Types `bad` into `field`, saves, checks the form stays with `message`
/// and nothing was recorded, then deletes what was typed.
fn refused_edit(k: &mut Kiosk, field: &str, bad: &str, save: &str, message: &str) {
    let before = k.outbox("a-maria");
    k.tap(field);
    k.keys(bad);
    k.tap(save);
    assert!(k.sees(message), "{field} {bad:?}: no {message:?}");
    assert!(
        matches!(k.screen(), Screen::EditDemographics | Screen::EditInsurance),
        "{:?}",
        k.screen()
    );
    assert_eq!(k.outbox("a-maria"), before, "{field} {bad:?} was recorded");
    for _ in bad.chars() {
        k.tap("Delete");
    }
}

#[test]
fn every_field_rule_has_its_own_message_and_records_nothing() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("Update");
    let save = "Save changes";
    refused_edit(
        &mut k,
        "Street",
        "1 MAIN @",
        save,
        "Please check the street: use letters, numbers and . , ' # - /",
    );
    refused_edit(
        &mut k,
        "City",
        "SALEM 2",
        save,
        "Please check the city: use letters only.",
    );
    refused_edit(
        &mut k,
        "State",
        "ZZ",
        save,
        "Please type the two-letter state, such as NY.",
    );
    refused_edit(
        &mut k,
        "ZIP code",
        "123",
        save,
        "Please type a 5-digit ZIP code.",
    );
    refused_edit(
        &mut k,
        "Phone",
        "AIJ28",
        save,
        "Please type a 10-digit phone number, such as 212 555 0123.",
    );
    refused_edit(
        &mut k,
        "Email",
        "AB",
        save,
        "Please check the email, such as NAME@EXAMPLE.COM.",
    );
    refused_edit(
        &mut k,
        "Apt or unit",
        "4B @",
        save,
        "Please check the apartment or unit: use letters, numbers and . , ' # - /",
    );
    // The contact's fields are behind the "Emergency contact" chip.
    k.tap("Emergency contact");
    refused_edit(
        &mut k,
        "Contact's name",
        "ANA 2",
        save,
        "Please check the contact's name: use letters, spaces, ' and -.",
    );
    refused_edit(
        &mut k,
        "Contact's phone",
        "12",
        save,
        "Please type the contact's 10-digit phone number, such as 212 555 0123.",
    );
    refused_edit(
        &mut k,
        "Relationship",
        "SIS2",
        save,
        "Please check the relationship: use letters only, such as SISTER.",
    );
    // Corrected, the same form goes through.
    k.tap("Address and phone");
    k.tap("Phone");
    k.keys("2125550123");
    k.tap(save);
    assert_eq!(k.screen(), Screen::Insurance);

    k.tap("It changed");
    let save = "Save insurance";
    k.tap("Member ID");
    k.keys("W123456789");
    refused_edit(
        &mut k,
        "Insurance company",
        "AETNA @",
        save,
        "Please check the insurance company: use letters, numbers and . , & -",
    );
    k.tap("Insurance company");
    k.keys("AETNA");
    k.tap("Member ID");
    for _ in "W123456789".chars() {
        k.tap("Delete");
    }
    refused_edit(
        &mut k,
        "Member ID",
        "AB",
        save,
        "Please check the member ID: at least 3 letters or numbers.",
    );
    k.tap("Member ID");
    k.keys("W123456789");
    refused_edit(
        &mut k,
        "Group (optional)",
        "G#1",
        save,
        "Please check the group: use letters and numbers.",
    );
    k.tap(save);
    assert_eq!(k.screen(), Screen::Copay);
}

#[test]
fn insurance_changed_and_no_insurance() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    k.tap("It changed");
    assert_eq!(k.screen(), Screen::EditInsurance);
    k.keys("AETNA");
    k.tap("Save insurance");
    assert!(k.sees("Please type the member ID."));
    k.tap("Member ID");
    k.keys("W123456789");
    k.tap("Save insurance");
    assert_eq!(k.screen(), Screen::Copay);
    assert!(
        k.flags("a-maria")
            .contains(&"insurance_changed".to_string())
    );

    let mut k = Kiosk::new();
    let pass = k.pass_for("a-noah", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    assert!(k.sees("We do not have insurance on file for you."));
    assert!(!k.sees("Still correct"));
    k.tap("I have no insurance");
    assert_eq!(k.screen(), Screen::Insurance);
    assert!(k.sees("Continue without insurance?"));
    assert!(
        k.flags("a-noah").iter().all(|f| f != "self_pay_selected"),
        "nothing recorded before the answer"
    );
    k.tap("No, go back");
    assert!(k.sees("I have no insurance"));
    k.tap("I have no insurance");
    k.tap("Yes, I have no insurance");
    assert_eq!(k.screen(), Screen::Copay);
    // Self-pay wording and the clinic's amount, never the plan's co-pay.
    assert!(k.sees("Paying for your visit yourself"));
    assert!(k.sees("Amount due: $150.00"), "{}", k.all_text());
    assert!(!k.all_text().contains("$25.00"));
    k.tap("Pay at the front desk");
    assert!(k.sees("You chose to pay $150.00 at the front desk."));
    let flags = k.flags("a-noah");
    assert!(flags.contains(&"insurance_missing".to_string()));
    assert!(flags.contains(&"self_pay_selected".to_string()));
}

#[test]
fn back_on_every_screen_after_the_match_but_done() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    k.tap("Back");
    assert_eq!(
        k.screen(),
        Screen::Demographics,
        "insurance goes back to the details"
    );
    k.tap("This is correct");
    k.tap("Still correct");
    assert_eq!(k.screen(), Screen::Copay);
    k.tap("Back");
    assert_eq!(k.screen(), Screen::Insurance);
    k.tap("Still correct");
    k.tap("Pay on my phone");
    k.tap("Back");
    assert_eq!(k.screen(), Screen::Copay);
    k.tap("Pay on my phone");
    k.tap("I've paid");
    assert_eq!(k.screen(), Screen::Done);
    assert!(k.sees("Success"));
    assert!(
        k.sees("You chose to pay $25.00 on your phone."),
        "{}",
        k.all_text()
    );
    assert!(!k.sees("Back"));
    // The twins' choice goes back to the letters.
    let mut k = Kiosk::new();
    k.dob_path("03042010", "RIV");
    k.tap("Back");
    assert_eq!(k.screen(), Screen::EnterName);
}

#[test]
fn the_progress_header_counts_the_steps_this_patient_sees() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert!(k.sees("Step 1 of 3"), "{}", k.all_text());
    k.tap("This is correct");
    assert!(k.sees("Step 2 of 3"));
    let mut k = Kiosk::new();
    k.dob_path("05171980", "GAR");
    assert!(k.sees("Step 2 of 4"));
}

#[test]
fn offline_the_kiosk_asks_the_patient_to_tell_the_desk() {
    let mut k = Kiosk::new();
    checkin_kiosk::kiosk::adapters::show_connection(
        &k.window,
        checkin_kiosk::kiosk::adapters::ConnectionMark {
            online: false,
            waiting: 3,
        },
    );
    let pass = k.pass_for("a-late", chrono::Duration::hours(8));
    k.scan(&pass);
    assert!(k.sees("You are late for your appointment. Please tell the front desk."));
    assert!(!k.all_text().contains("has been told"));
    k.tap("I need help");
    assert!(k.sees("Please go to the front desk"));
    assert!(!k.sees("Someone from the front desk is coming"));
    let k = Kiosk::new();
    let pass = k.pass_for("a-done", chrono::Duration::hours(8));
    k.scan(&pass);
    assert!(k.sees("You are already checked in"));
    assert!(!k.sees("Please see the front desk"));
}

#[test]
fn each_copay_choice() {
    for (label, expect_screen) in [
        ("Pay at the front desk", Screen::Done),
        ("Bill me later", Screen::Done),
        ("Pay on my phone", Screen::PayPhone),
    ] {
        let mut k = Kiosk::new();
        let pass = k.pass_for("a-bal", chrono::Duration::hours(8));
        k.scan(&pass);
        k.tap("This is correct");
        k.tap("Still correct");
        assert!(k.all_text().contains("$42.50"), "the balance is shown");
        k.tap(label);
        assert_eq!(k.screen(), expect_screen, "{label}");
        if expect_screen == Screen::PayPhone {
            assert!(k.sees("Payment code"));
            assert!(k.sees("Reference: a-bal") || k.all_text().contains("a-bal"));
            k.tap("I've paid");
            assert_eq!(k.screen(), Screen::Done);
        }
        let out = k.outbox("a-bal");
        assert!(out.contains(&"copay_chosen".to_string()));
        assert_eq!(out.last().map(String::as_str), Some("checked_in"));
        assert!(k.flags("a-bal").contains(&"balance_due".to_string()));
    }
}

#[test]
fn an_expired_pass_offers_the_dob_path() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", -chrono::Duration::minutes(1));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::PassRejected);
    assert!(k.sees("This check-in code has expired."));
    assert!(!k.all_text().contains("Maria"));
    assert_eq!(k.unattached_flags(), ["pass_invalid"]);
    k.tap("Use my date of birth");
    assert_eq!(k.screen(), Screen::EnterDob);
    // Random bytes from the scanner are refused the same way, without a panic.
    let k = Kiosk::new();
    k.scan("CK1.%%%.garbage");
    assert!(k.sees("This code could not be read as a check-in code."));
}

#[test]
fn too_early_sends_to_the_desk_and_late_carries_on() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-early", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::SeeDesk);
    assert!(k.sees("You are early for your appointment. The front desk will help you."));
    assert!(k.flags("a-early").contains(&"too_early".to_string()));
    k.tap("Finish");
    assert_eq!(k.screen(), Screen::Welcome);

    let k = Kiosk::new();
    let pass = k.pass_for("a-late", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    assert!(k.sees("You are late for your appointment. The front desk has been told."));
    assert!(k.flags("a-late").contains(&"late".to_string()));
}

#[test]
fn help_mid_flow_flags_the_step_and_resumes() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    k.tap("I need help");
    assert_eq!(k.screen(), Screen::Help);
    assert!(k.sees("Someone from the front desk is coming"));
    assert!(k.flags("a-maria").contains(&"help_requested".to_string()));
    k.tap("Continue check-in");
    assert_eq!(k.screen(), Screen::Insurance);
}

#[test]
fn help_on_a_small_portrait_screen_continues_where_the_patient_was() {
    let mut k = Kiosk::new();
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(800, 1280));
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("Update");
    k.tap("Phone");
    k.keys("541");
    k.tap("I need help");
    assert_eq!(k.screen(), Screen::Help);
    let el = k.find("Continue check-in").unwrap();
    let (pos, size) = (el.absolute_position(), el.size());
    assert!(
        pos.y >= 0.0 && pos.y + size.height <= 1280.0,
        "Continue check-in is on screen"
    );
    el.mock_single_click(slint::platform::PointerEventButton::Left);
    assert_eq!(k.screen(), Screen::EditDemographics);
    assert_eq!(
        k.window
            .global::<checkin_kiosk::kiosk::ui::EditDemographicsAdapter>()
            .get_phone(),
        "541",
        "what was typed is still there"
    );
}

#[test]
fn while_help_comes_the_idle_reset_waits_longer() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("I need help");
    k.elapse(Duration::from_secs(61));
    assert_eq!(k.screen(), Screen::Help, "not reset at the usual 60 s");
    assert!(!k.window.global::<KioskAdapter>().get_idle_warning());
    // The warning comes 15 s before the 5-minute reset, as it does
    // before the usual one.
    k.elapse(Duration::from_secs(285 - 61));
    assert!(k.window.global::<KioskAdapter>().get_idle_warning());
    k.elapse(Duration::from_secs(15));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(
        k.flags("a-maria")
            .contains(&"incomplete_checkin".to_string())
    );
}

#[test]
fn idle_warning_then_reset_clears_every_trace() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("Update");
    k.tap("Phone");
    k.keys("5415550000");
    k.elapse(Duration::from_secs(44));
    assert!(!k.window.global::<KioskAdapter>().get_idle_warning());
    k.elapse(Duration::from_secs(1));
    assert!(k.window.global::<KioskAdapter>().get_idle_warning());
    assert!(k.sees("I'm still here"));
    k.elapse(Duration::from_secs(15));
    assert_eq!(k.screen(), Screen::Welcome);
    let text = k.all_text();
    for secret in [
        "Maria",
        "García",
        "5415550000",
        "0134",
        "Dr. Patel",
        "10:00",
    ] {
        assert!(!text.contains(secret), "{secret} left on screen: {text}");
    }
    // No adapter property keeps PHI either: every text, image and list
    // property of every adapter global, as the .slint sources declare them.
    let w = &k.window;
    let read = phi_properties(w);
    let read_names: std::collections::BTreeSet<(String, String)> = read
        .iter()
        .map(|(g, p, _)| (g.clone(), p.clone()))
        .collect();
    let declared: std::collections::BTreeSet<(String, String)> = declared_adapter_properties()
        .into_iter()
        .filter(|(g, p)| !NOT_PHI.iter().any(|(ng, np, _)| ng == g && np == p))
        .collect();
    assert_eq!(
        declared, read_names,
        "every PHI-capable adapter property must be read by phi_properties() or listed in NOT_PHI"
    );
    for (global, property, residue) in read {
        assert_eq!(
            residue, None,
            "{global}.{property} kept a value after the reset"
        );
    }
    assert_eq!(
        w.global::<checkin_kiosk::kiosk::ui::DobAdapter>()
            .get_display(),
        "MM / DD / YYYY",
        "the date guide shows no typed digit"
    );
    assert!(
        k.flags("a-maria")
            .contains(&"incomplete_checkin".to_string())
    );
}

/// Adapter properties that can hold text, an image or a list but never
/// patient data, with why.
const NOT_PHI: &[(&str, &str, &str)] = &[
    ("KioskAdapter", "clinic-name", "the clinic's name"),
    ("KioskAdapter", "language", "the language code"),
    ("WelcomeAdapter", "clinic-name", "the clinic's name"),
    (
        "DobAdapter",
        "display",
        "the date guide; checked on its own",
    ),
];

/// Every `string`, `image` and list property of every `*Adapter` global
/// the .slint sources declare, as (global, property).
fn declared_adapter_properties() -> std::collections::BTreeSet<(String, String)> {
    fn visit(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                visit(&p, out);
            } else if p.extension().is_some_and(|x| x == "slint") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    visit(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui"),
        &mut files,
    );
    let mut found = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut global: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("export global ") {
                let name = rest.split_whitespace().next().unwrap_or("");
                global = name.ends_with("Adapter").then(|| name.to_string());
            } else if line.starts_with('}') {
                global = None;
            } else if let Some(g) = &global {
                let decl = ["in property <", "in-out property <", "out property <"]
                    .iter()
                    .find_map(|p| t.strip_prefix(p));
                if let Some((ty, rest)) = decl.and_then(|d| d.split_once('>')) {
                    let name: String = rest
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if ty == "string" || ty == "image" || ty.starts_with('[') {
                        found.insert((g.clone(), name));
                    }
                }
            }
        }
    }
    found
}

/// What a property still holds, if anything.
trait Residue {
    fn residue(&self) -> Option<String>;
}

impl Residue for slint::SharedString {
    fn residue(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

impl Residue for slint::Image {
    fn residue(&self) -> Option<String> {
        let size = self.size();
        (size.width > 0 && size.height > 0)
            .then(|| format!("a {}x{} image", size.width, size.height))
    }
}

impl<T: Clone + 'static> Residue for slint::ModelRc<T> {
    fn residue(&self) -> Option<String> {
        (self.row_count() > 0).then(|| format!("{} rows", self.row_count()))
    }
}

/// Reads the listed getters of each global: (global, property, residue).
/// The property name is the getter's without `get_`, in Slint's spelling.
macro_rules! read_properties {
    ($w:expr; $($global:ident: $($getter:ident),+;)+) => {{
        let mut out: Vec<(String, String, Option<String>)> = Vec::new();
        $(
            let g = $w.global::<checkin_kiosk::kiosk::ui::$global>();
            $(
                out.push((
                    stringify!($global).to_string(),
                    stringify!($getter).trim_start_matches("get_").replace('_', "-"),
                    g.$getter().residue(),
                ));
            )+
        )+
        out
    }};
}

/// Every adapter property that can carry patient data.
fn phi_properties(
    w: &checkin_kiosk::kiosk::ui::AppWindow,
) -> Vec<(String, String, Option<String>)> {
    read_properties!(w;
        KioskAdapter: get_patient_name, get_appointment_time, get_clinician;
        ChooseAdapter: get_choices;
        CoPayAdapter: get_amount, get_balance;
        DemographicsAdapter: get_address, get_phone, get_email, get_emergency_contact;
        DobAdapter: get_digits;
        EditDemographicsAdapter: get_street, get_apartment, get_city, get_region, get_postal_code,
            get_phone, get_email, get_contact_name, get_contact_phone, get_contact_relation;
        EditInsuranceAdapter: get_payer, get_member_id, get_group;
        InsuranceAdapter: get_payer, get_plan, get_member_id;
        NameAdapter: get_letters;
        NotFoundAdapter: get_dob, get_letters;
        DoneAdapter: get_amount;
        PayPhoneAdapter: get_qr, get_amount, get_reference;
        FormAdapter: get_form_title, get_text, get_group_title, get_options, get_typed,
            get_signature, get_crisis_text;
    )
}

#[test]
fn still_here_keeps_the_session() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.elapse(Duration::from_secs(46));
    k.tap("I'm still here");
    assert!(!k.window.global::<KioskAdapter>().get_idle_warning());
    k.elapse(Duration::from_secs(30));
    assert_eq!(k.screen(), Screen::Demographics);
}

#[test]
fn switching_to_spanish_mid_flow_keeps_progress() {
    let mut k = Kiosk::new();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    k.tap("Español");
    assert_eq!(k.screen(), Screen::Insurance);
    assert!(k.sees("Sigue igual"), "{}", k.all_text());
    assert!(k.sees("Necesito ayuda"));
    assert!(k.sees("Maria G. — 10:00 a. m. con Dr. Patel"));
    k.tap("Sigue igual");
    assert!(k.sees("Pagar en la recepción"));
    k.tap("English");
    assert!(k.sees("Pay at the front desk"));
    k.tap("Pay at the front desk");
    assert_eq!(k.screen(), Screen::Done);
}

#[test]
fn a_scan_never_lands_in_a_field() {
    let mut k = Kiosk::new();
    k.tap("Use my date of birth");
    k.keys("0517");
    // A scan on the keypad screen identifies the patient; the digits typed
    // so far are not touched by the scanner's characters.
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    // A scan after identification is ignored.
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
}

#[test]
fn repeated_misses_slow_the_kiosk_down() {
    let mut k = Kiosk::new();
    // Five misses a minute are free; each session allows three.
    for _ in 0..2 {
        k.dob_path("01011999", "ZZZ");
        for _ in 0..2 {
            k.tap("Try again");
            k.tap("Next");
            k.tap("Find my appointment");
        }
        k.tap("Start over");
    }
    // Six misses within the minute: the next search must wait.
    k.tap("Use my date of birth");
    k.keys("05171980");
    k.tap("Next");
    k.keys("GAR");
    assert_eq!(k.screen(), Screen::EnterName);
    k.find("Find my appointment")
        .unwrap()
        .invoke_accessible_default_action();
    assert_eq!(k.screen(), Screen::EnterName, "the search did not run");
    assert!(
        k.all_text().contains("seconds, then try again"),
        "{}",
        k.all_text()
    );
    k.clock.advance(chrono::Duration::seconds(61));
    k.elapse(Duration::from_secs(1));
    k.tap("Find my appointment");
    assert_eq!(k.screen(), Screen::Demographics);
}

/// Writes `target/screenshots/<name>.png` from the window as it is now.
fn snapshot(k: &Kiosk, name: &str) {
    let shot = k
        .window
        .window()
        .take_snapshot()
        .expect("software renderer snapshot");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.png"))).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), shot.width(), shot.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(shot.as_bytes()).unwrap();
    // A blank frame would mean nothing was drawn.
    let first = &shot.as_slice()[0];
    assert!(
        shot.as_slice().iter().any(|p| p != first),
        "{name} rendered as a single colour"
    );
}

/// The bundled Spanish catalogue as English → Spanish, so the tour can
/// press the same controls in either language.
fn spanish() -> std::collections::HashMap<String, String> {
    let po = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ui/translations/es/LC_MESSAGES/checkin-kiosk.po"
    ))
    .unwrap();
    let mut map = std::collections::HashMap::new();
    let mut msgid = None;
    for line in po.lines() {
        if let Some(rest) = line.strip_prefix("msgid \"") {
            msgid = Some(rest.trim_end_matches('"').to_string());
        } else if let Some(rest) = line.strip_prefix("msgstr \"")
            && let Some(id) = msgid.take()
        {
            map.insert(id, rest.trim_end_matches('"').to_string());
        }
    }
    map
}

/// Visits every screen and saves a picture of each.
fn tour(size: (u32, u32), lang: &str, suffix: &str) {
    let catalogue = spanish();
    let t = |en: &str| -> String {
        if lang == "es" {
            catalogue
                .get(en)
                .cloned()
                .unwrap_or_else(|| panic!("no Spanish for {en:?}"))
        } else {
            en.to_string()
        }
    };
    let shoot = |k: &mut Kiosk, name: &str| {
        snapshot(k, &format!("{name}-{suffix}"));
    };
    let fresh = || {
        let mut k = Kiosk::new();
        k.window
            .window()
            .set_size(slint::PhysicalSize::new(size.0, size.1));
        if lang == "es" {
            k.tap("Español");
        }
        k
    };
    let dob = |k: &mut Kiosk, digits: &str, letters: &str| {
        k.tap(&t("Use my date of birth"));
        k.keys(digits);
        k.tap(&t("Next"));
        k.keys(letters);
        k.tap(&t("Find my appointment"));
    };

    let mut k = fresh();
    shoot(&mut k, "01-welcome");
    k.tap(&t("Use my date of birth"));
    k.keys("0517");
    shoot(&mut k, "02-date-of-birth");
    k.keys("1980");
    k.tap(&t("Next"));
    k.keys("GA");
    shoot(&mut k, "03-last-name");
    k.keys("R");
    k.tap(&t("Find my appointment"));
    shoot(&mut k, "05-demographics");
    k.tap(&t("Update"));
    k.tap(&t("Phone"));
    k.keys("541555");
    shoot(&mut k, "06-edit-demographics");
    k.tap(&t("Back"));
    k.tap(&t("This is correct"));
    shoot(&mut k, "07-insurance");
    k.tap(&t("It changed"));
    k.keys("AETNA");
    shoot(&mut k, "08-edit-insurance");
    k.tap(&t("Back"));
    k.tap(&t("Still correct"));
    shoot(&mut k, "09-copay");
    k.tap(&t("Pay on my phone"));
    shoot(&mut k, "10-pay-on-phone");
    k.tap(&t("I've paid"));
    shoot(&mut k, "11-done");

    let mut k = fresh();
    dob(&mut k, "03042010", "RIV");
    shoot(&mut k, "04-choose-appointment");
    k.tap(&t("I need help"));
    shoot(&mut k, "12-help");

    let mut k = fresh();
    dob(&mut k, "01011999", "ZZZ");
    shoot(&mut k, "13-not-found");

    let mut k = fresh();
    let pass = k.pass_for("a-maria", -chrono::Duration::minutes(1));
    k.scan(&pass);
    shoot(&mut k, "14-pass-rejected");

    let mut k = fresh();
    let pass = k.pass_for("a-early", chrono::Duration::hours(8));
    k.scan(&pass);
    shoot(&mut k, "15-see-desk");

    let mut k = fresh();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.elapse(Duration::from_secs(46));
    shoot(&mut k, "16-idle-warning");
}

#[test]
fn screenshots_of_every_screen() {
    tour((1080, 1920), "en", "en-1080x1920");
    tour((1080, 1920), "es", "es-1080x1920");
    tour((1920, 1080), "en", "en-1920x1080");
    tour((800, 1280), "en", "en-800x1280");
    tour((800, 1280), "es", "es-800x1280");
    tour((1920, 1080), "es", "es-1920x1080");
}

#[test]
fn staff_answering_help_on_the_console_returns_the_kiosk_to_welcome() {
    let mut k = Kiosk::new();
    let (answers_tx, answers) = std::sync::mpsc::channel();
    let told = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = told.clone();
    k.ui.follow_help_answers(answers, move |waiting| record.borrow_mut().push(waiting));
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("I need help");
    k.elapse(Duration::from_secs(1));
    assert_eq!(*told.borrow(), vec![true], "the worker polls for answers");
    let help_flag = k.ui.with_controller(|c| {
        c.repository()
            .store
            .events_for(&AppointmentId("a-maria".into()))
            .unwrap()
            .into_iter()
            .find(|i| {
                matches!(&i.envelope.body,
                    checkin_kiosk::protocol::EventBody::Flag { code, .. } if code == "help_requested")
            })
            .map(|i| i.envelope.id)
            .unwrap()
    });
    // An answer to some other request leaves the patient waiting.
    answers_tx.send(vec![uuid::Uuid::new_v4()]).unwrap();
    k.elapse(Duration::from_secs(2));
    assert_eq!(k.screen(), Screen::Help);
    answers_tx.send(vec![help_flag]).unwrap();
    k.elapse(Duration::from_secs(1));
    assert_eq!(k.screen(), Screen::Welcome);
    assert_eq!(*told.borrow(), vec![true, false]);
    // The desk has the patient: no "incomplete check-in" flag follows.
    assert_eq!(k.flags("a-maria"), vec!["help_requested".to_string()]);
}
