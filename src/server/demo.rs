//! The deterministic demo clinic: 42 appointments across three clinicians,
//! laid out on a given day in the clinic's time zone, with the cases every
//! reason code needs (twins sharing a date of birth and last name, accented
//! and hyphenated names, expired and missing coverage, a balance due, a
//! minor, a checked-in and a cancelled appointment, one at another
//! location), plus one open sample flag per reason code for the console.
//!
//! The same day always gives the same data, so kiosk and browser tests can
//! seed it and rely on [`SAMPLES`] and [`scenarios`].

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::db::{Db, StorageError};
use super::staff;
use super::storage::schedule::{self, UpsertSummary, VisitFacts};
use super::storage::staff as storage;
use crate::config::{ClinicSettings, ServerConfig};
use crate::domain::{
    Address, Appointment, AppointmentId, AppointmentStatus, Coverage, Demographics,
    EmergencyContact, LocationId, Money, Patient, PatientId, ReasonCode, SubscriberRelation,
};

/// The demo's staff user.
pub const DEMO_USER: &str = "frontdesk";
/// The demo's clinicians.
pub const CLINICIANS: [&str; 3] = ["Dr. Patel", "Dr. Okafor", "Dr. Nguyen-Laurent"];
/// Appointments per clinician; 14 × 3 = 42.
pub const SLOTS: u32 = 14;

/// A patient worth trying at the kiosk, printed by `clinic-server demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Why this patient is interesting.
    pub label: &'static str,
    /// The appointment.
    pub appointment_id: &'static str,
    /// Given name.
    pub first_name: &'static str,
    /// Family name.
    pub last_name: &'static str,
    /// Date of birth, `(year, month, day)`.
    pub dob: (i32, u32, u32),
}

impl Sample {
    /// The date of birth on the demo `day`: the minor's is relative to it.
    pub fn date_of_birth(&self, day: NaiveDate) -> NaiveDate {
        let (y, m, d) = self.dob;
        let y = if y == 0 {
            chrono::Datelike::year(&day) - 11
        } else {
            y
        };
        ymd(y, m, d)
    }
}

/// The special patients, by appointment slot (`index` = clinician × 14 + slot).
const SPECIAL: &[(usize, Sample)] = &[
    (
        0,
        Sample {
            label: "returning patient, no changes (late once the day is under way)",
            appointment_id: "demo-001",
            first_name: "Maria",
            last_name: "García",
            dob: (1988, 4, 12),
        },
    ),
    (
        15,
        Sample {
            label: "twin of Maria García: same date of birth and last name",
            appointment_id: "demo-016",
            first_name: "Marta",
            last_name: "García",
            dob: (1988, 4, 12),
        },
    ),
    (
        2,
        Sample {
            label: "accented name",
            appointment_id: "demo-003",
            first_name: "José",
            last_name: "Núñez",
            dob: (1975, 11, 3),
        },
    ),
    (
        17,
        Sample {
            label: "hyphenated name",
            appointment_id: "demo-018",
            first_name: "Anne-Marie",
            last_name: "O'Connor-Hughes",
            dob: (1962, 7, 21),
        },
    ),
    (
        4,
        Sample {
            label: "expired coverage",
            appointment_id: "demo-005",
            first_name: "Zoë",
            last_name: "Brontë-Smith",
            dob: (1991, 1, 30),
        },
    ),
    (
        19,
        Sample {
            label: "no coverage on file",
            appointment_id: "demo-020",
            first_name: "Liam",
            last_name: "Walsh",
            dob: (1983, 9, 9),
        },
    ),
    (
        6,
        Sample {
            label: "prior balance due",
            appointment_id: "demo-007",
            first_name: "Grace",
            last_name: "Okonkwo",
            dob: (1957, 5, 14),
        },
    ),
    (
        21,
        Sample {
            label: "minor (age 11)",
            appointment_id: "demo-022",
            first_name: "Noah",
            last_name: "Kim",
            dob: (0, 6, 1),
        },
    ),
    (
        8,
        Sample {
            label: "already checked in",
            appointment_id: "demo-009",
            first_name: "Ahmed",
            last_name: "Haddad",
            dob: (1970, 12, 25),
        },
    ),
    (
        23,
        Sample {
            label: "cancelled appointment",
            appointment_id: "demo-024",
            first_name: "Sofia",
            last_name: "Rossi",
            dob: (1999, 2, 28),
        },
    ),
    (
        10,
        Sample {
            label: "booked at another location",
            appointment_id: "demo-011",
            first_name: "Kenji",
            last_name: "Watanabe",
            dob: (1980, 8, 8),
        },
    ),
    (
        41,
        Sample {
            label: "last appointment of the day (too early in the morning)",
            appointment_id: "demo-042",
            first_name: "Chloé",
            last_name: "Lefèvre",
            dob: (1994, 3, 17),
        },
    ),
];

