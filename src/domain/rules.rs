//! The rules that raise reason codes (flags) for the staff queue, each with
//! its window or threshold taken from configuration.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::types::{Appointment, AppointmentStatus, Coverage, LocationId, Patient};

/// Why a check-in needs a person at the front desk to look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// Three lookups in a row found nobody.
    IdentityNotFound,
    /// Several appointments matched the patient's details.
    MultipleMatches,
    /// A scanned pass was malformed, forged, expired or for another clinic.
    PassInvalid,
    /// The patient arrived earlier than the early window allows.
    TooEarly,
    /// The patient arrived after the late threshold.
    Late,
    /// The appointment was cancelled.
    AppointmentCancelled,
    /// The patient is at a location other than the appointment's.
    WrongLocation,
    /// The appointment was already checked in.
    AlreadyCheckedIn,
    /// The patient proposed new demographics.
    DemographicsChanged,
    /// The patient reported new insurance.
    InsuranceChanged,
    /// No coverage is on file.
    InsuranceMissing,
    /// The coverage on file is not in force today.
    InsuranceExpired,
    /// The patient said they have no insurance.
    SelfPaySelected,
    /// The patient owes a balance from earlier visits.
    BalanceDue,
    /// The patient is under the configured age of majority.
    MinorPatient,
    /// The patient pressed "I need help".
    HelpRequested,
    /// The patient was identified but left before finishing.
    IncompleteCheckin,
    /// A kiosk reported a co-pay other than the one the server expects for
    /// the appointment; raised by the server, never by a kiosk rule.
    CopayMismatch,
    /// A depression screener came back urgent (PHQ-9 item 9 above 0, or a
    /// PHQ-9 total of 20 or more); see `domain::screening`.
    ScreeningPositive,
}

impl ReasonCode {
    /// Every reason code, in the order the product brief lists them.
    pub const ALL: [ReasonCode; 19] = [
        Self::IdentityNotFound,
        Self::MultipleMatches,
        Self::PassInvalid,
        Self::TooEarly,
        Self::Late,
        Self::AppointmentCancelled,
        Self::WrongLocation,
        Self::AlreadyCheckedIn,
        Self::DemographicsChanged,
        Self::InsuranceChanged,
        Self::InsuranceMissing,
        Self::InsuranceExpired,
        Self::SelfPaySelected,
        Self::BalanceDue,
        Self::MinorPatient,
        Self::HelpRequested,
        Self::IncompleteCheckin,
        Self::CopayMismatch,
        Self::ScreeningPositive,
    ];

    /// The wire and storage code, for example `"too_early"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::IdentityNotFound => "identity_not_found",
            Self::MultipleMatches => "multiple_matches",
            Self::PassInvalid => "pass_invalid",
            Self::TooEarly => "too_early",
            Self::Late => "late",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::WrongLocation => "wrong_location",
            Self::AlreadyCheckedIn => "already_checked_in",
            Self::DemographicsChanged => "demographics_changed",
            Self::InsuranceChanged => "insurance_changed",
            Self::InsuranceMissing => "insurance_missing",
            Self::InsuranceExpired => "insurance_expired",
            Self::SelfPaySelected => "self_pay_selected",
            Self::BalanceDue => "balance_due",
            Self::MinorPatient => "minor_patient",
            Self::HelpRequested => "help_requested",
            Self::IncompleteCheckin => "incomplete_checkin",
            Self::CopayMismatch => "copay_mismatch",
            Self::ScreeningPositive => "screening_positive",
        }
    }

    /// Parses a wire code; unknown codes give `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A short text for staff, with no PHI.
    pub fn staff_text(&self) -> &'static str {
        match self {
            Self::IdentityNotFound => "Patient could not be found after repeated lookups",
            Self::MultipleMatches => "Several appointments matched; confirm identity",
            Self::PassInvalid => "Check-in pass was rejected",
            Self::TooEarly => "Patient arrived early",
            Self::Late => "Patient arrived late",
            Self::AppointmentCancelled => "Appointment is cancelled",
            Self::WrongLocation => "Patient is at the wrong location",
            Self::AlreadyCheckedIn => "Appointment was already checked in",
            Self::DemographicsChanged => "Patient proposed new contact details",
            Self::InsuranceChanged => "Patient reported new insurance",
            Self::InsuranceMissing => "No insurance on file",
            Self::InsuranceExpired => "Insurance on file is not active today",
            Self::SelfPaySelected => "Patient chose self-pay",
            Self::BalanceDue => "Prior balance due",
            Self::MinorPatient => "Patient is a minor",
            Self::HelpRequested => "Patient asked for help",
            Self::IncompleteCheckin => "Check-in was abandoned before the end",
            Self::CopayMismatch => "Kiosk co-pay differs from the expected amount",
            Self::ScreeningPositive => "Depression screener needs a clinician now",
        }
    }
}

