//! Scores of the standard screeners (PHQ-2, PHQ-9, GAD-7) from their
//! answers' ordinal weights, their severity bands, the PHQ-2 → PHQ-9 step,
//! and the rule that makes a PHQ-9 result urgent (`screening_positive`).

use super::questionnaire::{Answer, Questionnaire, Response};
use super::rules::ReasonCode;

/// A PHQ-2 score at or above this makes the PHQ-9 due at once.
pub const PHQ2_STEP_UP_AT: u8 = 3;
/// A PHQ-9 total at or above this is urgent.
pub const PHQ9_URGENT_TOTAL: u8 = 20;

/// A scored screener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// Patient Health Questionnaire, 2 items (0–6).
    Phq2,
    /// Patient Health Questionnaire, 9 items (0–27).
    Phq9,
    /// Generalized Anxiety Disorder, 7 items (0–21).
    Gad7,
}

impl Instrument {
    /// Every instrument.
    pub const ALL: [Instrument; 3] = [Self::Phq2, Self::Phq9, Self::Gad7];

    /// The id of the ready-made form, as in `config/forms/<id>.json`.
    pub fn form_id(&self) -> &'static str {
        match self {
            Self::Phq2 => "phq-2",
            Self::Phq9 => "phq-9",
            Self::Gad7 => "gad-7",
        }
    }

    /// The instrument whose ready-made form has `form_id`.
    pub fn for_form(form_id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.form_id() == form_id)
    }

    /// The linkIds of the scored items, in the instrument's order.
    pub fn link_ids(&self) -> &'static [&'static str] {
        match self {
            Self::Phq2 => &["phq2-1", "phq2-2"],
            Self::Phq9 => &[
                "phq9-1", "phq9-2", "phq9-3", "phq9-4", "phq9-5", "phq9-6", "phq9-7", "phq9-8",
                "phq9-9",
            ],
            Self::Gad7 => &[
                "gad7-1", "gad7-2", "gad7-3", "gad7-4", "gad7-5", "gad7-6", "gad7-7",
            ],
        }
    }

    /// The LOINC code of the total score's Observation.
    pub fn total_loinc(&self) -> &'static str {
        match self {
            Self::Phq2 => "55758-7",
            Self::Phq9 => "44261-6",
            Self::Gad7 => "70274-6",
        }
    }

    /// The highest possible total.
    pub fn max_total(&self) -> u8 {
        3 * self.link_ids().len() as u8
    }
}

/// A severity band of the PHQ-9 or the GAD-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// PHQ-9 and GAD-7 0–4.
    Minimal,
    /// 5–9.
    Mild,
    /// 10–14.
    Moderate,
    /// PHQ-9 15–19.
    ModeratelySevere,
    /// PHQ-9 20–27, GAD-7 15–21.
    Severe,
}

impl Severity {
    /// The band's name for staff.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Mild => "mild",
            Self::Moderate => "moderate",
            Self::ModeratelySevere => "moderately severe",
            Self::Severe => "severe",
        }
    }
}

/// Why a result is urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgent {
    /// PHQ-9 item 9 (thoughts of being better off dead or of self-harm) was
    /// answered above 0. The kiosk shows the clinic's crisis text.
    SelfHarmItem,
    /// The PHQ-9 total is 20 or more.
    SevereTotal,
}

impl Urgent {
    /// The reason code raised for staff.
    pub fn reason_code(&self) -> ReasonCode {
        ReasonCode::ScreeningPositive
    }
}

/// A screener's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    /// Which screener.
    pub instrument: Instrument,
    /// Each item's weight, 0–3, in order.
    pub items: Vec<u8>,
    /// The sum of the items.
    pub total: u8,
}

/// Why a screener could not be scored. Messages name the item, never the
/// answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreeningError {
    /// Not as many item weights as the instrument has items.
    #[error("{instrument} has {expected} items, {got} were given")]
    WrongCount {
        /// The instrument's form id.
        instrument: &'static str,
        /// Its item count.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A weight outside 0–3.
    #[error("{instrument} item {item}: weights must be from 0 to 3")]
    WeightOutOfRange {
        /// The instrument's form id.
        instrument: &'static str,
        /// The item's number, from 1.
        item: usize,
    },
    /// A scored item has no answer.
    #[error("item {0} is not answered")]
    Unanswered(String),
    /// A scored item's answer is not a choice with an ordinal weight.
    #[error("item {0}: the answer has no ordinal weight")]
    NoWeight(String),
}

