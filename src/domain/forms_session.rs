//! One patient's intake forms at the kiosk: the forms due at this visit,
//! asked one page at a time (a question, a consent, then a thank-you), with
//! the answers kept per form, the PHQ-2 → PHQ-9 step-up, and each form
//! handed back as a [`CompletedForm`] the moment its last page is passed.
//!
//! Pure: no I/O. The flow owns a [`FormsSession`] and turns each completed
//! form into a `form_completed` event.
//!
//! Decisions:
//! - **PHQ-2 → PHQ-9.** When a PHQ-2 scores 3 or more and the PHQ-9's
//!   definition is known, the PHQ-9 is asked next. Its first two items are
//!   the PHQ-2's, so the two answers are carried over and not asked again;
//!   both responses are recorded (the PHQ-2's, then the whole PHQ-9's).
//! - **Consent.** A form whose id begins with `consent`, made of display
//!   items and one required yes/no item, is one consent page: the display
//!   texts, then "I agree" (which answers the yes/no item), then a
//!   signature. Any other form is asked item by item.
//! - **Signing by keypad.** A patient who cannot draw (a blind patient on
//!   the keypad) signs by typing their name instead: "Sign by typing my
//!   name" opens the letter keyboard, and Next there keeps the typed name
//!   (a [`Field::PersonName`]) as the signature and goes on. A consent
//!   keeps exactly one signature: a drawn one replaces a typed name, and
//!   a typed name replaces a drawing. Back on the keyboard returns to the
//!   signature box, keeping what was signed before.
//! - **Back** moves one page back, into the previous form too. A form
//!   completed again after Back is handed back again: the newer response
//!   corrects the older one, as a second co-pay choice does.
//! - **Crisis text.** The thank-you page shows the clinic's crisis text when
//!   a PHQ-9 item 9 was answered above 0.

use std::sync::Arc;

use chrono::NaiveDate;

use super::fields::{self, Field, FieldError, is_invisible};
use super::flow::Language;
use super::questionnaire::{
    Answer, Item, ItemKind, LocalizedText, Questionnaire, Response, first_date, last_date,
};
use super::screening::{Instrument, score_response};

/// The first bytes of every PNG file.
pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The largest signature image kept, in bytes (its base64 stays within the
/// wire's limit).
pub const MAX_SIGNATURE_BYTES: usize = 192 * 1024;
/// The prefix of a consent form's id.
pub const CONSENT_PREFIX: &str = "consent";
/// The field whose rule a typed signature name follows: letters of any
/// alphabet, spaces, apostrophes and hyphens, at most 100 characters.
pub const SIGNATURE_NAME_FIELD: Field = Field::PersonName;

/// Checks a name typed as a consent's signature, as it is recorded (the
/// kiosk trims it first): not blank, within [`SIGNATURE_NAME_FIELD`]'s
/// length and characters, no space at either end. The kiosk and the
/// server apply this same rule.
pub fn check_signature_name(name: &str) -> Result<(), FieldError> {
    fields::require(SIGNATURE_NAME_FIELD, name)?;
    if name.trim() != name {
        // The only characters `require` lets through that the kiosk never
        // records: spaces at either end.
        let c = if name.starts_with(char::is_whitespace) {
            name.chars().next()
        } else {
            name.chars().last()
        };
        return Err(FieldError::BadCharacter {
            field: SIGNATURE_NAME_FIELD,
            code: c.map_or(0, u32::from),
        });
    }
    Ok(())
}

/// A form due at this visit, as the schedule cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueForm {
    /// The form's id, as in the appointment's `forms_due`.
    pub id: String,
    /// The version of the definition, sent back with the answers.
    pub version: String,
    /// The checked definition.
    pub form: Arc<Questionnaire>,
}

/// What the kiosk knows about one visit's forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormSet {
    /// The forms due, in the order they are asked.
    pub due: Vec<DueForm>,
    /// The PHQ-9, when its definition is known and a PHQ-2 may step up to it.
    pub step_up: Option<DueForm>,
    /// The clinic's crisis text, if it has one.
    pub crisis_text: Option<LocalizedText>,
}

