//! The records the check-in flow works on: clinics, kiosks, appointments,
//! patients, demographics and coverage.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use std::fmt;

use super::money::Money;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

string_id!(
    /// Identifies a clinic; every record on the server carries one.
    ClinicId
);
string_id!(
    /// Identifies one enrolled kiosk device.
    KioskId
);
string_id!(
    /// Identifies an appointment; a QR pass is bound to one.
    AppointmentId
);
string_id!(
    /// Identifies a patient in the clinic's records (never shown on screen).
    PatientId
);
string_id!(
    /// Identifies a location (a site or a front desk) within a clinic.
    LocationId
);

/// A clinic: the unit of isolation. Kiosks and staff belong to one or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinic {
    /// Stable identifier.
    pub id: ClinicId,
    /// The name shown on the Welcome screen.
    pub name: String,
    /// Appointment times are laid out and shown in this zone.
    pub time_zone: Tz,
}

/// A kiosk device in a clinic lobby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kiosk {
    /// Stable identifier, issued at enrollment.
    pub id: KioskId,
    /// The clinic the kiosk serves; it sees no other clinic's data.
    pub clinic_id: ClinicId,
    /// The location the kiosk stands in, used by the wrong-location rule.
    pub location_id: LocationId,
}

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppointmentStatus {
    /// Booked, patient not yet here.
    Booked,
    /// The patient identified at a kiosk or the desk.
    Arrived,
    /// The patient finished check-in.
    CheckedIn,
    /// Cancelled by the clinic or the patient.
    Cancelled,
    /// The patient did not come within the appointment's window.
    NoShow,
}

impl AppointmentStatus {
    /// Every status, for parsers and exhaustive tests.
    pub const ALL: [AppointmentStatus; 5] = [
        Self::Booked,
        Self::Arrived,
        Self::CheckedIn,
        Self::Cancelled,
        Self::NoShow,
    ];

    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Arrived => "arrived",
            Self::CheckedIn => "checked_in",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Street and number.
    pub line1: String,
    /// Apartment, suite or unit; may be empty.
    pub line2: String,
    /// City or town.
    pub city: String,
    /// State, province or region.
    pub region: String,
    /// Postal or ZIP code.
    pub postal_code: String,
}

/// Whom to call in an emergency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmergencyContact {
    /// The contact's name.
    pub name: String,
    /// How they relate to the patient, for example "spouse".
    pub relation: String,
    /// The contact's phone number.
    pub phone: String,
}

/// The contact details a patient confirms or updates at the kiosk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demographics {
    /// Home address.
    pub address: Address,
    /// Main phone number, as the patient typed it.
    pub phone: String,
    /// Email address; may be empty.
    pub email: String,
    /// Emergency contact, where one is on file.
    pub emergency_contact: Option<EmergencyContact>,
}

/// A patient, as much of them as check-in needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Stable identifier; logged instead of names.
    pub id: PatientId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Date of birth, the first identity factor.
    pub date_of_birth: NaiveDate,
    /// Contact details on file.
    pub demographics: Demographics,
    /// When the patient last confirmed their demographics, if ever; drives the skip rule.
    pub demographics_confirmed_at: Option<DateTime<Utc>>,
}

impl Patient {
    /// Age in whole years on `on`.
    pub fn age_on(&self, on: NaiveDate) -> i32 {
        let dob = self.date_of_birth;
        let mut age = on.year() - dob.year();
        if (on.month(), on.day()) < (dob.month(), dob.day()) {
            age -= 1;
        }
        age
    }
}

/// How the insured person relates to the policy's subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberRelation {
    /// The patient holds the policy.
    Own,
    /// The subscriber is the patient's spouse or partner.
    Spouse,
    /// The patient is the subscriber's child.
    Child,
    /// Any other relation.
    Other,
}

impl SubscriberRelation {
    /// Every relation, for parsers.
    pub const ALL: [SubscriberRelation; 4] = [Self::Own, Self::Spouse, Self::Child, Self::Other];

    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Own => "self",
            Self::Spouse => "spouse",
            Self::Child => "child",
            Self::Other => "other",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An insurance coverage on file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The insurer, for example "Blue Shield".
    pub payer: String,
    /// The plan name.
    pub plan: String,
    /// The member ID; only its last characters are ever shown.
    pub member_id: String,
    /// The group number; may be empty.
    pub group: String,
    /// How the patient relates to the subscriber.
    pub subscriber_relation: SubscriberRelation,
    /// First day of coverage, if known.
    pub valid_from: Option<NaiveDate>,
    /// Last day of coverage, if known.
    pub valid_to: Option<NaiveDate>,
}

impl Coverage {
    /// True when the coverage is in force on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= day) && self.valid_to.is_none_or(|to| day <= to)
    }
}

/// New coverage details a patient typed after answering "It changed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageUpdate {
    /// The new insurer.
    pub payer: String,
    /// The new member ID.
    pub member_id: String,
    /// The new group number; may be empty.
    pub group: String,
}

/// One appointment in a clinic's schedule, with everything check-in needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    /// Stable identifier, bound into QR passes.
    pub id: AppointmentId,
    /// The clinic that owns the appointment.
    pub clinic_id: ClinicId,
    /// Where the patient should check in.
    pub location_id: LocationId,
    /// Start, in the clinic's time zone.
    pub start: DateTime<Tz>,
    /// End, in the clinic's time zone.
    pub end: DateTime<Tz>,
    /// The clinician's display name, for example "Dr. Patel".
    pub clinician: String,
    /// Where the appointment stands.
    pub status: AppointmentStatus,
    /// The co-pay expected at this visit.
    pub expected_copay: Money,
    /// Any balance owed from earlier visits.
    pub prior_balance: Money,
    /// The patient the appointment is for.
    pub patient: Patient,
    /// The patient's coverage snapshot, if any is on file.
    pub coverage: Option<Coverage>,
}

impl Appointment {
    /// The appointment's calendar day in its clinic's time zone.
    pub fn local_day(&self) -> NaiveDate {
        self.start.date_naive()
    }
}