impl ReasonCode {
    /// A few words for the heading of a flag in the staff console; the
    /// console shows these, served by the clinic server, so the wording
    /// has one source.
    pub fn staff_label(&self) -> &'static str {
        match self {
            Self::IdentityNotFound => "Patient not found",
            Self::MultipleMatches => "Several patients matched",
            Self::PassInvalid => "Check-in pass rejected",
            Self::TooEarly => "Arrived too early",
            Self::Late => "Arrived late",
            Self::AppointmentCancelled => "Appointment was cancelled",
            Self::WrongLocation => "At the wrong location",
            Self::AlreadyCheckedIn => "Already checked in",
            Self::DemographicsChanged => "New contact details",
            Self::InsuranceChanged => "Insurance changed",
            Self::InsuranceMissing => "No insurance on file",
            Self::InsuranceExpired => "Insurance expired",
            Self::SelfPaySelected => "Chose to self-pay",
            Self::BalanceDue => "Prior balance due",
            Self::MinorPatient => "Patient is a minor",
            Self::HelpRequested => "Asked for help",
            Self::IncompleteCheckin => "Left before finishing",
            Self::CopayMismatch => "Co-pay differs from expected",
            Self::ScreeningPositive => "Urgent screening result",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the kiosk does when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Stop, and send the patient to the front desk.
    Stop,
    /// Carry on with check-in, and flag it for staff.
    Flag,
}

/// The configurable windows, thresholds and actions of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulePolicy {
    /// Arriving more than this long before the start raises `too_early`.
    pub early_window: Duration,
    /// Arriving more than this long after the start raises `late`.
    pub late_after: Duration,
    /// What `too_early` does.
    pub too_early: RuleAction,
    /// What `late` does.
    pub late: RuleAction,
    /// What `appointment_cancelled` does.
    pub cancelled: RuleAction,
    /// What `wrong_location` does.
    pub wrong_location: RuleAction,
    /// What `already_checked_in` does.
    pub already_checked_in: RuleAction,
    /// Patients younger than this many whole years raise `minor_patient`.
    pub minor_age_years: u32,
    /// A prior balance above this many cents raises `balance_due`.
    pub balance_due_over_cents: i64,
}

impl Default for RulePolicy {
    fn default() -> Self {
        Self {
            early_window: Duration::minutes(60),
            late_after: Duration::minutes(15),
            too_early: RuleAction::Stop,
            late: RuleAction::Flag,
            cancelled: RuleAction::Stop,
            wrong_location: RuleAction::Stop,
            already_checked_in: RuleAction::Stop,
            minor_age_years: 18,
            balance_due_over_cents: 0,
        }
    }
}

/// What the arrival rules decided for one appointment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// Every code raised, in rule order.
    pub flags: Vec<ReasonCode>,
    /// The first raised code whose action is `Stop`, if any.
    pub stop: Option<ReasonCode>,
}