/// What the patient did on a form page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormInput {
    /// An answer button, by index.
    Choose(usize),
    /// Yes or No.
    Boolean(bool),
    /// A digit or letter typed.
    Key(char),
    /// Delete the last character typed.
    Backspace,
    /// "Next".
    Next,
    /// "Back".
    Back,
    /// "I agree" on a consent.
    Agree,
    /// The drawn signature, as PNG bytes.
    Signed(Vec<u8>),
    /// Clear the signature (drawn or typed).
    ClearSignature,
    /// "Sign by typing my name" on a consent: the letter keyboard instead
    /// of the signature box.
    TypeName,
    /// "Continue" on the thank-you page.
    Finish,
}

impl FormInput {
    /// A short name for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Choose(_) => "an answer button",
            Self::Boolean(_) => "yes or no",
            Self::Key(_) => "a key",
            Self::Backspace => "delete",
            Self::Next => "next",
            Self::Back => "back",
            Self::Agree => "I agree",
            Self::Signed(_) => "a signature",
            Self::ClearSignature => "clear signature",
            Self::TypeName => "sign by typing my name",
            Self::Finish => "continue",
        }
    }
}

/// What a form page asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PageKind {
    /// Text only.
    #[default]
    Display,
    /// Yes or no.
    Boolean,
    /// One of several options.
    Choice,
    /// A whole number.
    Integer,
    /// A date, typed MMDDYYYY.
    Date,
    /// A short text.
    Text,
    /// A consent: text, "I agree", signature.
    Consent,
    /// The thank-you after the last form.
    ThankYou,
}

/// What is wrong with the answer on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageProblem {
    /// A required question has no answer.
    Required,
    /// Not a whole number.
    NotANumber,
    /// Outside the allowed range.
    OutOfRange,
    /// Not a whole date.
    BadDate,
    /// Longer than allowed.
    TooLong,
    /// A character not allowed.
    BadCharacters,
    /// The consent was not agreed to.
    NotAgreed,
    /// The consent was not signed.
    NotSigned,
}

/// A form page, in the session's language: what the screen shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageView {
    /// The form's title.
    pub form_title: String,
    /// What the page asks for.
    pub kind: PageKind,
    /// The question, the display text, or the whole consent text.
    pub text: String,
    /// The enclosing group's text, or empty.
    pub group_title: String,
    /// A choice's option labels, in order.
    pub options: Vec<String>,
    /// The chosen option; for yes/no, 0 is yes and 1 is no.
    pub selected: Option<usize>,
    /// What is typed so far.
    pub typed: String,
    /// Whether the page must be answered.
    pub required: bool,
    /// What is wrong, after "Next".
    pub problem: Option<PageProblem>,
    /// This page, from 1, among all the visit's form pages.
    pub position: u32,
    /// All the visit's form pages known so far.
    pub count: u32,
    /// Consent: agreed.
    pub agreed: bool,
    /// Consent: signed, by drawing or by a typed name.
    pub signed: bool,
    /// Consent: the letter keyboard shows, to sign by typing a name
    /// (`typed` holds the name so far).
    pub typing_name: bool,
    /// Thank-you: the crisis text when it applies, else empty.
    pub crisis_text: String,
}

/// A form the patient finished, to record and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedForm {
    /// The form and its version.
    pub form: DueForm,
    /// The answers of enabled items.
    pub response: Response,
    /// The language the patient answered in.
    pub language: Language,
    /// A consent's drawn signature, PNG bytes.
    pub signature_png: Option<Vec<u8>>,
    /// A consent's signature as the name the patient typed, trimmed;
    /// a consent has this or `signature_png`, never both.
    pub signature_name: Option<String>,
    /// Whether the result is urgent (PHQ-9 item 9 above 0, or a total of
    /// 20 or more): it goes to the server before anything else.
    pub urgent: bool,
}

/// Where the patient went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// Still within the forms.
    Stay,
    /// Back out of the first page, to the step before the forms.
    Out,
    /// Past the last form's last page, onto the thank-you page.
    ThankYou,
    /// On from the thank-you page.
    Finished,
}

/// The result of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormOutcome {
    /// Forms finished by this input, to record now.
    pub completed: Vec<CompletedForm>,
    /// Where the patient went.
    pub moved: Moved,
}

impl FormOutcome {
    fn stay() -> Self {
        Self {
            completed: Vec::new(),
            moved: Moved::Stay,
        }
    }
}

/// An input that does not fit the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormsError {
    /// The input has no meaning on this page.
    #[error("{0} is not possible on this form page")]
    NotHere(&'static str),
    /// No answer button with that index.
    #[error("this question has no answer number {0}")]
    NoSuchOption(usize),
}

