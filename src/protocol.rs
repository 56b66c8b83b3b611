//! The kiosk ↔ clinic-server wire types, `/api/v1`, and their hand-written
//! conversions to and from [`crate::domain`].
//!
//! **Architecture invariant:** these are the only types that derive
//! `Serialize` for the wire. Requests a kiosk sends are strict (unknown
//! fields are refused); replies a kiosk reads are lenient, so a newer server
//! can add fields without breaking older kiosks.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::fields::{self, Field, FieldError};
use crate::domain::{
    self, Address, Appointment, AppointmentId, AppointmentStatus, ClinicId, CoPayChoice, Coverage,
    CoverageUpdate, Currency, Demographics, DomainEvent, EmergencyContact, LocationId, Money,
    Patient, PatientId, ReasonCode, SubscriberRelation,
};

/// The schema of a reason code: one of those in [`ReasonCode::ALL`].
#[cfg(feature = "server")]
fn reason_code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let codes: Vec<&str> = ReasonCode::ALL.iter().map(ReasonCode::as_str).collect();
    schemars::json_schema!({ "type": "string", "enum": codes })
}

/// The body of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Health {
    /// `ok`, or `unavailable` (answered with 503) when the database does
    /// not answer.
    pub status: String,
    /// The database behind the server: `sqlite` or `postgres`.
    pub database: String,
    /// Whether the database answered within the check's time limit.
    pub database_ok: bool,
}

/// The path prefix of every kiosk endpoint.
pub const KIOSK_API: &str = "/api/v1/kiosk";
/// The path prefix of every staff endpoint.
pub const STAFF_API: &str = "/api/v1/staff";

/// Why a wire value could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A field held a value outside its allowed set.
    #[error("{field}: {value:?} is not a valid value")]
    BadValue {
        /// The field's name.
        field: &'static str,
        /// The value received.
        value: String,
    },
    /// A field that must not be empty was empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// An appointment ends before it starts.
    #[error("appointment {0} ends before it starts")]
    EndsBeforeStart(String),
    /// A string broke its field's limits or format.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// An event's time is too far from the server's clock to be real.
    #[error(
        "occurred_at must lie between {max_age_days} days before and {max_ahead_hours} hours after the server's clock"
    )]
    TimeOutOfRange {
        /// How old an event may be.
        max_age_days: i64,
        /// How far ahead of the server's clock an event may be.
        max_ahead_hours: i64,
    },
}

/// The most of a refused value an error message repeats.
const MAX_ECHO_CHARS: usize = 40;

fn bad(field: &'static str, value: impl Into<String>) -> ProtocolError {
    let value: String = value.into();
    let mut echo: String = value
        .chars()
        .filter(|c| !fields::is_invisible(*c))
        .take(MAX_ECHO_CHARS)
        .collect();
    if value.chars().count() > MAX_ECHO_CHARS {
        echo.push('…');
    }
    ProtocolError::BadValue { field, value: echo }
}

/// Checks `value` against `field`'s length and character limits.
fn limited(field: Field, value: &str) -> Result<(), ProtocolError> {
    Ok(fields::check_chars(field, value)?)
}

/// Like [`limited`], and the value must not be blank.
fn required(field: Field, name: &'static str, value: &str) -> Result<(), ProtocolError> {
    if value.trim().is_empty() {
        return Err(ProtocolError::Empty(name));
    }
    limited(field, value)
}

/// How old an event a kiosk sends may be: a kiosk offline for a month has
/// nothing left that matters today.
pub const MAX_EVENT_AGE_DAYS: i64 = 31;
/// How far ahead of the server's clock an event may be: a kiosk clock that
/// far off is broken (see [`CLOCK_SKEW_WARN_SECS`]).
pub const MAX_EVENT_AHEAD_HOURS: i64 = 24;

// ---------------------------------------------------------------- errors

/// The body of every error reply, kiosk and staff alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// A stable machine code, for example `"bad_request"`.
    pub error: String,
    /// A human explanation, never containing internals or PHI.
    pub message: String,
}

// ---------------------------------------------------------------- enrollment

/// `POST /api/v1/kiosk/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The one-time code staff created.
    pub code: String,
    /// A name IT gives the kiosk, shown in the fleet view.
    pub kiosk_name: String,
    /// The kiosk's app version.
    pub app_version: String,
}

/// The settings a kiosk takes from its clinic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ClinicSettings {
    /// The clinic's id.
    pub clinic_id: String,
    /// The name shown on Welcome.
    pub name: String,
    /// IANA time zone, for example `"America/Los_Angeles"`.
    pub time_zone: String,
    /// ISO 4217 currency of co-pays.
    pub currency: String,
    /// The clinic's location ids.
    pub locations: Vec<String>,
    /// Payment link template with `{reference}`, if the clinic offers phone payment.
    pub payment_link: Option<String>,
    /// Whether "Bill me later" is offered.
    pub allow_bill_later: bool,
}

/// The reply to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct EnrollResponse {
    /// The new kiosk's id.
    pub kiosk_id: String,
    /// The bearer token for every later request; shown once.
    pub device_token: String,
    /// The clinic's settings.
    pub clinic: ClinicSettings,
    /// The server's Ed25519 pass-verification key, base64url without padding.
    pub pass_public_key: String,
    /// The server's clock, so a kiosk can notice a wrong clock.
    pub server_time: DateTime<Utc>,
}

// ---------------------------------------------------------------- schedule

/// An address on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AddressWire {
    /// Street and number.
    pub line1: String,
    /// Unit.
    pub line2: String,
    /// City.
    pub city: String,
    /// Region.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
}

/// An emergency contact on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct EmergencyContactWire {
    /// Name.
    pub name: String,
    /// Relation to the patient.
    pub relation: String,
    /// Phone.
    pub phone: String,
}

/// Demographics on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct DemographicsWire {
    /// Home address.
    pub address: AddressWire,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: String,
    /// Emergency contact.
    pub emergency_contact: Option<EmergencyContactWire>,
}

/// An address a kiosk proposes: [`AddressWire`]'s fields, refusing unknown
/// ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ProposedAddressWire {
    /// Street and number.
    pub line1: String,
    /// Apartment, suite or unit.
    pub line2: String,
    /// City.
    pub city: String,
    /// US state or territory code.
    pub region: String,
    /// ZIP code.
    pub postal_code: String,
}

/// An emergency contact a kiosk proposes, refusing unknown fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ProposedContactWire {
    /// Name.
    pub name: String,
    /// Relation to the patient.
    pub relation: String,
    /// Phone.
    pub phone: String,
}

