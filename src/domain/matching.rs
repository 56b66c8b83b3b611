//! Identity matching by date of birth plus the first letters of the last name.
//!
//! Names are compared after folding case and accents and dropping hyphens,
//! apostrophes, spaces and other punctuation, so "Núñez-O'Brien" and
//! "nunezobrien" are the same name.

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::types::Appointment;

/// Why a lookup was refused before any search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The typed name has no letters after normalisation.
    #[error("type the first letters of your last name")]
    EmptyPrefix,
    /// Fewer letters were typed than the configured prefix length.
    #[error("type at least {needed} letters of your last name")]
    PrefixTooShort {
        /// The configured prefix length.
        needed: usize,
    },
}

/// What a patient typed to identify themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupQuery {
    /// The date of birth from the keypad.
    pub date_of_birth: NaiveDate,
    /// The letters typed from the last name, as typed.
    pub last_name_prefix: String,
}

/// The result of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome<'a> {
    /// Nothing matched.
    None,
    /// Exactly one appointment matched.
    One(&'a Appointment),
    /// Several appointments matched (twins, or one patient booked twice);
    /// ordered by start time, then clinician.
    Several(Vec<&'a Appointment>),
}

/// Folds a name for comparison: Unicode compatibility decomposition, combining
/// marks removed, lower-cased, and every character that is not a letter or
/// digit dropped. Letters without a decomposition (ß, ø, ł) are kept as they are.
pub fn normalize_name(name: &str) -> String {
    name.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Checks a query against the configured prefix length and returns the
/// normalised prefix.
///
/// A patient whose last name is shorter than `prefix_len` types the whole
/// name, so a shorter prefix is accepted here and checked against the full
/// name in [`match_appointments`].
fn normalized_prefix(query: &LookupQuery) -> Result<String, MatchError> {
    let prefix = normalize_name(&query.last_name_prefix);
    if prefix.is_empty() {
        return Err(MatchError::EmptyPrefix);
    }
    Ok(prefix)
}

/// Finds the appointments whose patient has the query's date of birth and a
/// last name starting with the typed letters.
///
/// `prefix_len` is the configured number of letters (3 by default). A prefix
/// shorter than that matches only a last name that is exactly that short, so
/// typing "G" never matches "Garcia". Letters typed beyond `prefix_len` must
/// match too.
pub fn match_appointments<'a>(
    appointments: impl IntoIterator<Item = &'a Appointment>,
    query: &LookupQuery,
    prefix_len: usize,
) -> Result<MatchOutcome<'a>, MatchError> {
    let prefix = normalized_prefix(query)?;
    let typed = prefix.chars().count();
    let mut found: Vec<&Appointment> = appointments
        .into_iter()
        .filter(|a| a.patient.date_of_birth == query.date_of_birth)
        .filter(|a| {
            let last = normalize_name(&a.patient.last_name);
            if typed >= prefix_len {
                last.starts_with(&prefix)
            } else {
                last == prefix
            }
        })
        .collect();
    if found.is_empty() && typed < prefix_len {
        return Err(MatchError::PrefixTooShort { needed: prefix_len });
    }
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then_with(|| a.clinician.cmp(&b.clinician))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(match found.len() {
        0 => MatchOutcome::None,
        1 => MatchOutcome::One(found[0]),
        _ => MatchOutcome::Several(found),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::appointment;

    fn q(dob: (i32, u32, u32), prefix: &str) -> LookupQuery {
        LookupQuery {
            date_of_birth: NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).unwrap(),
            last_name_prefix: prefix.to_string(),
        }
    }

    fn ids(outcome: &MatchOutcome<'_>) -> Vec<String> {
        match outcome {
            MatchOutcome::None => vec![],
            MatchOutcome::One(a) => vec![a.id.0.clone()],
            MatchOutcome::Several(v) => v.iter().map(|a| a.id.0.clone()).collect(),
        }
    }

    #[test]
    fn normalisation_folds_case_accents_and_punctuation() {
        assert_eq!(normalize_name("Núñez-O'Brien"), "nunezobrien");
        assert_eq!(normalize_name("  de la Cruz "), "delacruz");
        assert_eq!(normalize_name("MÜLLER"), "muller");
        assert_eq!(normalize_name("Zoë D’Amico"), "zoedamico");
        assert_eq!(normalize_name("Łukasz"), "łukasz");
        assert_eq!(normalize_name("---"), "");
    }

    #[test]
    fn accents_case_and_hyphens_are_ignored() {
        let a = appointment("a1", "Inés", "Núñez-Ortega", (1980, 5, 17), 10, 0);
        let list = [a];
        for typed in [
            "nun",
            "NUN",
            "Núñ",
            "n-u-n",
            "nunez",
            "Núñez-Ort",
            "nunezortega",
        ] {
            let out = match_appointments(&list, &q((1980, 5, 17), typed), 3).unwrap();
            assert_eq!(ids(&out), vec!["a1"], "typed {typed:?}");
        }
    }

    #[test]
    fn apostrophes_and_spaces_are_ignored() {
        let list = [
            appointment("a1", "Sean", "O'Brien", (1975, 1, 2), 9, 0),
            appointment("a2", "Ana", "de la Cruz", (1990, 2, 3), 9, 30),
        ];
        let out = match_appointments(&list, &q((1975, 1, 2), "obr"), 3).unwrap();
        assert_eq!(ids(&out), vec!["a1"]);
        let out = match_appointments(&list, &q((1975, 1, 2), "O'Br"), 3).unwrap();
        assert_eq!(ids(&out), vec!["a1"]);
        let out = match_appointments(&list, &q((1990, 2, 3), "DEL"), 3).unwrap();
        assert_eq!(ids(&out), vec!["a2"]);
        let out = match_appointments(&list, &q((1990, 2, 3), "de l"), 3).unwrap();
        assert_eq!(ids(&out), vec!["a2"]);
    }

    #[test]
    fn the_date_of_birth_must_match_exactly() {
        let list = [appointment("a1", "Maria", "Garcia", (1980, 5, 17), 10, 0)];
        let out = match_appointments(&list, &q((1980, 5, 18), "gar"), 3).unwrap();
        assert_eq!(out, MatchOutcome::None);
        let out = match_appointments(&list, &q((1980, 5, 17), "gor"), 3).unwrap();
        assert_eq!(out, MatchOutcome::None);
    }

    #[test]
    fn twins_give_several_matches_in_time_order() {
        let list = [
            appointment("late", "Luis", "Rivera", (2010, 3, 4), 11, 0),
            appointment("early", "Lucia", "Rivera", (2010, 3, 4), 9, 15),
            appointment("other", "Rosa", "Rivera", (2011, 3, 4), 9, 0),
        ];
        let out = match_appointments(&list, &q((2010, 3, 4), "riv"), 3).unwrap();
        assert_eq!(ids(&out), vec!["early", "late"]);
        assert!(matches!(out, MatchOutcome::Several(_)));
        // More letters do not tell twins apart: they share a last name.
        let out = match_appointments(&list, &q((2010, 3, 4), "rivera"), 3).unwrap();
        assert_eq!(ids(&out), vec!["early", "late"]);
    }

    #[test]
    fn short_last_names_are_typed_in_full() {
        let list = [
            appointment("ng", "Kim", "Ng", (1970, 7, 7), 10, 0),
            appointment("nguyen", "Lan", "Nguyen", (1970, 7, 7), 10, 30),
        ];
        let out = match_appointments(&list, &q((1970, 7, 7), "ng"), 3).unwrap();
        assert_eq!(ids(&out), vec!["ng"]);
        let out = match_appointments(&list, &q((1970, 7, 7), "ngu"), 3).unwrap();
        assert_eq!(ids(&out), vec!["nguyen"]);
        // One letter matches no name and is reported as too short.
        assert_eq!(
            match_appointments(&list, &q((1970, 7, 7), "n"), 3),
            Err(MatchError::PrefixTooShort { needed: 3 })
        );
        assert_eq!(
            match_appointments(&list, &q((1970, 7, 7), "-'"), 3),
            Err(MatchError::EmptyPrefix)
        );
    }

    #[test]
    fn the_prefix_length_comes_from_config() {
        let list = [appointment("a1", "Maria", "Garcia", (1980, 5, 17), 10, 0)];
        assert_eq!(
            match_appointments(&list, &q((1980, 5, 17), "garc"), 5),
            Err(MatchError::PrefixTooShort { needed: 5 })
        );
        let out = match_appointments(&list, &q((1980, 5, 17), "garci"), 5).unwrap();
        assert_eq!(ids(&out), vec!["a1"]);
        let out = match_appointments(&list, &q((1980, 5, 17), "g"), 1).unwrap();
        assert_eq!(ids(&out), vec!["a1"]);
    }

    #[test]
    fn no_appointments_means_no_match() {
        let out = match_appointments(&[], &q((1980, 5, 17), "gar"), 3).unwrap();
        assert_eq!(out, MatchOutcome::None);
    }
}