/// One form's progress.
#[derive(Debug, Clone)]
struct FormState {
    /// The form.
    due: DueForm,
    /// The answers so far.
    response: Response,
    /// Items answered by carrying over another form's answers, not asked.
    carried: Vec<String>,
    /// For a consent form, the linkId of its "I agree" item.
    consent: Option<String>,
    /// Consent: agreed.
    agreed: bool,
    /// Consent: the signature.
    signature: Option<Vec<u8>>,
    /// Consent: the typed name that signs it instead of a drawing.
    signature_name: Option<String>,
    /// Whether it was added by a PHQ-2 step-up.
    stepped_up: bool,
    /// Whether it was handed back as completed at least once.
    completed: bool,
}

impl FormState {
    fn new(due: DueForm, stepped_up: bool) -> Self {
        Self {
            consent: consent_item(&due),
            due,
            response: Response::new(),
            carried: Vec::new(),
            agreed: false,
            signature: None,
            signature_name: None,
            stepped_up,
            completed: false,
        }
    }

    /// The pages: one for a consent, else every enabled item not carried.
    fn pages(&self) -> Vec<PageRef<'_>> {
        if self.consent.is_some() {
            return vec![PageRef::Consent];
        }
        self.due
            .form
            .screens(&self.response)
            .into_iter()
            .filter(|s| !self.carried.contains(&s.item.link_id))
            .map(|s| PageRef::Item {
                item: s.item,
                group: s.group,
            })
            .collect()
    }
}

/// A page of a form.
#[derive(Debug, Clone, Copy)]
enum PageRef<'a> {
    /// One item, in its group.
    Item {
        item: &'a Item,
        group: Option<&'a Item>,
    },
    /// A consent form's single page.
    Consent,
}

impl PageRef<'_> {
    fn link_id(&self) -> Option<&str> {
        match self {
            Self::Item { item, .. } => Some(&item.link_id),
            Self::Consent => None,
        }
    }
}

/// The "I agree" item of a consent form: its id begins with `consent`,
/// every item is display text but one required yes/no item.
fn consent_item(due: &DueForm) -> Option<String> {
    if !due.id.starts_with(CONSENT_PREFIX) {
        return None;
    }
    let items = due.form.items();
    let mut agree = None;
    for item in items {
        match item.kind {
            ItemKind::Display => {}
            ItemKind::Boolean if item.required && agree.is_none() => agree = Some(&item.link_id),
            _ => return None,
        }
    }
    agree.cloned()
}

/// The intake forms of one check-in.
#[derive(Debug, Clone)]
pub struct FormsSession {
    /// The forms, in order; a step-up adds one.
    forms: Vec<FormState>,
    /// The PHQ-9, for a step-up.
    step_up: Option<DueForm>,
    /// The clinic's crisis text.
    crisis_text: Option<LocalizedText>,
    /// The current form; `forms.len()` is the thank-you page.
    at: usize,
    /// The current page within it.
    page: usize,
    /// What is typed on the current page.
    typed: String,
    /// What is wrong on the current page.
    problem: Option<PageProblem>,
    /// Whether the consent page shows the keyboard to type a name
    /// (`typed` then holds the name).
    typing_name: bool,
}

impl FormsSession {
    /// A session on the first page, or `None` when no form is due.
    pub fn new(set: FormSet) -> Option<Self> {
        if set.due.is_empty() {
            return None;
        }
        let mut session = Self {
            forms: set
                .due
                .into_iter()
                .map(|d| FormState::new(d, false))
                .collect(),
            step_up: set.step_up,
            crisis_text: set.crisis_text,
            at: 0,
            page: 0,
            typed: String::new(),
            problem: None,
            typing_name: false,
        };
        session.load_page();
        Some(session)
    }

    /// Whether the thank-you page shows.
    pub fn on_thank_you(&self) -> bool {
        self.at >= self.forms.len()
    }

    /// The ids of the forms in this session, in order.
    pub fn form_ids(&self) -> Vec<&str> {
        self.forms.iter().map(|f| f.due.id.as_str()).collect()
    }

    /// Whether the crisis text applies: a PHQ-9 item 9 above 0.
    pub fn crisis(&self) -> bool {
        self.forms.iter().any(|f| {
            Instrument::for_form(&f.due.id) == Some(Instrument::Phq9)
                && score_response(Instrument::Phq9, &f.due.form, &f.response)
                    .is_ok_and(|s| s.items.get(8).is_some_and(|&w| w > 0))
        })
    }