/// Demographics a kiosk proposes: [`DemographicsWire`]'s fields, refusing
/// unknown ones at every level. The schedule's [`DemographicsWire`] stays
/// lenient, so a newer server can add fields to what kiosks read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ProposedDemographicsWire {
    /// Home address.
    pub address: ProposedAddressWire,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: String,
    /// Emergency contact.
    pub emergency_contact: Option<ProposedContactWire>,
}

/// A patient on the wire, with only what check-in needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct PatientWire {
    /// Patient id.
    pub id: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: NaiveDate,
    /// Contact details.
    #[serde(default)]
    pub demographics: DemographicsWire,
    /// When demographics were last confirmed.
    #[serde(default)]
    pub demographics_confirmed_at: Option<DateTime<Utc>>,
}

/// Coverage on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct CoverageWire {
    /// Insurer.
    pub payer: String,
    /// Plan.
    #[serde(default)]
    pub plan: String,
    /// Member ID.
    pub member_id: String,
    /// Group.
    #[serde(default)]
    pub group: String,
    /// `self`, `spouse`, `child` or `other`.
    pub subscriber_relation: String,
    /// First day in force.
    #[serde(default)]
    pub valid_from: Option<NaiveDate>,
    /// Last day in force.
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
}

/// An appointment on the wire, with its patient and coverage snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct AppointmentWire {
    /// Appointment id.
    pub id: String,
    /// Clinic id.
    pub clinic_id: String,
    /// Location id.
    pub location_id: String,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// IANA zone the times are shown in.
    pub time_zone: String,
    /// Clinician display name.
    pub clinician: String,
    /// `booked`, `arrived`, `checked_in`, `cancelled` or `no_show`.
    pub status: String,
    /// Expected co-pay in cents.
    pub expected_copay_cents: i64,
    /// Prior balance in cents.
    pub prior_balance_cents: i64,
    /// Currency of both amounts.
    pub currency: String,
    /// The patient.
    pub patient: PatientWire,
    /// Coverage on file, if any.
    pub coverage: Option<CoverageWire>,
    /// Ids of the intake forms due at this visit, in the order the kiosk
    /// asks them. Each one's definition is in the same reply's `forms` or
    /// in an earlier one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms_due: Vec<String>,
}

/// `GET /api/v1/kiosk/schedule?since=CURSOR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ScheduleResponse {
    /// The cursor to send next time.
    pub cursor: String,
    /// True when `upserts` is the whole window and the kiosk must drop
    /// everything else; false for a delta.
    pub full: bool,
    /// First day of the window, in the clinic's zone.
    pub window_from: NaiveDate,
    /// Last day of the window, inclusive.
    pub window_to: NaiveDate,
    /// Appointments added or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upserts: Vec<AppointmentWire>,
    /// Ids of appointments removed from the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removals: Vec<String>,
    /// The definitions of the forms that `upserts` name in `forms_due`,
    /// and of the forms they step up to (PHQ-2 to PHQ-9), each once. A
    /// full reply carries every form the window needs; the kiosk keeps
    /// the newest definition by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms: Vec<FormDefinitionWire>,
    /// The clinic's crisis text, shown after a screener's self-harm item
    /// is answered above zero; absent when the clinic has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crisis_text: Option<BilingualTextWire>,
}

/// One intake form's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct FormDefinitionWire {
    /// The form's id, as named in `forms_due`.
    pub id: String,
    /// A digest of the definition; it changes when the form does.
    pub version: String,
    /// The FHIR R4 Questionnaire, English texts with Spanish in the FHIR
    /// translation extension.
    pub questionnaire: serde_json::Value,
}

/// A text the clinic supplies in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct BilingualTextWire {
    /// English.
    pub en: String,
    /// Spanish.
    pub es: String,
}

// ---------------------------------------------------------------- events

/// One event a kiosk sends, identified by a UUID the kiosk generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EventEnvelope {
    /// Client-generated id; a replay with the same id has no second effect.
    pub id: Uuid,
    /// When the event happened on the kiosk.
    pub occurred_at: DateTime<Utc>,
    /// The appointment, where one is known.
    #[serde(default)]
    pub appointment_id: Option<String>,
    /// What happened.
    pub body: EventBody,
}

/// What happened, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventBody {
    /// The patient was identified. Written `{}` so that, like every other
    /// kind, it refuses unknown fields.
    Arrived {},
    /// The patient finished check-in.
    CheckedIn {},
    /// A flag for the staff queue.
    Flag {
        /// The reason code, for example `"too_early"`.
        #[cfg_attr(feature = "server", schemars(schema_with = "reason_code_schema"))]
        code: String,
        /// The step the patient was on.
        step: String,
        /// A short human text without PHI.
        text: String,
    },
    /// The patient confirmed their demographics.
    DemographicsConfirmed {
        /// The patient.
        patient_id: String,
    },
    /// The patient proposed new demographics.
    DemographicsProposed {
        /// The patient.
        patient_id: String,
        /// The proposed details.
        demographics: ProposedDemographicsWire,
    },
    /// The patient proposed new coverage, or none (`coverage: null`).
    CoverageProposed {
        /// The patient.
        patient_id: String,
        /// The new coverage, or `null` for "I have no insurance".
        coverage: Option<CoverageUpdateWire>,
    },
    /// The patient chose how to pay.
    CopayChosen {
        /// `front_desk`, `phone` or `bill_later`.
        choice: String,
        /// The amount due, in cents.
        amount_cents: i64,
        /// The currency.
        currency: String,
    },
    /// A kiosk screen showed PHI; an audit entry, without the PHI.
    PhiViewed {
        /// `identity`, `demographics`, `coverage` or `copay`.
        what: String,
    },
    /// The patient completed an intake form.
    FormCompleted {
        /// The patient.
        patient_id: String,
        /// The form's id.
        form_id: String,
        /// The version of the definition the patient answered.
        form_version: String,
        /// The answers, as a FHIR R4 QuestionnaireResponse.
        response: serde_json::Value,
        /// For a consent form: the patient's signature, a PNG in standard
        /// base64.
        #[serde(default)]
        signature_png: Option<String>,
        /// For a consent form signed by keypad: the name the patient typed
        /// as their signature, instead of `signature_png` (never both).
        /// Older kiosks leave it out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature_name: Option<String>,
    },
}

