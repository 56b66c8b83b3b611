//! Builders for appointments and patients used by tests and benchmarks.
//! Not part of the product's behaviour.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use super::money::{Currency, Money};
use super::types::{
    Address, Appointment, AppointmentId, AppointmentStatus, ClinicId, Coverage, Demographics,
    EmergencyContact, LocationId, Patient, PatientId, SubscriberRelation,
};

/// The time zone test clinics use.
pub const TZ: Tz = chrono_tz::America::Los_Angeles;

/// The day test appointments are on: 2026-03-02, a Monday.
pub fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date")
}

/// A booked 20-minute appointment at `hour:minute` on [`day`] in [`TZ`],
/// at location `main` of clinic `c1`, with full demographics, active
/// coverage, a $25.00 co-pay and no balance.
pub fn appointment(
    id: &str,
    first: &str,
    last: &str,
    dob: (i32, u32, u32),
    hour: u32,
    minute: u32,
) -> Appointment {
    let d = day();
    let start = TZ
        .with_ymd_and_hms(
            chrono::Datelike::year(&d),
            chrono::Datelike::month(&d),
            chrono::Datelike::day(&d),
            hour,
            minute,
            0,
        )
        .single()
        .expect("unambiguous local time");
    Appointment {
        id: AppointmentId(id.to_string()),
        clinic_id: ClinicId("c1".into()),
        location_id: LocationId("main".into()),
        start,
        end: start + chrono::Duration::minutes(20),
        clinician: "Dr. Patel".into(),
        status: AppointmentStatus::Booked,
        expected_copay: Money::new(2500, Currency::USD),
        prior_balance: Money::zero(Currency::USD),
        patient: Patient {
            id: PatientId(format!("p-{id}")),
            first_name: first.to_string(),
            last_name: last.to_string(),
            date_of_birth: NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).expect("valid dob"),
            demographics: Demographics {
                address: Address {
                    line1: "742 Evergreen Terrace".into(),
                    line2: String::new(),
                    city: "Springfield".into(),
                    region: "OR".into(),
                    postal_code: "97403".into(),
                },
                phone: "541-555-0134".into(),
                email: "patient@example.com".into(),
                emergency_contact: Some(EmergencyContact {
                    name: "Alex Doe".into(),
                    relation: "spouse".into(),
                    phone: "541-555-0199".into(),
                }),
            },
            demographics_confirmed_at: None,
        },
        coverage: Some(Coverage {
            payer: "Blue Shield".into(),
            plan: "PPO Gold".into(),
            member_id: "XQZ900123456".into(),
            group: "G-100".into(),
            subscriber_relation: SubscriberRelation::Own,
            valid_from: NaiveDate::from_ymd_opt(2025, 1, 1),
            valid_to: NaiveDate::from_ymd_opt(2026, 12, 31),
        }),
    }
}