/// The printed samples, in a stable order.
pub const SAMPLES: [Sample; 12] = [
    SPECIAL[0].1,
    SPECIAL[1].1,
    SPECIAL[2].1,
    SPECIAL[3].1,
    SPECIAL[4].1,
    SPECIAL[5].1,
    SPECIAL[6].1,
    SPECIAL[7].1,
    SPECIAL[8].1,
    SPECIAL[9].1,
    SPECIAL[10].1,
    SPECIAL[11].1,
];

/// Ordinary patients, for the other 30 slots.
const FIRST: [&str; 15] = [
    "Olivia", "Ethan", "Ava", "Lucas", "Mia", "Mateo", "Amelia", "Elijah", "Harper", "Daniel",
    "Evelyn", "Samuel", "Abigail", "David", "Emily",
];
const LAST: [&str; 10] = [
    "Johnson", "Brown", "Davis", "Miller", "Wilson", "Moore", "Taylor", "Anderson", "Thomas",
    "Jackson",
];

/// How to see each reason code with the demo data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The code.
    pub code: ReasonCode,
    /// The appointment to use, where one matters.
    pub appointment_id: Option<&'static str>,
    /// What to do at the kiosk.
    pub how: &'static str,
}

/// One scenario per reason code, in [`ReasonCode::ALL`] order.
pub fn scenarios() -> Vec<Scenario> {
    use ReasonCode::*;
    let s = |code, appointment_id, how| Scenario {
        code,
        appointment_id,
        how,
    };
    vec![
        s(
            IdentityNotFound,
            None,
            "enter a date of birth nobody has, three times",
        ),
        s(
            MultipleMatches,
            Some("demo-001"),
            "enter 1988-04-12 and GAR: the García twins both match",
        ),
        s(
            PassInvalid,
            None,
            "scan any QR code that is not a pass from this server",
        ),
        s(
            TooEarly,
            Some("demo-042"),
            "check in for the 16:50 appointment in the morning",
        ),
        s(
            Late,
            Some("demo-001"),
            "check in for the 08:00 appointment after 08:15",
        ),
        s(
            AppointmentCancelled,
            Some("demo-024"),
            "check in Sofia Rossi",
        ),
        s(
            WrongLocation,
            Some("demo-011"),
            "check in Kenji Watanabe at the main location",
        ),
        s(AlreadyCheckedIn, Some("demo-009"), "check in Ahmed Haddad"),
        s(
            DemographicsChanged,
            Some("demo-003"),
            "answer Update on the demographics step",
        ),
        s(
            InsuranceChanged,
            Some("demo-003"),
            "answer It changed on the insurance step",
        ),
        s(InsuranceMissing, Some("demo-020"), "check in Liam Walsh"),
        s(
            InsuranceExpired,
            Some("demo-005"),
            "check in Zoë Brontë-Smith",
        ),
        s(
            SelfPaySelected,
            Some("demo-003"),
            "answer I have no insurance",
        ),
        s(BalanceDue, Some("demo-007"), "check in Grace Okonkwo"),
        s(MinorPatient, Some("demo-022"), "check in Noah Kim"),
        s(HelpRequested, None, "press I need help on any screen"),
        s(
            IncompleteCheckin,
            Some("demo-018"),
            "identify, then walk away until the idle reset",
        ),
        s(
            CopayMismatch,
            Some("demo-007"),
            "raised by the server when a kiosk reports a co-pay other than the expected one",
        ),
        s(
            ScreeningPositive,
            Some("demo-003"),
            "answer the PHQ-9's last question with anything but 'not at all'",
        ),
    ]
}