/// The longest form id, as in `[[forms]]`.
pub const MAX_FORM_ID_CHARS: usize = 64;
/// The largest QuestionnaireResponse a kiosk may send, serialized.
pub const MAX_FORM_RESPONSE_BYTES: usize = 64 * 1024;
/// The largest signature a kiosk may send, in base64 characters.
pub const MAX_SIGNATURE_BASE64_CHARS: usize = 256 * 1024;

/// New coverage typed at the kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CoverageUpdateWire {
    /// Insurer.
    pub payer: String,
    /// Member ID.
    pub member_id: String,
    /// Group; may be empty.
    #[serde(default)]
    pub group: String,
}

/// `POST /api/v1/kiosk/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events, oldest first.
    pub events: Vec<EventEnvelope>,
}

/// What the server did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored and applied now.
    Accepted,
    /// Seen before; nothing was done again.
    Duplicate,
    /// Refused for good; `reason` says why. The kiosk must not retry it.
    Rejected,
}

/// The per-event result of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct EventResult {
    /// The event's id.
    pub id: Uuid,
    /// What happened to it.
    pub status: EventStatus,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The reply to an event batch, one result per event in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct EventBatchResponse {
    /// One result per event, in the batch's order.
    pub results: Vec<EventResult>,
}

// ---------------------------------------------------------------- heartbeat

/// `POST /api/v1/kiosk/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The kiosk's app version.
    pub app_version: String,
    /// Undelivered events in the outbox.
    pub outbox_depth: u64,
    /// Age in seconds of the oldest undelivered event.
    #[serde(default)]
    pub outbox_oldest_age_secs: Option<u64>,
    /// The last successful sync with the server.
    #[serde(default)]
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Whether the kiosk thinks it is online.
    pub online: bool,
    /// The kiosk's clock minus the server's, in whole seconds (positive:
    /// the kiosk is fast), as the kiosk last measured it from a heartbeat
    /// reply's `server_time`. Absent until it has measured once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_secs: Option<i64>,
}

/// The most a heartbeat's `clock_skew_secs` may be either way: ten years.
/// Anything larger is a broken clock, not a measurement.
pub const MAX_CLOCK_SKEW_SECS: i64 = 10 * 366 * 24 * 3600;

/// A kiosk clock this many seconds off the server's or more is shown to
/// staff and IT as wrong: appointment windows ("too early", "late") and
/// pass expiry are judged by the kiosk's clock.
pub const CLOCK_SKEW_WARN_SECS: i64 = 120;

/// Whether a kiosk clock `skew_secs` off the server's is shown as wrong
/// (see [`CLOCK_SKEW_WARN_SECS`]).
pub fn clock_is_off(skew_secs: i64) -> bool {
    skew_secs.unsigned_abs() >= CLOCK_SKEW_WARN_SECS.unsigned_abs()
}

/// The reply to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct HeartbeatResponse {
    /// The server's clock.
    pub server_time: DateTime<Utc>,
    /// Client event ids of this kiosk's help flags (`help_requested`,
    /// `identity_not_found`) that staff resolved in the last
    /// [`HELP_ANSWERED_WINDOW_SECS`]: a kiosk still showing "someone is
    /// coming" for one of them returns to Welcome. Absent from older servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub help_answered: Vec<Uuid>,
}

/// How far back a heartbeat reply reports resolved help flags: the longest
/// help wait a kiosk can be configured for (`flow.help_reset_secs`), so a
/// kiosk that was offline for a while still learns of the answer.
pub const HELP_ANSWERED_WINDOW_SECS: i64 = 2 * 3600;

/// The most resolved help flags one heartbeat reply lists.
pub const MAX_HELP_ANSWERED: usize = 50;

// ---------------------------------------------------------------- conversions

impl From<&Address> for AddressWire {
    fn from(a: &Address) -> Self {
        Self {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
        }
    }
}

impl From<AddressWire> for Address {
    fn from(a: AddressWire) -> Self {
        Self {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
        }
    }
}

impl From<&Demographics> for DemographicsWire {
    fn from(d: &Demographics) -> Self {
        Self {
            address: (&d.address).into(),
            phone: d.phone.clone(),
            email: d.email.clone(),
            emergency_contact: d.emergency_contact.as_ref().map(|c| EmergencyContactWire {
                name: c.name.clone(),
                relation: c.relation.clone(),
                phone: c.phone.clone(),
            }),
        }
    }
}

impl From<DemographicsWire> for Demographics {
    fn from(d: DemographicsWire) -> Self {
        Self {
            address: d.address.into(),
            phone: d.phone,
            email: d.email,
            emergency_contact: d.emergency_contact.map(|c| EmergencyContact {
                name: c.name,
                relation: c.relation,
                phone: c.phone,
            }),
        }
    }
}

impl From<&Demographics> for ProposedDemographicsWire {
    fn from(d: &Demographics) -> Self {
        let a = &d.address;
        Self {
            address: ProposedAddressWire {
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
                postal_code: a.postal_code.clone(),
            },
            phone: d.phone.clone(),
            email: d.email.clone(),
            emergency_contact: d.emergency_contact.as_ref().map(|c| ProposedContactWire {
                name: c.name.clone(),
                relation: c.relation.clone(),
                phone: c.phone.clone(),
            }),
        }
    }
}

impl From<ProposedDemographicsWire> for Demographics {
    fn from(d: ProposedDemographicsWire) -> Self {
        let a = d.address;
        Self {
            address: Address {
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
            },
            phone: d.phone,
            email: d.email,
            emergency_contact: d.emergency_contact.map(|c| EmergencyContact {
                name: c.name,
                relation: c.relation,
                phone: c.phone,
            }),
        }
    }
}

impl From<&Coverage> for CoverageWire {
    fn from(c: &Coverage) -> Self {
        Self {
            payer: c.payer.clone(),
            plan: c.plan.clone(),
            member_id: c.member_id.clone(),
            group: c.group.clone(),
            subscriber_relation: c.subscriber_relation.as_str().to_string(),
            valid_from: c.valid_from,
            valid_to: c.valid_to,
        }
    }
}

impl TryFrom<CoverageWire> for Coverage {
    type Error = ProtocolError;

    fn try_from(c: CoverageWire) -> Result<Self, Self::Error> {
        let subscriber_relation = SubscriberRelation::parse(&c.subscriber_relation)
            .ok_or_else(|| bad("subscriber_relation", &c.subscriber_relation))?;
        Ok(Self {
            payer: c.payer,
            plan: c.plan,
            member_id: c.member_id,
            group: c.group,
            subscriber_relation,
            valid_from: c.valid_from,
            valid_to: c.valid_to,
        })
    }
}