impl RuleOutcome {
    fn raise(&mut self, code: ReasonCode, action: RuleAction) {
        self.flags.push(code);
        if action == RuleAction::Stop && self.stop.is_none() {
            self.stop = Some(code);
        }
    }
}

impl RulePolicy {
    /// The rules checked as soon as a patient is identified, before they do
    /// any work: cancelled, already checked in, wrong location, too early,
    /// late, and the informational minor and balance rules.
    ///
    /// A cancelled or already checked-in appointment, or one already stopped
    /// at the wrong location, skips the time rules, which would only add
    /// noise to the staff queue.
    pub fn check_arrival(
        &self,
        appointment: &Appointment,
        kiosk_location: &LocationId,
        now: DateTime<Utc>,
    ) -> RuleOutcome {
        let mut out = RuleOutcome::default();
        match appointment.status {
            AppointmentStatus::Cancelled => {
                out.raise(ReasonCode::AppointmentCancelled, self.cancelled)
            }
            AppointmentStatus::CheckedIn => {
                out.raise(ReasonCode::AlreadyCheckedIn, self.already_checked_in)
            }
            AppointmentStatus::Booked | AppointmentStatus::Arrived | AppointmentStatus::NoShow => {}
        }
        if &appointment.location_id != kiosk_location {
            out.raise(ReasonCode::WrongLocation, self.wrong_location);
        }
        let closed = matches!(
            appointment.status,
            AppointmentStatus::Cancelled | AppointmentStatus::CheckedIn
        );
        if !closed && out.stop.is_none() {
            let start = appointment.start.with_timezone(&Utc);
            if now < start - self.early_window {
                out.raise(ReasonCode::TooEarly, self.too_early);
            } else if now > start + self.late_after {
                out.raise(ReasonCode::Late, self.late);
            }
        }
        let today = now
            .with_timezone(&appointment.start.timezone())
            .date_naive();
        if self.is_minor(&appointment.patient, today) {
            out.flags.push(ReasonCode::MinorPatient);
        }
        if appointment.prior_balance.cents > self.balance_due_over_cents {
            out.flags.push(ReasonCode::BalanceDue);
        }
        out
    }

    /// True when the patient is younger than the age of majority on `day`.
    pub fn is_minor(&self, patient: &Patient, day: NaiveDate) -> bool {
        patient.age_on(day) < self.minor_age_years as i32
    }
}

