//! Which intake forms are due at a visit: each form's applicability (all
//! visits, some clinicians, some visit types) and frequency (every visit,
//! once every N days, once ever), against the patient's completed forms.

use chrono::NaiveDate;

/// The visits a form applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliesTo {
    /// Every visit.
    AllVisits,
    /// Visits with one of these clinicians, by clinician id.
    Clinicians(Vec<String>),
    /// Visits of one of these types, by visit type code.
    VisitTypes(Vec<String>),
}

/// How often a form is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// At every visit.
    EveryVisit,
    /// Again once this many days have passed since the last completion
    /// (exactly N days later it is due again).
    EveryDays(u32),
    /// Once in the patient's life with this clinic.
    Once,
}

/// One configured form: its id, the visits it applies to, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRule {
    /// The form's id.
    pub form_id: String,
    /// The visits it applies to.
    pub applies_to: AppliesTo,
    /// How often it is asked.
    pub frequency: Frequency,
}

/// What decides whether a form applies to a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit<'a> {
    /// The appointment, so a form done at this visit is not asked again.
    pub appointment_id: &'a str,
    /// The visit's day in the clinic's time zone.
    pub day: NaiveDate,
    /// The clinician's id, where the schedule has one.
    pub clinician_id: Option<&'a str>,
    /// The visit type code, where the schedule has one.
    pub visit_type: Option<&'a str>,
}

/// A form the patient completed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The form's id.
    pub form_id: String,
    /// The appointment it was completed at, if known.
    pub appointment_id: Option<String>,
    /// The day it was completed, in the clinic's time zone.
    pub completed_on: NaiveDate,
}

impl AppliesTo {
    /// Whether the form applies to `visit`. A visit whose schedule lacks the
    /// clinician or the type matches no list.
    pub fn matches(&self, visit: &Visit<'_>) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|x| x == v))
        };
        match self {
            Self::AllVisits => true,
            Self::Clinicians(ids) => listed(ids, visit.clinician_id),
            Self::VisitTypes(types) => listed(types, visit.visit_type),
        }
    }
}

impl FormRule {
    /// Whether this form is due at `visit`, given the patient's completed
    /// forms (of any kind, in any order).
    pub fn is_due(&self, visit: &Visit<'_>, history: &[Completed]) -> bool {
        if !self.applies_to.matches(visit) {
            return false;
        }
        let mine = || history.iter().filter(|c| c.form_id == self.form_id);
        if mine().any(|c| c.appointment_id.as_deref() == Some(visit.appointment_id)) {
            return false;
        }
        match self.frequency {
            Frequency::EveryVisit => true,
            Frequency::Once => mine().next().is_none(),
            Frequency::EveryDays(n) => !mine().any(|c| {
                // A completion dated after the visit counts as recent.
                (visit.day - c.completed_on).num_days() < i64::from(n)
            }),
        }
    }
}

/// The ids of the forms due at `visit`, in configuration order.
pub fn forms_due<'a>(
    rules: &'a [FormRule],
    visit: &Visit<'_>,
    history: &[Completed],
) -> Vec<&'a str> {
    rules
        .iter()
        .filter(|r| r.is_due(visit, history))
        .map(|r| r.form_id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn visit(id: &str, on: NaiveDate) -> Visit<'_> {
        Visit {
            appointment_id: id,
            day: on,
            clinician_id: Some("dr-patel"),
            visit_type: Some("annual"),
        }
    }

    fn rule(frequency: Frequency) -> FormRule {
        FormRule {
            form_id: "phq-2".into(),
            applies_to: AppliesTo::AllVisits,
            frequency,
        }
    }

    fn done(at: &str, on: NaiveDate) -> Completed {
        Completed {
            form_id: "phq-2".into(),
            appointment_id: Some(at.into()),
            completed_on: on,
        }
    }

    /// Due at a first visit, completed there, then asked whether it is due
    /// at a second visit `gap` days later.
    fn second_visit_due(frequency: Frequency, gap: u64) -> (bool, bool) {
        let r = rule(frequency);
        let first = visit("a1", day(1, 10));
        let due_first = r.is_due(&first, &[]);
        let history = [done("a1", day(1, 10))];
        assert!(!r.is_due(&first, &history), "never twice at one visit");
        let second = visit("a2", day(1, 10) + chrono::Days::new(gap));
        (due_first, r.is_due(&second, &history))
    }

    #[test]
    fn every_visit_is_due_at_both_visits() {
        assert_eq!(second_visit_due(Frequency::EveryVisit, 0), (true, true));
        assert_eq!(second_visit_due(Frequency::EveryVisit, 1), (true, true));
    }

    #[test]
    fn every_n_days_is_due_again_from_exactly_n_days() {
        assert_eq!(
            second_visit_due(Frequency::EveryDays(365), 364),
            (true, false)
        );
        assert_eq!(
            second_visit_due(Frequency::EveryDays(365), 365),
            (true, true)
        );
        assert_eq!(
            second_visit_due(Frequency::EveryDays(365), 366),
            (true, true)
        );
        assert_eq!(second_visit_due(Frequency::EveryDays(14), 0), (true, false));
        // The latest completion counts, whatever order history comes in.
        let r = rule(Frequency::EveryDays(30));
        let history = [done("a2", day(3, 1)), done("a1", day(1, 1))];
        assert!(!r.is_due(&visit("a3", day(3, 30)), &history));
        assert!(r.is_due(&visit("a3", day(3, 31)), &history));
    }

    #[test]
    fn once_is_never_due_again() {
        assert_eq!(second_visit_due(Frequency::Once, 1), (true, false));
        assert_eq!(second_visit_due(Frequency::Once, 3650), (true, false));
    }

    #[test]
    fn other_forms_history_does_not_count() {
        let r = rule(Frequency::Once);
        let other = Completed {
            form_id: "gad-7".into(),
            appointment_id: None,
            completed_on: day(1, 1),
        };
        assert!(r.is_due(&visit("a1", day(2, 1)), &[other]));
    }

    #[test]
    fn applicability_by_clinician_and_visit_type() {
        let mut r = rule(Frequency::EveryVisit);
        let v = visit("a1", day(1, 1));
        r.applies_to = AppliesTo::Clinicians(vec!["dr-lee".into(), "dr-patel".into()]);
        assert!(r.is_due(&v, &[]));
        r.applies_to = AppliesTo::Clinicians(vec!["dr-lee".into()]);
        assert!(!r.is_due(&v, &[]));
        r.applies_to = AppliesTo::VisitTypes(vec!["annual".into()]);
        assert!(r.is_due(&v, &[]));
        let unknown = Visit {
            visit_type: None,
            ..v
        };
        assert!(!r.is_due(&unknown, &[]), "an unknown type matches no list");
        r.applies_to = AppliesTo::VisitTypes(vec!["new-patient".into()]);
        assert!(!r.is_due(&v, &[]));
    }

    #[test]
    fn forms_due_keeps_configuration_order() {
        let rules = [
            FormRule {
                form_id: "consent-npp".into(),
                applies_to: AppliesTo::AllVisits,
                frequency: Frequency::Once,
            },
            rule(Frequency::EveryDays(365)),
        ];
        let v = visit("a2", day(6, 1));
        assert_eq!(forms_due(&rules, &v, &[]), ["consent-npp", "phq-2"]);
        let history = [done("a1", day(5, 1))];
        assert_eq!(forms_due(&rules, &v, &history), ["consent-npp"]);
    }
}