impl From<&CoverageUpdate> for CoverageUpdateWire {
    fn from(c: &CoverageUpdate) -> Self {
        Self {
            payer: c.payer.clone(),
            member_id: c.member_id.clone(),
            group: c.group.clone(),
        }
    }
}

impl From<CoverageUpdateWire> for CoverageUpdate {
    fn from(c: CoverageUpdateWire) -> Self {
        Self {
            payer: c.payer,
            member_id: c.member_id,
            group: c.group,
        }
    }
}

impl From<&Appointment> for AppointmentWire {
    fn from(a: &Appointment) -> Self {
        Self {
            id: a.id.0.clone(),
            clinic_id: a.clinic_id.0.clone(),
            location_id: a.location_id.0.clone(),
            start: a.start.with_timezone(&Utc),
            end: a.end.with_timezone(&Utc),
            time_zone: a.start.timezone().name().to_string(),
            clinician: a.clinician.clone(),
            status: a.status.as_str().to_string(),
            expected_copay_cents: a.expected_copay.cents,
            prior_balance_cents: a.prior_balance.cents,
            currency: a.expected_copay.currency.code().to_string(),
            patient: PatientWire {
                id: a.patient.id.0.clone(),
                first_name: a.patient.first_name.clone(),
                last_name: a.patient.last_name.clone(),
                date_of_birth: a.patient.date_of_birth,
                demographics: (&a.patient.demographics).into(),
                demographics_confirmed_at: a.patient.demographics_confirmed_at,
            },
            coverage: a.coverage.as_ref().map(CoverageWire::from),
            forms_due: Vec::new(),
        }
    }
}

impl TryFrom<AppointmentWire> for Appointment {
    type Error = ProtocolError;

    fn try_from(w: AppointmentWire) -> Result<Self, Self::Error> {
        if w.id.trim().is_empty() {
            return Err(ProtocolError::Empty("id"));
        }
        let tz: Tz = w
            .time_zone
            .parse()
            .map_err(|_| bad("time_zone", &w.time_zone))?;
        let status = AppointmentStatus::parse(&w.status).ok_or_else(|| bad("status", &w.status))?;
        let currency: Currency = w
            .currency
            .parse()
            .map_err(|_| bad("currency", &w.currency))?;
        if w.end < w.start {
            return Err(ProtocolError::EndsBeforeStart(w.id));
        }
        let coverage = w.coverage.map(Coverage::try_from).transpose()?;
        Ok(Self {
            id: AppointmentId(w.id),
            clinic_id: ClinicId(w.clinic_id),
            location_id: LocationId(w.location_id),
            start: w.start.with_timezone(&tz),
            end: w.end.with_timezone(&tz),
            clinician: w.clinician,
            status,
            expected_copay: Money::new(w.expected_copay_cents, currency),
            prior_balance: Money::new(w.prior_balance_cents, currency),
            patient: Patient {
                id: PatientId(w.patient.id),
                first_name: w.patient.first_name,
                last_name: w.patient.last_name,
                date_of_birth: w.patient.date_of_birth,
                demographics: w.patient.demographics.into(),
                demographics_confirmed_at: w.patient.demographics_confirmed_at,
            },
            coverage,
        })
    }
}

impl EventEnvelope {
    /// The wire form of a domain event, with a fresh client UUID.
    pub fn from_domain(event: &DomainEvent) -> Self {
        Self::from_domain_with_id(event, Uuid::new_v4())
    }

    /// The wire form of a domain event with a given id.
    pub fn from_domain_with_id(event: &DomainEvent, id: Uuid) -> Self {
        let (appointment_id, occurred_at, body) = match event {
            DomainEvent::Arrived { appointment_id, at } => {
                (Some(appointment_id), *at, EventBody::Arrived {})
            }
            DomainEvent::CheckedIn { appointment_id, at } => {
                (Some(appointment_id), *at, EventBody::CheckedIn {})
            }
            DomainEvent::Flag(f) => (
                f.appointment_id.as_ref(),
                f.at,
                EventBody::Flag {
                    code: f.code.as_str().to_string(),
                    step: f.step.as_str().to_string(),
                    text: f.text.clone(),
                },
            ),
            DomainEvent::DemographicsConfirmed {
                appointment_id,
                patient_id,
                at,
            } => (
                Some(appointment_id),
                *at,
                EventBody::DemographicsConfirmed {
                    patient_id: patient_id.0.clone(),
                },
            ),
            DomainEvent::DemographicsProposed {
                appointment_id,
                patient_id,
                proposed,
                at,
            } => (
                Some(appointment_id),
                *at,
                EventBody::DemographicsProposed {
                    patient_id: patient_id.0.clone(),
                    demographics: proposed.into(),
                },
            ),
            DomainEvent::CoverageProposed {
                appointment_id,
                patient_id,
                proposed,
                at,
            } => (
                Some(appointment_id),
                *at,
                EventBody::CoverageProposed {
                    patient_id: patient_id.0.clone(),
                    coverage: proposed.as_ref().map(CoverageUpdateWire::from),
                },
            ),
            DomainEvent::CoPayChosen {
                appointment_id,
                choice,
                amount,
                at,
            } => (
                Some(appointment_id),
                *at,
                EventBody::CopayChosen {
                    choice: choice.as_str().to_string(),
                    amount_cents: amount.cents,
                    currency: amount.currency.code().to_string(),
                },
            ),
            DomainEvent::PhiShown {
                appointment_id,
                what,
                at,
            } => (
                Some(appointment_id),
                *at,
                EventBody::PhiViewed {
                    what: what.as_str().to_string(),
                },
            ),
            DomainEvent::FormCompleted {
                appointment_id,
                patient_id,
                completed,
                at,
            } => (
                Some(appointment_id),
                *at,
                form_completed_body(patient_id, completed, id, *at),
            ),
        };
        Self {
            id,
            occurred_at,
            appointment_id: appointment_id.map(|a| a.0.clone()),
            body,
        }
    }
}