/// The demo schedule of `clinic` on `day`.
pub fn appointments(clinic: &ClinicSettings, day: NaiveDate) -> Vec<Appointment> {
    let main = clinic
        .locations
        .first()
        .cloned()
        .unwrap_or_else(|| LocationId("main".into()));
    let other = clinic
        .locations
        .get(1)
        .cloned()
        .unwrap_or_else(|| LocationId("annex".into()));
    let year = chrono::Datelike::year(&day);
    let mut out = Vec::with_capacity(CLINICIANS.len() * SLOTS as usize);
    for (c, clinician) in CLINICIANS.iter().enumerate() {
        for slot in 0..SLOTS {
            let index = c * SLOTS as usize + slot as usize;
            let start = slot_start(clinic, day, c, slot);
            let n = index + 1;
            let mut a = Appointment {
                id: AppointmentId(format!("demo-{n:03}")),
                clinic_id: clinic.id.clone(),
                location_id: main.clone(),
                start,
                end: start + Duration::minutes(30),
                clinician: (*clinician).to_string(),
                status: AppointmentStatus::Booked,
                expected_copay: Money::new(
                    if n.is_multiple_of(4) { 0 } else { 2500 },
                    clinic.currency,
                ),
                prior_balance: Money::zero(clinic.currency),
                patient: demo_patient(index, day, start),
                coverage: Some(demo_coverage(index, year)),
            };
            special_cases(&mut a, &other, clinic, year);
            out.push(a);
        }
    }
    out
}

/// The demo clinicians' ids, in [`CLINICIANS`] order.
pub const CLINICIAN_IDS: [&str; 3] = ["dr-patel", "dr-okafor", "dr-nguyen-laurent"];

/// The visits with a type other than `follow-up`, which decide the intake
/// forms due under the demo's `[[forms]]` rules (see
/// `ServerConfig::demo`): José Núñez's annual visit asks the PHQ-2 (and
/// the PHQ-9 when it scores 3 or more), two new patients sign the
/// consent, a depression follow-up asks the PHQ-9, and a behavioral-health
/// visit the GAD-7.
pub const VISIT_TYPES: [(&str, &str); 6] = [
    ("demo-003", "annual"),
    ("demo-030", "annual"),
    ("demo-013", "new-patient"),
    ("demo-028", "new-patient"),
    ("demo-036", "depression-follow-up"),
    ("demo-032", "behavioral-health"),
];

/// The clinician id and visit type of each demo appointment, by id.
pub fn visit_facts(appointments: &[Appointment]) -> HashMap<String, VisitFacts> {
    appointments
        .iter()
        .map(|a| {
            let clinician = CLINICIANS
                .iter()
                .position(|c| *c == a.clinician)
                .map(|i| CLINICIAN_IDS[i].to_string());
            let visit_type = VISIT_TYPES
                .iter()
                .find(|(id, _)| *id == a.id.as_str())
                .map_or("follow-up", |(_, t)| t);
            let facts = VisitFacts {
                clinician_id: clinician,
                visit_type: Some(visit_type.to_string()),
            };
            (a.id.as_str().to_string(), facts)
        })
        .collect()
}

/// The start of clinician `c`'s slot `slot`: from 8:00, 40 minutes apart,
/// staggered 5 minutes per clinician.
fn slot_start(clinic: &ClinicSettings, day: NaiveDate, c: usize, slot: u32) -> DateTime<Tz> {
    let tz = clinic.time_zone;
    let minutes = 8 * 60 + slot * 40 + c as u32 * 5;
    let local = day
        .and_time(NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN));
    // Clinic hours never fall in a DST gap in practice; if one does, take
    // the instant after it.
    tz.from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| tz.from_utc_datetime(&(local + Duration::hours(1))))
}