/// Scores `instrument` from its items' weights, in order.
pub fn score(instrument: Instrument, weights: &[i32]) -> Result<Score, ScreeningError> {
    let expected = instrument.link_ids().len();
    if weights.len() != expected {
        return Err(ScreeningError::WrongCount {
            instrument: instrument.form_id(),
            expected,
            got: weights.len(),
        });
    }
    let mut items = Vec::with_capacity(expected);
    for (n, &w) in weights.iter().enumerate() {
        match u8::try_from(w) {
            Ok(v) if v <= 3 => items.push(v),
            _ => {
                return Err(ScreeningError::WeightOutOfRange {
                    instrument: instrument.form_id(),
                    item: n + 1,
                });
            }
        }
    }
    let total = items.iter().sum();
    Ok(Score {
        instrument,
        items,
        total,
    })
}

/// Scores `instrument` from a response to its form: each scored item must
/// be answered with an option that carries an ordinal weight.
pub fn score_response(
    instrument: Instrument,
    form: &Questionnaire,
    response: &Response,
) -> Result<Score, ScreeningError> {
    let mut weights = Vec::new();
    for &id in instrument.link_ids() {
        let Some(Answer::Coding(code)) = response.get(id) else {
            return Err(match response.get(id) {
                None => ScreeningError::Unanswered(id.to_owned()),
                Some(_) => ScreeningError::NoWeight(id.to_owned()),
            });
        };
        let weight = form
            .item(id)
            .and_then(|item| item.option(code))
            .and_then(|o| o.weight)
            .ok_or_else(|| ScreeningError::NoWeight(id.to_owned()))?;
        weights.push(weight);
    }
    score(instrument, &weights)
}

impl Score {
    /// The severity band, for the PHQ-9 and the GAD-7 (the PHQ-2 has none).
    pub fn severity(&self) -> Option<Severity> {
        let t = self.total;
        match self.instrument {
            Instrument::Phq2 => None,
            Instrument::Phq9 => Some(match t {
                0..=4 => Severity::Minimal,
                5..=9 => Severity::Mild,
                10..=14 => Severity::Moderate,
                15..=19 => Severity::ModeratelySevere,
                _ => Severity::Severe,
            }),
            Instrument::Gad7 => Some(match t {
                0..=4 => Severity::Minimal,
                5..=9 => Severity::Mild,
                10..=14 => Severity::Moderate,
                _ => Severity::Severe,
            }),
        }
    }

    /// Whether this PHQ-2 result makes the PHQ-9 due now.
    pub fn steps_up_to_phq9(&self) -> bool {
        self.instrument == Instrument::Phq2 && self.total >= PHQ2_STEP_UP_AT
    }