    /// Handles one input in `language` (the language a completed form is
    /// recorded in). On error nothing changed.
    pub fn handle(
        &mut self,
        input: FormInput,
        language: Language,
    ) -> Result<FormOutcome, FormsError> {
        if self.on_thank_you() {
            return match input {
                FormInput::Finish => Ok(FormOutcome {
                    completed: Vec::new(),
                    moved: Moved::Finished,
                }),
                other => Err(FormsError::NotHere(other.name())),
            };
        }
        match input {
            FormInput::Next if self.typing_name => return Ok(self.sign_with_name(language)),
            FormInput::Back if self.typing_name => {
                self.typing_name = false;
                self.typed.clear();
                self.problem = None;
                return Ok(FormOutcome::stay());
            }
            FormInput::Next => return self.next(language),
            FormInput::Back => return Ok(self.back()),
            FormInput::Finish => return Err(FormsError::NotHere(input.name())),
            other => self.answer(other)?,
        }
        Ok(FormOutcome::stay())
    }

    /// The kind and (for items) the item of the current page.
    fn current(&self) -> Option<(PageKind, Option<&Item>)> {
        let form = self.forms.get(self.at)?;
        let pages = form.pages();
        match pages.get(self.page)? {
            PageRef::Consent => Some((PageKind::Consent, None)),
            PageRef::Item { item, .. } => {
                let item = form.due.form.item(&item.link_id)?;
                Some((kind_of(item), Some(item)))
            }
        }
    }

    /// An answer on the current page: a button, a key, a consent action.
    fn answer(&mut self, input: FormInput) -> Result<(), FormsError> {
        let name = input.name();
        let (kind, item) = self.current().ok_or(FormsError::NotHere(name))?;
        let link_id = item.map(|i| i.link_id.clone());
        let options = match item.map(|i| &i.kind) {
            Some(ItemKind::Choice(o)) => o.clone(),
            _ => Vec::new(),
        };
        let integer_range = match item.map(|i| &i.kind) {
            Some(ItemKind::Integer { min, max }) => Some((*min, *max)),
            _ => None,
        };
        let text_max = match item.map(|i| &i.kind) {
            Some(ItemKind::String { max_chars }) => *max_chars,
            _ => 0,
        };
        let form = &mut self.forms[self.at];
        let q = Arc::clone(&form.due.form);
        match (kind, input, link_id) {
            (PageKind::Choice, FormInput::Choose(i), Some(id)) => {
                let option = options.get(i).ok_or(FormsError::NoSuchOption(i))?;
                let _ = form
                    .response
                    .set(&q, &id, Answer::Coding(option.code.clone()));
            }
            (PageKind::Boolean, FormInput::Boolean(b), Some(id)) => {
                let _ = form.response.set(&q, &id, Answer::Boolean(b));
            }
            (PageKind::Integer, FormInput::Key(c), _) => {
                let (min, max) = integer_range.unwrap_or((0, 0));
                let width = min.unsigned_abs().max(max.unsigned_abs()).to_string().len();
                let digits = self.typed.trim_start_matches('-').len();
                let digit = c.is_ascii_digit() && digits < width;
                let sign = c == '-' && min < 0 && self.typed.is_empty();
                if digit || sign {
                    self.typed.push(c);
                }
            }
            (PageKind::Date, FormInput::Key(c), _) => {
                if c.is_ascii_digit() && self.typed.len() < 8 {
                    self.typed.push(c);
                }
            }
            (PageKind::Text, FormInput::Key(c), _) => {
                if is_invisible(c) {
                    self.problem = Some(PageProblem::BadCharacters);
                    return Ok(());
                }
                if self.typed.chars().count() >= text_max {
                    self.problem = Some(PageProblem::TooLong);
                    return Ok(());
                }
                self.typed.push(c);
            }
            (PageKind::Integer | PageKind::Date | PageKind::Text, FormInput::Backspace, _) => {
                self.typed.pop();
            }
            (PageKind::Consent, FormInput::Key(c), _) if self.typing_name => {
                if !SIGNATURE_NAME_FIELD.allows(c) {
                    self.problem = Some(PageProblem::BadCharacters);
                    return Ok(());
                }
                if self.typed.chars().count() >= SIGNATURE_NAME_FIELD.max_chars() {
                    self.problem = Some(PageProblem::TooLong);
                    return Ok(());
                }
                self.typed.push(c);
            }
            (PageKind::Consent, FormInput::Backspace, _) if self.typing_name => {
                self.typed.pop();
            }
            (PageKind::Consent, FormInput::TypeName, _) => {
                if !form.agreed {
                    self.problem = Some(PageProblem::NotAgreed);
                    return Ok(());
                }
                self.typing_name = true;
                self.typed = form.signature_name.clone().unwrap_or_default();
            }
            (PageKind::Consent, FormInput::Agree, _) => form.agreed = true,
            (PageKind::Consent, FormInput::Signed(png), _) if !self.typing_name => {
                if !form.agreed {
                    self.problem = Some(PageProblem::NotAgreed);
                    return Ok(());
                }
                if !png.starts_with(PNG_SIGNATURE) || png.len() > MAX_SIGNATURE_BYTES {
                    form.signature = None;
                    self.problem = Some(PageProblem::NotSigned);
                    return Ok(());
                }
                form.signature = Some(png);
                form.signature_name = None;
            }
            (PageKind::Consent, FormInput::ClearSignature, _) => {
                form.signature = None;
                form.signature_name = None;
            }
            (_, input, _) => return Err(FormsError::NotHere(input.name())),
        }
        self.problem = None;
        Ok(())
    }