/// The coverage rule, checked when the insurance step is shown: `None` when
/// coverage is on file and in force on `day`.
pub fn check_coverage(coverage: Option<&Coverage>, day: NaiveDate) -> Option<ReasonCode> {
    match coverage {
        None => Some(ReasonCode::InsuranceMissing),
        Some(c) if !c.is_active_on(day) => Some(ReasonCode::InsuranceExpired),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::{Currency, Money};
    use crate::domain::testkit::appointment;
    use chrono::TimeZone;

    fn at(a: &Appointment, offset: Duration) -> DateTime<Utc> {
        a.start.with_timezone(&Utc) + offset
    }

    fn main() -> LocationId {
        LocationId("main".into())
    }

    fn adult() -> Appointment {
        appointment("a1", "Maria", "Garcia", (1980, 5, 17), 10, 0)
    }

    #[test]
    fn every_code_has_a_unique_wire_name_that_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for code in ReasonCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
            assert!(!code.staff_text().is_empty());
        }
        assert_eq!(seen.len(), 19);
        assert_eq!(ReasonCode::parse("TOO_EARLY"), None);
    }

    #[test]
    fn on_time_raises_nothing() {
        let p = RulePolicy::default();
        let a = adult();
        assert_eq!(
            p.check_arrival(&a, &main(), at(&a, Duration::zero())),
            RuleOutcome::default()
        );
    }

    #[test]
    fn too_early_fires_just_outside_the_window() {
        let p = RulePolicy::default();
        let a = adult();
        let edge = p.check_arrival(&a, &main(), at(&a, -Duration::minutes(60)));
        assert!(edge.flags.is_empty());
        let early = p.check_arrival(
            &a,
            &main(),
            at(&a, -Duration::minutes(60) - Duration::seconds(1)),
        );
        assert_eq!(early.flags, vec![ReasonCode::TooEarly]);
        assert_eq!(early.stop, Some(ReasonCode::TooEarly));
    }

    #[test]
    fn late_fires_just_after_the_threshold_and_carries_on_by_default() {
        let p = RulePolicy::default();
        let a = adult();
        assert!(
            p.check_arrival(&a, &main(), at(&a, Duration::minutes(15)))
                .flags
                .is_empty()
        );
        let late = p.check_arrival(
            &a,
            &main(),
            at(&a, Duration::minutes(15) + Duration::seconds(1)),
        );
        assert_eq!(late.flags, vec![ReasonCode::Late]);
        assert_eq!(late.stop, None);
    }

    #[test]
    fn windows_and_actions_come_from_the_policy() {
        let p = RulePolicy {
            early_window: Duration::minutes(10),
            late_after: Duration::minutes(5),
            too_early: RuleAction::Flag,
            late: RuleAction::Stop,
            ..RulePolicy::default()
        };
        let a = adult();
        let early = p.check_arrival(&a, &main(), at(&a, -Duration::minutes(11)));
        assert_eq!(
            (early.flags.clone(), early.stop),
            (vec![ReasonCode::TooEarly], None)
        );
        let late = p.check_arrival(&a, &main(), at(&a, Duration::minutes(6)));
        assert_eq!(late.stop, Some(ReasonCode::Late));
        assert!(
            p.check_arrival(&a, &main(), at(&a, -Duration::minutes(10)))
                .flags
                .is_empty()
        );
    }

    #[test]
    fn cancelled_stops_and_skips_time_rules() {
        let p = RulePolicy::default();
        let mut a = adult();
        a.status = AppointmentStatus::Cancelled;
        let out = p.check_arrival(&a, &main(), at(&a, -Duration::hours(3)));
        assert_eq!(out.flags, vec![ReasonCode::AppointmentCancelled]);
        assert_eq!(out.stop, Some(ReasonCode::AppointmentCancelled));
        let flag_only = RulePolicy {
            cancelled: RuleAction::Flag,
            ..RulePolicy::default()
        };
        let out = flag_only.check_arrival(&a, &main(), at(&a, Duration::zero()));
        assert_eq!(
            (out.flags, out.stop),
            (vec![ReasonCode::AppointmentCancelled], None)
        );
    }

    #[test]
    fn already_checked_in_fires_for_checked_in_but_not_arrived() {
        let p = RulePolicy::default();
        let mut a = adult();
        a.status = AppointmentStatus::CheckedIn;
        let out = p.check_arrival(&a, &main(), at(&a, Duration::zero()));
        assert_eq!(out.stop, Some(ReasonCode::AlreadyCheckedIn));
        a.status = AppointmentStatus::Arrived;
        assert!(
            p.check_arrival(&a, &main(), at(&a, Duration::zero()))
                .flags
                .is_empty()
        );
        a.status = AppointmentStatus::NoShow;
        let out = p.check_arrival(&a, &main(), at(&a, Duration::minutes(40)));
        assert_eq!(out.flags, vec![ReasonCode::Late]);
    }

    #[test]
    fn wrong_location_fires_only_elsewhere() {
        let p = RulePolicy::default();
        let a = adult();
        let out = p.check_arrival(&a, &LocationId("annex".into()), at(&a, Duration::zero()));
        assert_eq!(out.flags, vec![ReasonCode::WrongLocation]);
        assert_eq!(out.stop, Some(ReasonCode::WrongLocation));
        // When it only flags, the time rules still apply.
        let lenient = RulePolicy {
            wrong_location: RuleAction::Flag,
            ..RulePolicy::default()
        };
        let out = lenient.check_arrival(
            &a,
            &LocationId("annex".into()),
            at(&a, Duration::minutes(30)),
        );
        assert_eq!(out.flags, vec![ReasonCode::WrongLocation, ReasonCode::Late]);
        assert_eq!(out.stop, None);
    }

    #[test]
    fn minor_fires_until_the_birthday_of_majority() {
        let p = RulePolicy::default();
        // The test day is 2026-03-02; born 2008-03-02 turns 18 that day.
        let turns_18 = appointment("m1", "Teo", "Lopez", (2008, 3, 2), 10, 0);
        let out = p.check_arrival(&turns_18, &main(), at(&turns_18, Duration::zero()));
        assert!(!out.flags.contains(&ReasonCode::MinorPatient));
        let day_short = appointment("m2", "Ana", "Lopez", (2008, 3, 3), 10, 0);
        let out = p.check_arrival(&day_short, &main(), at(&day_short, Duration::zero()));
        assert_eq!(out.flags, vec![ReasonCode::MinorPatient]);
        assert_eq!(out.stop, None);
        let p21 = RulePolicy {
            minor_age_years: 21,
            ..RulePolicy::default()
        };
        let out = p21.check_arrival(&turns_18, &main(), at(&turns_18, Duration::zero()));
        assert_eq!(out.flags, vec![ReasonCode::MinorPatient]);
    }

    #[test]
    fn minor_age_uses_the_clinic_day_not_utc() {
        let p = RulePolicy::default();
        // 23:30 on 2026-03-01 in Los Angeles is already 2026-03-02 in UTC.
        let a = appointment("m3", "Ana", "Lopez", (2008, 3, 2), 10, 0);
        let late_evening = crate::domain::testkit::TZ
            .with_ymd_and_hms(2026, 3, 1, 23, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(
            p.is_minor(
                &a.patient,
                late_evening
                    .with_timezone(&crate::domain::testkit::TZ)
                    .date_naive()
            )
        );
        let p_loose = RulePolicy {
            early_window: Duration::days(1),
            ..RulePolicy::default()
        };
        let out = p_loose.check_arrival(&a, &main(), late_evening);
        assert_eq!(out.flags, vec![ReasonCode::MinorPatient]);
    }

    #[test]
    fn balance_due_fires_above_the_threshold() {
        let p = RulePolicy {
            balance_due_over_cents: 500,
            ..RulePolicy::default()
        };
        let mut a = adult();
        a.prior_balance = Money::new(500, Currency::USD);
        assert!(
            p.check_arrival(&a, &main(), at(&a, Duration::zero()))
                .flags
                .is_empty()
        );
        a.prior_balance = Money::new(501, Currency::USD);
        let out = p.check_arrival(&a, &main(), at(&a, Duration::zero()));
        assert_eq!((out.flags, out.stop), (vec![ReasonCode::BalanceDue], None));
        a.prior_balance = Money::new(-2000, Currency::USD);
        assert!(
            p.check_arrival(&a, &main(), at(&a, Duration::zero()))
                .flags
                .is_empty()
        );
    }

    #[test]
    fn coverage_is_missing_expired_or_active_at_its_edges() {
        let a = adult();
        let day = a.local_day();
        let mut c = a.coverage.clone().unwrap();
        assert_eq!(
            check_coverage(None, day),
            Some(ReasonCode::InsuranceMissing)
        );
        c.valid_to = Some(day);
        assert_eq!(check_coverage(Some(&c), day), None);
        c.valid_to = day.pred_opt();
        assert_eq!(
            check_coverage(Some(&c), day),
            Some(ReasonCode::InsuranceExpired)
        );
        c.valid_to = None;
        c.valid_from = Some(day);
        assert_eq!(check_coverage(Some(&c), day), None);
        c.valid_from = day.succ_opt();
        assert_eq!(
            check_coverage(Some(&c), day),
            Some(ReasonCode::InsuranceExpired)
        );
        c.valid_from = None;
        assert_eq!(check_coverage(Some(&c), day), None);
    }
}