    /// Why the result is urgent, if it is: only the PHQ-9 can be. Item 9
    /// comes first, because the patient then sees the crisis text.
    pub fn urgent(&self) -> Option<Urgent> {
        if self.instrument != Instrument::Phq9 {
            return None;
        }
        if self.items.get(8).is_some_and(|&w| w > 0) {
            Some(Urgent::SelfHarmItem)
        } else if self.total >= PHQ9_URGENT_TOTAL {
            Some(Urgent::SevereTotal)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nine digits of `n` in base 4, least significant first.
    fn base4(n: u32, len: u32) -> Vec<i32> {
        (0..len).map(|k| ((n / 4u32.pow(k)) % 4) as i32).collect()
    }

    #[test]
    fn every_phq9_answer_set_scores_as_an_independent_count() {
        let mut by_band = [0u32; 5];
        let mut urgent = 0u32;
        for n in 0..4u32.pow(9) {
            let w = base4(n, 9);
            let s = score(Instrument::Phq9, &w).unwrap();
            // Independently: the digit sum of n in base 4.
            let mut digits_sum = 0u32;
            let mut m = n;
            while m > 0 {
                digits_sum += m % 4;
                m /= 4;
            }
            assert_eq!(u32::from(s.total), digits_sum, "{w:?}");
            // Bands are five points wide, with 25–27 joining the last.
            let band = (digits_sum / 5).min(4) as usize;
            let expected = [
                Severity::Minimal,
                Severity::Mild,
                Severity::Moderate,
                Severity::ModeratelySevere,
                Severity::Severe,
            ][band];
            assert_eq!(s.severity(), Some(expected), "{w:?}");
            by_band[band] += 1;
            // Item 9 is the most significant digit.
            let item9 = n / 4u32.pow(8);
            let want = if item9 > 0 {
                Some(Urgent::SelfHarmItem)
            } else if digits_sum >= 20 {
                Some(Urgent::SevereTotal)
            } else {
                None
            };
            assert_eq!(s.urgent(), want, "{w:?}");
            urgent += u32::from(want.is_some());
            assert!(!s.steps_up_to_phq9());
        }
        assert_eq!(by_band.iter().sum::<u32>(), 262_144);
        // Three quarters of the sets have item 9 above 0; the rest urgent by
        // total have item 9 at 0 and a sum of 20–24 over eight items.
        assert!(urgent > 3 * 65_536 && urgent < 262_144);
    }

    #[test]
    fn every_gad7_answer_set_scores_as_an_independent_count() {
        for n in 0..4u32.pow(7) {
            let w = base4(n, 7);
            let s = score(Instrument::Gad7, &w).unwrap();
            let sum: u32 = (0..7).map(|k| (n >> (2 * k)) & 3).sum();
            assert_eq!(u32::from(s.total), sum);
            let expected = if sum >= 15 {
                Severity::Severe
            } else {
                [Severity::Minimal, Severity::Mild, Severity::Moderate][(sum / 5) as usize]
            };
            assert_eq!(s.severity(), Some(expected));
            assert_eq!(s.urgent(), None, "only the PHQ-9 is urgent");
        }
    }

    #[test]
    fn a_phq2_of_three_or_more_steps_up_to_the_phq9() {
        for a in 0..4 {
            for b in 0..4 {
                let s = score(Instrument::Phq2, &[a, b]).unwrap();
                assert_eq!(s.total as i32, a + b);
                assert_eq!(s.steps_up_to_phq9(), a + b >= 3, "{a}+{b}");
                assert_eq!(s.severity(), None);
                assert_eq!(s.urgent(), None);
            }
        }
    }

    #[test]
    fn item_nine_alone_is_urgent_and_raises_screening_positive() {
        let mut w = [0; 9];
        w[8] = 1;
        let s = score(Instrument::Phq9, &w).unwrap();
        assert_eq!(s.total, 1);
        assert_eq!(s.urgent(), Some(Urgent::SelfHarmItem));
        assert_eq!(
            s.urgent().map(|u| u.reason_code()),
            Some(ReasonCode::ScreeningPositive)
        );
        assert_eq!(ReasonCode::ScreeningPositive.as_str(), "screening_positive");
        let nineteen = score(Instrument::Phq9, &[3, 3, 3, 3, 3, 3, 1, 0, 0]).unwrap();
        assert_eq!((nineteen.total, nineteen.urgent()), (19, None));
        let twenty = score(Instrument::Phq9, &[3, 3, 3, 3, 3, 3, 2, 0, 0]).unwrap();
        assert_eq!(twenty.urgent(), Some(Urgent::SevereTotal));
    }

    #[test]
    fn bad_weights_are_refused_naming_the_item() {
        assert_eq!(
            score(Instrument::Phq9, &[0; 8]),
            Err(ScreeningError::WrongCount {
                instrument: "phq-9",
                expected: 9,
                got: 8
            })
        );
        assert_eq!(
            score(Instrument::Gad7, &[0, 0, 4, 0, 0, 0, 0]),
            Err(ScreeningError::WeightOutOfRange {
                instrument: "gad-7",
                item: 3
            })
        );
        assert_eq!(
            score(Instrument::Phq2, &[-1, 0]),
            Err(ScreeningError::WeightOutOfRange {
                instrument: "phq-2",
                item: 1
            })
        );
    }
}