    /// "Next": checks the page's answer, then moves on (and completes the
    /// form after its last page).
    fn next(&mut self, language: Language) -> Result<FormOutcome, FormsError> {
        let (kind, item) = self.current().ok_or(FormsError::NotHere("next"))?;
        let item = item.cloned();
        if let Some(problem) = self.commit_page(kind, item.as_ref()) {
            self.problem = Some(problem);
            return Ok(FormOutcome::stay());
        }
        self.problem = None;
        Ok(self.advance(item.map(|i| i.link_id), language))
    }

    /// Stores what the page holds into the response; the problem if it
    /// cannot be stored, or a required page is unanswered.
    fn commit_page(&mut self, kind: PageKind, item: Option<&Item>) -> Option<PageProblem> {
        let form = &mut self.forms[self.at];
        let q = Arc::clone(&form.due.form);
        if kind == PageKind::Consent {
            if !form.agreed {
                return Some(PageProblem::NotAgreed);
            }
            if form.signature.is_none() && form.signature_name.is_none() {
                return Some(PageProblem::NotSigned);
            }
            let id = form.consent.clone()?;
            let _ = form.response.set(&q, &id, Answer::Boolean(true));
            return None;
        }
        let item = item?;
        let id = &item.link_id;
        if matches!(kind, PageKind::Integer | PageKind::Date | PageKind::Text) {
            let typed = self.typed.trim();
            if typed.is_empty() {
                form.response.clear(id);
            } else {
                let answer = match parse_typed(kind, typed) {
                    Ok(answer) => answer,
                    Err(problem) => return Some(problem),
                };
                if form.response.set(&q, id, answer).is_err() {
                    return Some(match kind {
                        PageKind::Text => PageProblem::BadCharacters,
                        _ => PageProblem::OutOfRange,
                    });
                }
            }
        }
        (item.required && form.response.get(id).is_none()).then_some(PageProblem::Required)
    }

    /// Moves past the page of `link_id` (a consent page has none).
    fn advance(&mut self, link_id: Option<String>, language: Language) -> FormOutcome {
        let pages_after = {
            let pages = self.forms[self.at].pages();
            let here = link_id
                .as_deref()
                .and_then(|id| pages.iter().position(|p| p.link_id() == Some(id)))
                .unwrap_or(self.page);
            (here + 1 < pages.len()).then_some(here + 1)
        };
        if let Some(next) = pages_after {
            self.page = next;
            self.load_page();
            return FormOutcome::stay();
        }
        let mut completed = vec![self.complete(language)];
        self.at += 1;
        self.page = 0;
        // A form whose every page was carried over is complete at once.
        while self.at < self.forms.len() && self.forms[self.at].pages().is_empty() {
            completed.push(self.complete(language));
            self.at += 1;
        }
        self.load_page();
        FormOutcome {
            completed,
            moved: if self.on_thank_you() {
                Moved::ThankYou
            } else {
                Moved::Stay
            },
        }
    }