/// The patient of the `index`th appointment: one of [`SPECIAL`], else a
/// made-up name and date of birth.
fn demo_patient(index: usize, day: NaiveDate, start: DateTime<Tz>) -> Patient {
    let special = SPECIAL.iter().find(|(i, _)| *i == index).map(|(_, s)| *s);
    let (first, last, dob) = match special {
        Some(s) => (
            s.first_name.to_string(),
            s.last_name.to_string(),
            s.date_of_birth(day),
        ),
        None => (
            FIRST[index % FIRST.len()].to_string(),
            LAST[(index * 7) % LAST.len()].to_string(),
            ymd(
                1940 + (index as i32 * 13) % 60,
                1 + (index as u32 * 5) % 12,
                1 + (index as u32 * 11) % 28,
            ),
        ),
    };
    let n = index + 1;
    Patient {
        id: PatientId(format!("demo-p{n:03}")),
        first_name: first,
        last_name: last,
        date_of_birth: dob,
        demographics: Demographics {
            address: Address {
                line1: format!("{} Maple Street", 100 + n),
                line2: if n.is_multiple_of(3) {
                    format!("Apt {}", n % 9 + 1)
                } else {
                    String::new()
                },
                city: "Springfield".into(),
                region: "NY".into(),
                postal_code: format!("{:05}", 10_000 + n * 37),
            },
            phone: format!("212-555-{:04}", 100 + n),
            email: format!("patient{n:03}@example.com"),
            emergency_contact: n.is_multiple_of(2).then(|| EmergencyContact {
                name: "Jordan Doe".into(),
                relation: "spouse".into(),
                phone: format!("212-555-{:04}", 5000 + n),
            }),
        },
        // Every third patient confirmed their details two days ago, so the
        // kiosk skips the demographics step.
        demographics_confirmed_at: (n % 3 == 1)
            .then(|| (start - Duration::days(2)).with_timezone(&chrono::Utc)),
    }
}

/// The `index`th patient's insurance, valid from last year to next.
fn demo_coverage(index: usize, year: i32) -> Coverage {
    Coverage {
        payer: ["Blue Shield", "Aetna", "UnitedHealthcare"][index % 3].into(),
        plan: ["PPO Gold", "HMO Silver", "Choice Plus"][index % 3].into(),
        member_id: format!("M{:09}", 100_000_000 + index * 7919),
        group: format!("G-{}", 100 + index % 5),
        subscriber_relation: SubscriberRelation::Own,
        valid_from: Some(ymd(year - 1, 1, 1)),
        valid_to: Some(ymd(year + 1, 12, 31)),
    }
}

/// The appointments that show one case each: expired or no insurance, a
/// prior balance, a dependant, already checked in, cancelled, the annex.
fn special_cases(a: &mut Appointment, other: &LocationId, clinic: &ClinicSettings, year: i32) {
    match a.id.as_str() {
        "demo-005" => {
            if let Some(c) = a.coverage.as_mut() {
                c.valid_from = Some(ymd(year - 2, 1, 1));
                c.valid_to = Some(ymd(year - 1, 12, 31));
            }
        }
        "demo-020" => a.coverage = None,
        "demo-007" => a.prior_balance = Money::new(12_500, clinic.currency),
        "demo-022" => {
            if let Some(c) = a.coverage.as_mut() {
                c.subscriber_relation = SubscriberRelation::Child;
            }
        }
        "demo-009" => a.status = AppointmentStatus::CheckedIn,
        "demo-024" => a.status = AppointmentStatus::Cancelled,
        "demo-011" => a.location_id = other.clone(),
        _ => {}
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d)
        .or_else(|| NaiveDate::from_ymd_opt(y, m, 28))
        .unwrap_or_default()
}

/// Stores the demo schedule for `day`, replacing that day's schedule, and
/// adds one open sample flag per reason code if the clinic has no flags.
/// A sample flag is raised when its appointment starts, or, for one still
/// to come at `now`, a minute before `now`: no flag is raised in the future.
pub fn seed(
    db: &Db,
    clinic: &ClinicSettings,
    day: NaiveDate,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UpsertSummary, StorageError> {
    let latest = now - chrono::Duration::minutes(1);
    let appts = appointments(clinic, day);
    db.blocking(|c| {
        let facts = visit_facts(&appts);
        let summary = schedule::upsert_with_facts(c, &clinic.id, &appts, &facts, true)?;
        if !storage::has_flags(c, &clinic.id)? {
            let samples = scenarios();
            let flags: Vec<storage::NewFlag<'_>> = samples
                .iter()
                .map(|s| {
                    let at = appts
                        .iter()
                        .find(|a| Some(a.id.as_str()) == s.appointment_id)
                        .map_or_else(|| appts[0].start, |a| a.start);
                    storage::NewFlag {
                        kiosk_id: "demo-seed",
                        appointment_id: s.appointment_id,
                        code: s.code.as_str(),
                        step: "welcome",
                        text: s.code.staff_text(),
                        raised_at: at.with_timezone(&chrono::Utc).min(latest),
                    }
                })
                .collect();
            storage::insert_flags(c, &clinic.id, &flags)?;
        }
        Ok(summary)
    })
}

/// What `clinic-server demo` prints after seeding.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// The staff user.
    pub username: String,
    /// Its freshly generated password.
    pub password: String,
    /// A one-time kiosk enrollment code.
    pub enrollment_code: String,
}