impl EventBody {
    /// The event's kind, as in the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Arrived {} => "arrived",
            Self::CheckedIn {} => "checked_in",
            Self::Flag { .. } => "flag",
            Self::DemographicsConfirmed { .. } => "demographics_confirmed",
            Self::DemographicsProposed { .. } => "demographics_proposed",
            Self::CoverageProposed { .. } => "coverage_proposed",
            Self::CopayChosen { .. } => "copay_chosen",
            Self::PhiViewed { .. } => "phi_viewed",
            Self::FormCompleted { .. } => "form_completed",
        }
    }

    /// Checks the values a serde type cannot: reason codes, steps, choices,
    /// currencies, amounts, and every string's length and characters. The
    /// server rejects an event that fails here. Proposed demographics get
    /// their formats checked by the server against what is on file
    /// ([`fields::check_demographics_change`]); here only their limits.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Flag { code, step, text } => {
                ReasonCode::parse(code).ok_or_else(|| bad("code", code))?;
                if step.trim().is_empty() {
                    return Err(ProtocolError::Empty("step"));
                }
                if !domain::Step::NAMES.contains(&step.as_str()) {
                    return Err(bad("step", step));
                }
                limited(Field::Note, text)?;
            }
            Self::CopayChosen {
                choice,
                amount_cents,
                currency,
            } => {
                CoPayChoice::parse(choice).ok_or_else(|| bad("choice", choice))?;
                currency
                    .parse::<Currency>()
                    .map_err(|_| bad("currency", currency))?;
                if *amount_cents < 0 {
                    return Err(bad("amount_cents", amount_cents.to_string()));
                }
            }
            Self::PhiViewed { what } => {
                if !["identity", "demographics", "coverage", "copay"].contains(&what.as_str()) {
                    return Err(bad("what", what));
                }
            }
            Self::DemographicsConfirmed { patient_id } => {
                required(Field::Id, "patient_id", patient_id)?;
            }
            Self::DemographicsProposed {
                patient_id,
                demographics,
            } => {
                required(Field::Id, "patient_id", patient_id)?;
                fields::check_stored_demographics(&Demographics::from(demographics.clone()))?;
            }
            Self::CoverageProposed {
                patient_id,
                coverage,
            } => {
                required(Field::Id, "patient_id", patient_id)?;
                if let Some(c) = coverage {
                    fields::check_coverage_update(&CoverageUpdate::from(c.clone()))?;
                }
            }
            Self::FormCompleted {
                patient_id,
                form_id,
                form_version,
                response,
                signature_png,
                signature_name,
            } => {
                required(Field::Id, "patient_id", patient_id)?;
                check_form_id(form_id)?;
                required(Field::Id, "form_version", form_version)?;
                check_form_response(response)?;
                if let Some(png) = signature_png {
                    check_signature(png)?;
                }
                if let Some(name) = signature_name {
                    check_signature_name(name)?;
                    if signature_png.is_some() {
                        return Err(bad("signature_name", "not allowed with signature_png"));
                    }
                }
            }
            Self::Arrived {} | Self::CheckedIn {} => {}
        }
        Ok(())
    }
}

/// The wire body of a completed form: its answers as a QuestionnaireResponse
/// whose id is the event's (so a retried event writes the same resource),
/// and the signature in standard base64.
fn form_completed_body(
    patient_id: &domain::PatientId,
    completed: &domain::forms_session::CompletedForm,
    id: Uuid,
    at: DateTime<Utc>,
) -> EventBody {
    use base64::Engine as _;
    let response_id = id.to_string();
    let canonical = format!("urn:checkin-kiosk:form:{}", completed.form.id);
    let meta = crate::forms::ResponseMeta {
        id: &response_id,
        questionnaire: &canonical,
        subject: None,
        authored: at,
        completed: completed.form.form.is_complete(&completed.response),
        language: completed.language,
    };
    EventBody::FormCompleted {
        patient_id: patient_id.0.clone(),
        form_id: completed.form.id.clone(),
        form_version: completed.form.version.clone(),
        response: crate::forms::questionnaire_response(
            &completed.form.form,
            &completed.response,
            &meta,
        ),
        signature_png: completed
            .signature_png
            .as_ref()
            .map(|png| base64::engine::general_purpose::STANDARD.encode(png)),
        signature_name: completed.signature_name.clone(),
    }
}

/// A typed signature name: the domain's rule
/// ([`domain::forms_session::check_signature_name`]). The error says what
/// is wrong, never the name.
fn check_signature_name(name: &str) -> Result<(), ProtocolError> {
    domain::forms_session::check_signature_name(name).map_err(|e| {
        let why = match e {
            FieldError::Empty(_) | FieldError::TooShort { .. } => "no letters".to_string(),
            FieldError::TooLong { max, .. } => format!("longer than {max} characters"),
            FieldError::Invisible { code, .. } => format!("an invisible character (U+{code:04X})"),
            FieldError::BadCharacter { code, .. } => {
                format!("a character not allowed (U+{code:04X})")
            }
            other => other.to_string(),
        };
        bad("signature_name", why)
    })
}

/// A form id: 1 to [`MAX_FORM_ID_CHARS`] lower-case ASCII letters, digits,
/// `-` and `_`.
pub fn check_form_id(id: &str) -> Result<(), ProtocolError> {
    let ok = (1..=MAX_FORM_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(bad("form_id", id)) }
}

/// A QuestionnaireResponse object within [`MAX_FORM_RESPONSE_BYTES`]. Its
/// answers are checked against the form by the server.
fn check_form_response(response: &serde_json::Value) -> Result<(), ProtocolError> {
    if response.get("resourceType").and_then(|v| v.as_str()) != Some("QuestionnaireResponse") {
        return Err(bad("response", "not a QuestionnaireResponse"));
    }
    let size = serde_json::to_vec(response).map_or(usize::MAX, |v| v.len());
    if size > MAX_FORM_RESPONSE_BYTES {
        return Err(bad("response", format!("{size} bytes")));
    }
    Ok(())
}

/// A signature: standard base64 of a PNG, within
/// [`MAX_SIGNATURE_BASE64_CHARS`].
fn check_signature(png: &str) -> Result<(), ProtocolError> {
    use base64::Engine as _;
    if png.len() > MAX_SIGNATURE_BASE64_CHARS {
        return Err(bad("signature_png", format!("{} characters", png.len())));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png)
        .map_err(|_| bad("signature_png", "not standard base64"))?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(bad("signature_png", "not a PNG image"));
    }
    Ok(())
}