    /// Hands back the current form, and steps a PHQ-2 up to the PHQ-9.
    fn complete(&mut self, language: Language) -> CompletedForm {
        let form = &mut self.forms[self.at];
        form.completed = true;
        let effective = form.due.form.effective(&form.response);
        let urgent = Instrument::for_form(&form.due.id) == Some(Instrument::Phq9)
            && score_response(Instrument::Phq9, &form.due.form, &effective)
                .is_ok_and(|s| s.urgent().is_some());
        let done = CompletedForm {
            form: form.due.clone(),
            response: effective,
            language,
            signature_png: form.signature.clone(),
            signature_name: form.signature_name.clone(),
            urgent,
        };
        if Instrument::for_form(&done.form.id) == Some(Instrument::Phq2) {
            self.step_up_after(&done);
        }
        done
    }

    /// After a PHQ-2: adds (or refreshes, or withdraws) the PHQ-9.
    fn step_up_after(&mut self, phq2: &CompletedForm) {
        let steps_up = score_response(Instrument::Phq2, &phq2.form.form, &phq2.response)
            .is_ok_and(|s| s.steps_up_to_phq9());
        let existing = self
            .forms
            .iter()
            .position(|f| Instrument::for_form(&f.due.id) == Some(Instrument::Phq9));
        match (steps_up, existing) {
            (true, Some(i)) if self.forms[i].stepped_up && !self.forms[i].completed => {
                carry_over(&mut self.forms[i], &phq2.response);
            }
            (true, None) => {
                if let Some(phq9) = self.step_up.clone() {
                    let mut state = FormState::new(phq9, true);
                    carry_over(&mut state, &phq2.response);
                    self.forms.insert(self.at + 1, state);
                }
            }
            (false, Some(i)) if self.forms[i].stepped_up && !self.forms[i].completed => {
                self.forms.remove(i);
            }
            _ => {}
        }
    }

    /// "Back": the previous page, the previous form's last page, or out.
    /// What was typed on the page is kept when it is a valid answer.
    fn back(&mut self) -> FormOutcome {
        if let Some((kind, Some(item))) = self.current() {
            let item = item.clone();
            if matches!(kind, PageKind::Integer | PageKind::Date | PageKind::Text) {
                let _ = self.commit_page(kind, Some(&item));
            }
        }
        self.problem = None;
        if self.page > 0 {
            self.page -= 1;
        } else if self.at > 0 {
            self.at -= 1;
            self.page = self.forms[self.at].pages().len().saturating_sub(1);
        } else {
            return FormOutcome {
                completed: Vec::new(),
                moved: Moved::Out,
            };
        }
        self.load_page();
        FormOutcome::stay()
    }

    /// Next on the keyboard of a consent: the typed name, trimmed, signs
    /// the consent in place of a drawing, and the page is passed. A name
    /// that breaks the rule stays on the keyboard with its problem.
    fn sign_with_name(&mut self, language: Language) -> FormOutcome {
        let name = self.typed.trim().to_owned();
        if let Err(e) = check_signature_name(&name) {
            self.problem = Some(match e {
                FieldError::TooLong { .. } => PageProblem::TooLong,
                FieldError::Invisible { .. } | FieldError::BadCharacter { .. } => {
                    PageProblem::BadCharacters
                }
                _ => PageProblem::NotSigned,
            });
            return FormOutcome::stay();
        }
        let form = &mut self.forms[self.at];
        form.signature_name = Some(name);
        form.signature = None;
        self.typing_name = false;
        self.typed.clear();
        match self.next(language) {
            Ok(outcome) => outcome,
            // The consent page is current, so Next always applies.
            Err(_) => FormOutcome::stay(),
        }
    }

