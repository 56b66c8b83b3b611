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

/// The four answers of the PHQ screeners, with their LOINC codes and weights.
const PHQ_OPTIONS: [(&str, &str, &str); 4] = [
    ("LA6568-5", "Not at all", "Para nada"),
    ("LA6569-3", "Several days", "Varios días"),
    (
        "LA6570-1",
        "More than half the days",
        "Más de la mitad de los días",
    ),
    ("LA6571-9", "Nearly every day", "Casi todos los días"),
];

/// A screener like the shipped PHQ-2, PHQ-9 or GAD-7: an intro page, then
/// each scored item as a required choice weighted 0–3.
pub fn screener(instrument: super::screening::Instrument) -> super::forms_session::DueForm {
    use super::questionnaire::{AnswerOption, Item, ItemKind, LocalizedText, Questionnaire};
    let options: Vec<AnswerOption> = PHQ_OPTIONS
        .iter()
        .zip(0..)
        .map(|((code, en, es), weight)| AnswerOption {
            code: (*code).into(),
            system: Some("http://loinc.org".into()),
            display: LocalizedText::new(*en, *es),
            weight: Some(weight),
        })
        .collect();
    let id = instrument.form_id();
    let mut items = vec![Item::new(
        format!("{id}-intro"),
        LocalizedText::new("Over the last 2 weeks:", "Durante las últimas 2 semanas:"),
        ItemKind::Display,
    )];
    for (n, link_id) in instrument.link_ids().iter().enumerate() {
        let mut item = Item::new(
            *link_id,
            LocalizedText::new(format!("Question {}", n + 1), format!("Pregunta {}", n + 1)),
            ItemKind::Choice(options.clone()),
        );
        item.required = true;
        items.push(item);
    }
    let title = LocalizedText::new(id.to_uppercase(), id.to_uppercase());
    let form = Questionnaire::new(id, title, items).expect("a valid screener");
    super::forms_session::DueForm {
        id: id.into(),
        version: "v1".into(),
        form: std::sync::Arc::new(form),
    }
}

/// A consent form like the shipped one: two paragraphs and a required
/// "I agree" yes/no item.
pub fn consent() -> super::forms_session::DueForm {
    use super::questionnaire::{Item, ItemKind, LocalizedText, Questionnaire};
    let mut agree = Item::new(
        "agree",
        LocalizedText::new("I agree.", "Estoy de acuerdo."),
        ItemKind::Boolean,
    );
    agree.required = true;
    let items = vec![
        Item::new(
            "treat",
            LocalizedText::new("Consent to treatment.", "Consentimiento."),
            ItemKind::Display,
        ),
        Item::new(
            "npp",
            LocalizedText::new("Privacy notice.", "Aviso de privacidad."),
            ItemKind::Display,
        ),
        agree,
    ];
    let title = LocalizedText::new("Consent", "Consentimiento");
    let form = Questionnaire::new("consent-npp", title, items).expect("a valid consent");
    super::forms_session::DueForm {
        id: "consent-npp".into(),
        version: "v1".into(),
        form: std::sync::Arc::new(form),
    }
}

/// A tiny PNG signature: the PNG file signature and a few bytes.
pub fn signature_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0, 0, 0, 13, b'I', b'H', b'D', b'R']);
    png
}
