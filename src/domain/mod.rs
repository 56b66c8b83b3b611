//! The pure check-in domain: clinics, appointments, patients, coverage, money,
//! matching, masking, the rules that raise reason codes, and the check-in flow.
//!
//! **Architecture invariant:** nothing in this module does I/O or knows of
//! Slint, SQLite, HTTP or async runtimes. Time enters only through [`Clock`].

pub mod clock;
pub mod fields;
pub mod flow;
pub mod forms_due;
pub mod forms_session;
pub mod masking;
pub mod matching;
pub mod money;
pub mod questionnaire;
pub mod rules;
pub mod screening;
#[doc(hidden)]
pub mod testkit;
pub mod throttle;
pub mod types;

pub use clock::{Clock, FixedClock, SystemClock};
pub use fields::{Field, FieldError};
pub use flow::{
    CheckInFlow, CoPayChoice, DomainEvent, FlagRaised, FlowError, FlowSettings, Input, Language,
    PassProblem, PhiShown, Step,
};
pub use masking::{
    MaskedDemographics, mask_address, mask_email, mask_member_id, mask_phone, patient_display_name,
};
pub use matching::{LookupQuery, MatchError, MatchOutcome, match_appointments, normalize_name};
pub use money::{Currency, Money, MoneyError};
pub use rules::{ReasonCode, RuleAction, RuleOutcome, RulePolicy, check_coverage};
pub use throttle::LookupThrottle;
pub use types::{
    Address, Appointment, AppointmentId, AppointmentStatus, Clinic, ClinicId, Coverage,
    CoverageUpdate, Demographics, EmergencyContact, Kiosk, KioskId, LocationId, Patient, PatientId,
    SubscriberRelation,
};