    /// Fills the typed text from the stored answer of the page now shown.
    fn load_page(&mut self) {
        self.problem = None;
        self.typing_name = false;
        self.typed = match self.current() {
            Some((_, Some(item))) => match self.forms[self.at].response.get(&item.link_id) {
                Some(Answer::Integer(n)) => n.to_string(),
                Some(Answer::Date(d)) => d.format("%m%d%Y").to_string(),
                Some(Answer::String(s)) => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
    }

    /// The page as the screen shows it, in `language`.
    pub fn view(&self, language: Language) -> PageView {
        let counts: Vec<usize> = self.forms.iter().map(|f| f.pages().len()).collect();
        let count = counts.iter().sum::<usize>();
        let before: usize = counts.iter().take(self.at).sum();
        let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let Some(form) = self.forms.get(self.at) else {
            let crisis = self.crisis().then_some(self.crisis_text.as_ref()).flatten();
            return PageView {
                kind: PageKind::ThankYou,
                position: as_u32(count),
                count: as_u32(count),
                crisis_text: crisis
                    .map(|t| t.get(language).to_owned())
                    .unwrap_or_default(),
                ..PageView::default()
            };
        };
        let mut view = PageView {
            form_title: form.due.form.title().get(language).to_owned(),
            typed: self.typed.clone(),
            problem: self.problem,
            position: as_u32(before + self.page + 1),
            count: as_u32(count),
            agreed: form.agreed,
            signed: form.signature.is_some() || form.signature_name.is_some(),
            typing_name: self.typing_name,
            ..PageView::default()
        };
        match form.pages().get(self.page) {
            Some(PageRef::Consent) => {
                view.kind = PageKind::Consent;
                view.required = true;
                view.text = consent_text(&form.due.form, language);
            }
            Some(PageRef::Item { item, group }) => {
                view.kind = kind_of(item);
                view.text = item.text.get(language).to_owned();
                view.group_title = group
                    .map(|g| g.text.get(language).to_owned())
                    .unwrap_or_default();
                view.required = item.required;
                view.selected = selected(item, form.response.get(&item.link_id));
                if let ItemKind::Choice(options) = &item.kind {
                    view.options = options
                        .iter()
                        .map(|o| o.display.get(language).to_owned())
                        .collect();
                }
            }
            None => {}
        }
        view
    }
}

/// Copies the PHQ-2's two answers into the PHQ-9's first two items, where
/// the PHQ-9 offers the same option; those items are then not asked.
fn carry_over(phq9: &mut FormState, phq2: &Response) {
    phq9.carried.clear();
    let q = Arc::clone(&phq9.due.form);
    let pairs = Instrument::Phq2
        .link_ids()
        .iter()
        .zip(Instrument::Phq9.link_ids());
    for (from, to) in pairs {
        if let Some(answer) = phq2.get(from)
            && phq9.response.set(&q, to, answer.clone()).is_ok()
        {
            phq9.carried.push((*to).to_owned());
        }
    }
}

/// The page kind of an item.
fn kind_of(item: &Item) -> PageKind {
    match item.kind {
        ItemKind::Display | ItemKind::Group(_) => PageKind::Display,
        ItemKind::Boolean => PageKind::Boolean,
        ItemKind::Choice(_) => PageKind::Choice,
        ItemKind::Integer { .. } => PageKind::Integer,
        ItemKind::Date => PageKind::Date,
        ItemKind::String { .. } => PageKind::Text,
    }
}

/// The index shown as chosen: the option's, or 0 for yes and 1 for no.
fn selected(item: &Item, answer: Option<&Answer>) -> Option<usize> {
    match (&item.kind, answer?) {
        (ItemKind::Choice(options), Answer::Coding(code)) => {
            options.iter().position(|o| &o.code == code)
        }
        (ItemKind::Boolean, Answer::Boolean(b)) => Some(if *b { 0 } else { 1 }),
        _ => None,
    }
}

/// A consent's whole text: its paragraphs, then the agreement sentence.
fn consent_text(form: &Questionnaire, language: Language) -> String {
    form.items()
        .iter()
        .map(|i| i.text.get(language))
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Parses what was typed on an integer, date or text page.
fn parse_typed(kind: PageKind, typed: &str) -> Result<Answer, PageProblem> {
    match kind {
        PageKind::Integer => typed
            .parse::<i64>()
            .map(Answer::Integer)
            .map_err(|_| PageProblem::NotANumber),
        PageKind::Date => {
            let date = parse_mmddyyyy(typed).ok_or(PageProblem::BadDate)?;
            if (first_date()..=last_date()).contains(&date) {
                Ok(Answer::Date(date))
            } else {
                Err(PageProblem::OutOfRange)
            }
        }
        _ => Ok(Answer::String(typed.to_owned())),
    }
}

/// Eight digits, MMDDYYYY, as a date.
fn parse_mmddyyyy(digits: &str) -> Option<NaiveDate> {
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month = digits.get(0..2)?.parse().ok()?;
    let day = digits.get(2..4)?.parse().ok()?;
    let year = digits.get(4..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
#[path = "forms_session_tests.rs"]
mod tests;