impl EventEnvelope {
    /// Checks the envelope and its body: the appointment id's limits, a
    /// time within [`MAX_EVENT_AGE_DAYS`] before and
    /// [`MAX_EVENT_AHEAD_HOURS`] after `now`, and [`EventBody::validate`].
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ProtocolError> {
        if let Some(a) = &self.appointment_id {
            required(Field::Id, "appointment_id", a)?;
        }
        let oldest = now - chrono::Duration::days(MAX_EVENT_AGE_DAYS);
        let newest = now + chrono::Duration::hours(MAX_EVENT_AHEAD_HOURS);
        if self.occurred_at < oldest || self.occurred_at > newest {
            return Err(ProtocolError::TimeOutOfRange {
                max_age_days: MAX_EVENT_AGE_DAYS,
                max_ahead_hours: MAX_EVENT_AHEAD_HOURS,
            });
        }
        self.body.validate()
    }
}

impl EnrollRequest {
    /// The kiosk's name and version within their limits.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        required(Field::KioskName, "kiosk_name", self.kiosk_name.trim())?;
        required(Field::AppVersion, "app_version", self.app_version.trim())?;
        if self.code.chars().count() > 64 {
            return Err(FieldError::TooLong {
                field: Field::Id,
                max: 64,
            }
            .into());
        }
        Ok(())
    }
}

impl Heartbeat {
    /// The version string within its limits, counts that fit the server's
    /// integers, and a last sync that is not in the future of `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ProtocolError> {
        required(Field::AppVersion, "app_version", self.app_version.trim())?;
        let newest = now + chrono::Duration::hours(MAX_EVENT_AHEAD_HOURS);
        let oldest = now - chrono::Duration::days(3660);
        if self.last_sync_at.is_some_and(|t| t > newest || t < oldest) {
            return Err(bad(
                "last_sync_at",
                "a time more than a day ahead or ten years behind the server",
            ));
        }
        let too_big = |n: u64| i64::try_from(n).is_err();
        if too_big(self.outbox_depth) {
            return Err(bad("outbox_depth", self.outbox_depth.to_string()));
        }
        if let Some(age) = self.outbox_oldest_age_secs.filter(|a| too_big(*a)) {
            return Err(bad("outbox_oldest_age_secs", age.to_string()));
        }
        Ok(())
    }
}