/// Why the demo could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The configuration has no clinic.
    #[error("the demo configuration has no clinic")]
    NoClinic,
    /// Seeding or adding the user failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// Adding the staff user failed.
    #[error(transparent)]
    Staff(#[from] staff::StaffError),
}

/// Seeds the first clinic of `config` for today in its zone, (re)sets the
/// demo staff user's password to a fresh random one, and creates an
/// enrollment code.
pub fn prepare(
    db: &Db,
    config: &ServerConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<DemoLogin, DemoError> {
    let clinic = config.clinics.first().ok_or(DemoError::NoClinic)?;
    let day = now.with_timezone(&clinic.time_zone).date_naive();
    seed(db, clinic, day, now)?;
    let password = super::db::random_token(12);
    db.blocking(|c| {
        staff::add_staff(c, &clinic.id, DEMO_USER, &password, now).map_err(|e| match e {
            staff::StaffError::Store(s) => s,
            other => StorageError::Task(other.to_string()),
        })
    })?;
    let (enrollment_code, _) =
        db.blocking(|c| staff::create_enrollment_code(c, &clinic.id, now))?;
    Ok(DemoLogin {
        username: DEMO_USER.into(),
        password,
        enrollment_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RulePolicy, check_coverage, normalize_name};
    use crate::server::db::to_ms;

    fn clinic() -> ClinicSettings {
        ServerConfig::demo(
            std::path::PathBuf::from("/tmp/x"),
            "127.0.0.1:0".parse().unwrap(),
        )
        .clinics
        .remove(0)
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
    }

    #[test]
    fn the_seed_is_deterministic_and_big_enough() {
        let a = appointments(&clinic(), day());
        assert_eq!(a, appointments(&clinic(), day()));
        assert!(a.len() >= 40);
        for c in CLINICIANS {
            assert!(a.iter().filter(|x| x.clinician == c).count() >= 10);
        }
        let ids: std::collections::HashSet<_> = a.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), a.len());
        assert!(a.iter().all(|x| x.local_day() == day()));
    }

    #[test]
    fn no_sample_flag_is_raised_after_the_demo_started() {
        let clinic = clinic();
        let raised = |now: chrono::DateTime<chrono::Utc>| {
            let db = Db::open_in_memory().unwrap();
            seed(&db, &clinic, day(), now).unwrap();
            db.blocking(|c| {
                let mut stmt = c.prepare("SELECT raised_ms FROM flags ORDER BY raised_ms")?;
                let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
        };
        let start_of_day = day()
            .and_hms_opt(0, 5, 0)
            .unwrap()
            .and_local_timezone(clinic.time_zone)
            .unwrap()
            .with_timezone(&chrono::Utc);
        // Just after midnight every appointment is still to come.
        let early = raised(start_of_day);
        assert_eq!(early.len(), ReasonCode::ALL.len());
        assert!(early.iter().all(|&t| t <= to_ms(start_of_day) - 60_000));
        // At the end of the day, flags keep their appointments' times.
        let late = raised(start_of_day + chrono::Duration::hours(23));
        assert!(late.windows(2).any(|w| w[0] < w[1]), "{late:?}");
        assert!(late.iter().all(|&t| t > to_ms(start_of_day)));
    }

    #[test]
    fn several_demo_patients_have_forms_due_one_the_phq2_with_its_phq9() {
        let config = ServerConfig::demo(
            std::path::PathBuf::from("/tmp/x"),
            "127.0.0.1:0".parse().unwrap(),
        );
        let clinic = config.clinics[0].clone();
        let db = Db::open_in_memory().unwrap();
        let now = day().and_hms_opt(12, 0, 0).unwrap().and_utc();
        seed(&db, &clinic, day(), now).unwrap();
        let catalog = crate::server::intake::FormCatalog::new(&config);
        let reply = db
            .blocking(|c| {
                let mut r = schedule::pull(c, &clinic.id, day(), None)?;
                crate::server::storage::forms::annotate(
                    c,
                    &clinic.id,
                    clinic.time_zone,
                    &mut r,
                    &catalog,
                )?;
                Ok(r)
            })
            .unwrap();
        let due: Vec<(&str, Vec<String>)> = reply
            .upserts
            .iter()
            .filter(|w| !w.forms_due.is_empty())
            .map(|w| (w.id.as_str(), w.forms_due.clone()))
            .collect();
        assert_eq!(due.len(), VISIT_TYPES.len(), "{due:?}");
        assert!(due.contains(&("demo-003", vec!["phq-2".to_string()])));
        assert!(due.contains(&("demo-013", vec!["consent-npp".to_string()])));
        let ids: Vec<&str> = reply.forms.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["consent-npp", "phq-2", "phq-9", "gad-7"]);
        // The returning patient of the tap-count journeys has none.
        assert!(
            reply
                .upserts
                .iter()
                .any(|w| w.id == "demo-001" && w.forms_due.is_empty())
        );
        assert!(reply.crisis_text.is_some());
    }

    #[test]
    fn the_seed_has_every_special_case() {
        let clinic = clinic();
        let a = appointments(&clinic, day());
        let by = |id: &str| a.iter().find(|x| x.id.as_str() == id).unwrap();
        let (m1, m2) = (by("demo-001"), by("demo-016"));
        assert_eq!(m1.patient.date_of_birth, m2.patient.date_of_birth);
        assert_eq!(m1.patient.last_name, m2.patient.last_name);
        assert_ne!(m1.patient.id, m2.patient.id);
        assert!(a.iter().any(|x| x.patient.last_name.contains('-')));
        assert!(a.iter().any(|x| normalize_name(&x.patient.last_name) != x.patient.last_name.to_lowercase()));
        assert_eq!(
            check_coverage(by("demo-005").coverage.as_ref(), day()),
            Some(ReasonCode::InsuranceExpired)
        );
        assert_eq!(
            check_coverage(by("demo-020").coverage.as_ref(), day()),
            Some(ReasonCode::InsuranceMissing)
        );
        assert_eq!(by("demo-009").status, AppointmentStatus::CheckedIn);
        assert_eq!(by("demo-024").status, AppointmentStatus::Cancelled);
    }

    #[test]
    fn every_reason_code_has_a_scenario_and_the_rule_codes_fire() {
        let sc = scenarios();
        assert_eq!(
            sc.iter().map(|s| s.code).collect::<Vec<_>>(),
            ReasonCode::ALL.to_vec()
        );
        let clinic = clinic();
        let a = appointments(&clinic, day());
        let main = clinic.locations[0].clone();
        let policy = RulePolicy::default();
        let at = |h: u32, m: u32| {
            clinic
                .time_zone
                .from_local_datetime(&day().and_hms_opt(h, m, 0).unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let fired = |id: &str, now| {
            let appt = a.iter().find(|x| x.id.as_str() == id).unwrap();
            policy.check_arrival(appt, &main, now).flags
        };
        let morning = at(8, 30);
        assert!(fired("demo-042", morning).contains(&ReasonCode::TooEarly));
        assert!(fired("demo-001", morning).contains(&ReasonCode::Late));
        assert!(fired("demo-024", morning).contains(&ReasonCode::AppointmentCancelled));
        assert!(fired("demo-011", at(14, 0)).contains(&ReasonCode::WrongLocation));
        assert!(fired("demo-009", morning).contains(&ReasonCode::AlreadyCheckedIn));
        assert!(fired("demo-007", morning).contains(&ReasonCode::BalanceDue));
        assert!(fired("demo-022", morning).contains(&ReasonCode::MinorPatient));
        for s in &sc {
            if let Some(id) = s.appointment_id {
                assert!(a.iter().any(|x| x.id.as_str() == id), "{id}");
            }
        }
    }
}