/// Parses a reason code from the wire.
pub fn parse_reason(code: &str) -> Result<domain::ReasonCode, ProtocolError> {
    ReasonCode::parse(code).ok_or_else(|| bad("code", code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::appointment;
    use crate::domain::{FlagRaised, Step};

    fn form_body(form_id: &str, response: serde_json::Value, png: Option<&str>) -> EventBody {
        EventBody::FormCompleted {
            patient_id: "p1".into(),
            form_id: form_id.into(),
            form_version: "abc123".into(),
            response,
            signature_png: png.map(str::to_string),
            signature_name: None,
        }
    }

    fn named(name: &str, png: Option<&str>) -> EventBody {
        let qr =
            serde_json::json!({"resourceType": "QuestionnaireResponse", "status": "completed"});
        let mut body = form_body("consent-npp", qr, png);
        if let EventBody::FormCompleted { signature_name, .. } = &mut body {
            *signature_name = Some(name.to_string());
        }
        body
    }

    #[test]
    fn a_typed_signature_name_is_checked_and_never_echoed() {
        use base64::Engine as _;
        assert_eq!(named("María García-López", None).validate(), Ok(()));
        let refused = |b: EventBody| match b.validate() {
            Err(e @ ProtocolError::BadValue { field, .. }) => {
                assert_eq!(field, "signature_name");
                e.to_string()
            }
            other => panic!("{other:?}"),
        };
        for name in ["", "  ", " Ana", "Ana.", "A\u{202E}na", "-'"] {
            let message = refused(named(name, None));
            if name.len() > 2 {
                assert!(!message.contains(name.trim()), "{message}");
            }
        }
        let long = "Zoe".repeat(40);
        let message = refused(named(&long, None));
        assert!(message.contains("longer than 100"), "{message}");
        assert!(!message.contains("ZoeZoe"), "{message}");
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\nrest");
        let message = refused(named("Ana Diaz", Some(&png)));
        assert!(message.contains("with signature_png"), "{message}");
    }

    #[test]
    fn a_drawn_signature_goes_out_as_before_and_older_events_still_parse() {
        let qr =
            serde_json::json!({"resourceType": "QuestionnaireResponse", "status": "completed"});
        let body = form_body("phq-9", qr, None);
        let json = serde_json::to_value(&body).unwrap();
        assert!(json.get("signature_name").is_none(), "{json}");
        let old = serde_json::json!({"type": "form_completed", "patient_id": "p1",
            "form_id": "consent-npp", "form_version": "v1",
            "response": {"resourceType": "QuestionnaireResponse", "status": "completed"},
            "signature_png": null});
        let parsed: EventBody = serde_json::from_value(old).unwrap();
        assert!(matches!(
            parsed,
            EventBody::FormCompleted {
                signature_name: None,
                ..
            }
        ));
        let typed = serde_json::to_value(named("Ana Diaz", None)).unwrap();
        assert_eq!(typed["signature_name"], "Ana Diaz");
        let back: EventBody = serde_json::from_value(typed).unwrap();
        assert_eq!(back, named("Ana Diaz", None));
    }

    #[test]
    fn form_completed_bodies_are_checked_for_shape_and_limits() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let qr =
            serde_json::json!({"resourceType": "QuestionnaireResponse", "status": "completed"});
        let png = b64(b"\x89PNG\r\n\x1a\nrest");
        assert_eq!(form_body("phq-9", qr.clone(), None).validate(), Ok(()));
        assert_eq!(
            form_body("consent-npp", qr.clone(), Some(&png)).validate(),
            Ok(())
        );
        let field = |b: EventBody| match b.validate() {
            Err(ProtocolError::BadValue { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(form_body("PHQ-9", qr.clone(), None)), "form_id");
        assert_eq!(
            field(form_body(&"a".repeat(65), qr.clone(), None)),
            "form_id"
        );
        assert_eq!(field(form_body("", qr.clone(), None)), "form_id");
        let not_qr = serde_json::json!({"resourceType": "Patient"});
        assert_eq!(field(form_body("phq-9", not_qr, None)), "response");
        let mut huge = qr.clone();
        huge["text"] = serde_json::json!("x".repeat(MAX_FORM_RESPONSE_BYTES));
        assert_eq!(field(form_body("phq-9", huge, None)), "response");
        assert_eq!(
            field(form_body("c", qr.clone(), Some("not base64!"))),
            "signature_png"
        );
        assert_eq!(
            field(form_body("c", qr.clone(), Some(&b64(b"GIF89a")))),
            "signature_png"
        );
        let long = "A".repeat(MAX_SIGNATURE_BASE64_CHARS + 4);
        assert_eq!(
            field(form_body("c", qr.clone(), Some(&long))),
            "signature_png"
        );
        let mut no_version = form_body("phq-9", qr, None);
        if let EventBody::FormCompleted { form_version, .. } = &mut no_version {
            form_version.clear();
        }
        assert!(no_version.validate().is_err());
    }

    #[test]
    fn appointments_round_trip_through_the_wire() {
        let mut a = appointment("a1", "Inés", "Núñez", (1980, 5, 17), 10, 30);
        a.prior_balance = Money::new(4200, Currency::USD);
        let json = serde_json::to_string(&AppointmentWire::from(&a)).unwrap();
        let back: AppointmentWire = serde_json::from_str(&json).unwrap();
        let back = Appointment::try_from(back).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.start.timezone(), chrono_tz::America::Los_Angeles);
    }

    #[test]
    fn bad_wire_appointments_are_refused() {
        let a = appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 30);
        let mut w = AppointmentWire::from(&a);
        w.status = "maybe".into();
        assert_eq!(
            Appointment::try_from(w.clone()),
            Err(bad("status", "maybe"))
        );
        let mut w2 = AppointmentWire::from(&a);
        w2.time_zone = "Mars/Olympus".into();
        assert!(Appointment::try_from(w2).is_err());
        let mut w3 = AppointmentWire::from(&a);
        w3.end = w3.start - chrono::Duration::minutes(1);
        assert!(matches!(
            Appointment::try_from(w3),
            Err(ProtocolError::EndsBeforeStart(_))
        ));
    }

    #[test]
    fn events_carry_their_type_tag_and_refuse_unknown_fields() {
        let at = Utc::now();
        let ev = DomainEvent::Flag(FlagRaised {
            code: ReasonCode::TooEarly,
            appointment_id: Some(AppointmentId("a1".into())),
            step: Step::Welcome,
            at,
            text: "Patient arrived early".into(),
        });
        let env = EventEnvelope::from_domain(&ev);
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["body"]["type"], "flag");
        assert_eq!(json["body"]["code"], "too_early");
        assert_eq!(json["appointment_id"], "a1");
        let mut extra = json.clone();
        extra["body"]["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<EventEnvelope>(extra).is_err());
        for kind in ["arrived", "checked_in"] {
            let extra = serde_json::json!({"id": env.id, "occurred_at": at, "body": {"type": kind, "surprise": 1}});
            assert!(
                serde_json::from_value::<EventEnvelope>(extra).is_err(),
                "{kind}"
            );
            let plain =
                serde_json::json!({"id": env.id, "occurred_at": at, "body": {"type": kind}});
            assert!(
                serde_json::from_value::<EventEnvelope>(plain).is_ok(),
                "{kind}"
            );
        }
        let mut unknown = json;
        unknown["body"]["type"] = serde_json::json!("teleported");
        assert!(serde_json::from_value::<EventEnvelope>(unknown).is_err());
    }

    #[test]
    fn event_validation_catches_bad_codes_and_amounts() {
        let flag = EventBody::Flag {
            code: "bored".into(),
            step: "welcome".into(),
            text: String::new(),
        };
        assert_eq!(flag.validate(), Err(bad("code", "bored")));
        let pay = EventBody::CopayChosen {
            choice: "front_desk".into(),
            amount_cents: -1,
            currency: "USD".into(),
        };
        assert!(pay.validate().is_err());
        let pay = EventBody::CopayChosen {
            choice: "barter".into(),
            amount_cents: 100,
            currency: "USD".into(),
        };
        assert!(pay.validate().is_err());
        let ok = EventBody::CopayChosen {
            choice: "phone".into(),
            amount_cents: 2500,
            currency: "usd".into(),
        };
        assert_eq!(ok.validate(), Ok(()));
        for code in ReasonCode::ALL {
            let f = EventBody::Flag {
                code: code.as_str().into(),
                step: "insurance".into(),
                text: code.staff_text().into(),
            };
            assert_eq!(f.validate(), Ok(()), "{code}");
        }
    }
}

// ---------------------------------------------------------------- staff API
//
// The staff console's wire types, `/api/v1/staff/`. Read by the console in
// the browser; requests are strict like the kiosk's.

/// `POST /api/v1/staff/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StaffLoginRequest {
    /// The staff user's name.
    pub username: String,
    /// The password; checked against an Argon2id hash, never stored or logged.
    pub password: String,
}

/// A clinic a staff user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffClinic {
    /// The clinic's id, used in every staff path.
    pub id: String,
    /// The clinic's name.
    pub name: String,
    /// IANA zone the clinic's day is laid out in.
    pub time_zone: String,
}

/// Who is logged in, and which clinics they may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffMe {
    /// The staff user's name.
    pub username: String,
    /// The clinics the user belongs to.
    pub clinics: Vec<StaffClinic>,
    /// The words the console shows for each reason code.
    pub reasons: Vec<StaffLabel>,
    /// The words the console shows for each step a flag can name.
    pub steps: Vec<StaffLabel>,
}

/// A code and the few words staff see for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffLabel {
    /// The wire code, for example `help_requested`.
    pub code: String,
    /// The words, for example "Asked for help".
    pub label: String,
}

impl StaffLabel {
    /// Every reason code's label.
    pub fn reasons() -> Vec<Self> {
        ReasonCode::ALL
            .iter()
            .map(|c| Self {
                code: c.as_str().to_string(),
                label: c.staff_label().to_string(),
            })
            .collect()
    }

    /// Every step's label.
    pub fn steps() -> Vec<Self> {
        domain::Step::NAMES
            .iter()
            .map(|n| Self {
                code: (*n).to_string(),
                label: domain::Step::staff_label(n).unwrap_or(n).to_string(),
            })
            .collect()
    }
}

/// One of today's appointments, as the front desk sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffAppointment {
    /// Appointment id.
    pub id: String,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
    /// Clinician display name.
    pub clinician: String,
    /// Location id.
    pub location_id: String,
    /// `booked`, `arrived`, `checked_in`, `cancelled` or `no_show`.
    pub status: String,
    /// What the front desk sees: `scheduled`, `arrived`, `checked_in`,
    /// `cancelled`, or `no_show` once a booked appointment's end plus
    /// [`NO_SHOW_GRACE_MINUTES`] has passed without an arrival. Computed by
    /// the server, on its clock, so every console agrees.
    pub check_in_state: String,
    /// Patient id.
    pub patient_id: String,
    /// Given name; staff see full names.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Expected co-pay in cents.
    pub expected_copay_cents: i64,
    /// Prior balance in cents.
    pub prior_balance_cents: i64,
    /// Currency of both amounts.
    pub currency: String,
    /// Unresolved flags on this appointment.
    pub open_flags: u32,
}

/// Minutes after a booked appointment's end before the console calls it a
/// no-show.
pub const NO_SHOW_GRACE_MINUTES: i64 = 15;

impl StaffAppointment {
    /// The [`StaffAppointment::check_in_state`] of an appointment with
    /// stored `status` that ends at `end`, seen at `now`.
    pub fn check_in_state_at(status: &str, end: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
        match status {
            "arrived" => "arrived",
            "checked_in" => "checked_in",
            "cancelled" => "cancelled",
            "no_show" => "no_show",
            _ if now > end + chrono::Duration::minutes(NO_SHOW_GRACE_MINUTES) => "no_show",
            _ => "scheduled",
        }
    }
}

/// `GET /api/v1/staff/clinics/{clinic}/appointments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffAppointments {
    /// The clinic.
    pub clinic_id: String,
    /// The day listed, in the clinic's zone.
    pub day: NaiveDate,
    /// The day's appointments, by start time.
    pub appointments: Vec<StaffAppointment>,
}

/// A flag in the staff queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct StaffFlag {
    /// Flag id, used to resolve it.
    pub id: i64,
    /// Reason code, for example `too_early`.
    pub code: String,
    /// The step the patient was on.
    pub step: String,
    /// A short human text without PHI.
    pub text: String,
    /// The kiosk that raised it, if a kiosk did.
    pub kiosk_id: Option<String>,
    /// The appointment, where known.
    pub appointment_id: Option<String>,
    /// When it was raised on the kiosk.
    pub raised_at: DateTime<Utc>,
    /// When staff resolved it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// The resolution note.
    pub note: Option<String>,
}

/// `POST /api/v1/staff/clinics/{clinic}/flags/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveFlagRequest {
    /// What staff did about it; 1 to 1000 characters.
    pub note: String,
}

/// Where a co-pay queue item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CopayStatus {
    /// Waiting at the front desk.
    Pending,
    /// Paid at the desk.
    Collected,
    /// Forgiven by staff.
    Waived,
}

impl CopayStatus {
    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Collected => "collected",
            Self::Waived => "waived",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Collected, Self::Waived]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// An item in the co-pay queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct CopayItem {
    /// Item id.
    pub id: i64,
    /// The appointment.
    pub appointment_id: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Currency.
    pub currency: String,
    /// Where it stands.
    pub status: CopayStatus,
    /// When the patient chose to pay at the desk.
    pub created_at: DateTime<Utc>,
    /// When staff settled it.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who settled it.
    pub decided_by: Option<String>,
}

/// `POST /api/v1/staff/clinics/{clinic}/copays/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CopayDecision {
    /// `collected` or `waived`.
    pub status: CopayStatus,
}

/// What a proposed change would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeProposal {
    /// New demographics, in full.
    Demographics {
        /// The proposed details.
        demographics: DemographicsWire,
    },
    /// New coverage, or `null` for "I have no insurance".
    Coverage {
        /// The proposed coverage.
        coverage: Option<CoverageUpdateWire>,
    },
}

impl ChangeProposal {
    /// The limits a kiosk's proposal is checked against when it arrives,
    /// checked again before staff approval writes it to the record.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Demographics { demographics } => Ok(fields::check_stored_demographics(
                &Demographics::from(demographics.clone()),
            )?),
            Self::Coverage { coverage: None } => Ok(()),
            Self::Coverage { coverage: Some(c) } => Ok(fields::check_coverage_update(
                &CoverageUpdate::from(c.clone()),
            )?),
        }
    }
}

/// A change a patient proposed at a kiosk, for staff to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ProposedChange {
    /// Change id.
    pub id: i64,
    /// The appointment during which it was proposed.
    pub appointment_id: String,
    /// The patient.
    pub patient_id: String,
    /// The kiosk.
    pub kiosk_id: String,
    /// When it was proposed.
    pub proposed_at: DateTime<Utc>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// What it would change.
    #[serde(flatten)]
    pub proposal: ChangeProposal,
    /// What the patient record holds now, for the console's side-by-side
    /// view: `demographics` for a demographics change, `coverage` (absent
    /// when none is on file) for a coverage change.
    #[serde(default)]
    pub on_file: OnFile,
}

/// The record a [`ProposedChange`] would change, as it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct OnFile {
    /// The demographics on file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographics: Option<DemographicsWire>,
    /// The coverage on file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageWire>,
}

/// `POST .../changes/{id}/approve` and `.../reject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeDecision {
    /// An optional note for the audit trail.
    #[serde(default)]
    pub note: Option<String>,
}

/// One kiosk in the fleet view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct FleetKiosk {
    /// Kiosk id.
    pub id: String,
    /// The name IT gave it.
    pub name: String,
    /// Its app version.
    pub app_version: String,
    /// When it enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its last request of any kind.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Its last successful sync, as it reported.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Undelivered events it reported.
    pub outbox_depth: u64,
    /// Age of its oldest undelivered event.
    pub outbox_oldest_age_secs: Option<u64>,
    /// Seen within the allowed number of missed heartbeats, and not revoked.
    pub online: bool,
    /// Its clock minus the server's, in seconds, as it last reported.
    pub clock_skew_secs: Option<i64>,
}

/// `POST /api/v1/staff/clinics/{clinic}/enrollment-codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct EnrollmentCodeResponse {
    /// The one-time code to type on the kiosk.
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// `GET /api/v1/staff/clinics/{clinic}/appointments/{id}/pass`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct PassResponse {
    /// The appointment.
    pub appointment_id: String,
    /// The pass text, `CK1.<payload>.<signature>`.
    pub pass: String,
    /// When the pass stops working.
    pub expires_at: DateTime<Utc>,
}

/// One server-sent event on the staff stream: something changed, with ids
/// only; the console refetches what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct ChangeNotice {
    /// The clinic.
    pub clinic_id: String,
    /// What changed: `appointment`, `flag`, `copay`, `change` or `kiosk`.
    pub kind: String,
    /// The id of what changed.
    pub id: String,
}
