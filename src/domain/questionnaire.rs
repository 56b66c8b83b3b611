//! Intake forms: the subset of a FHIR R4 Questionnaire the kiosk supports,
//! as plain types, and a patient's answers to one ([`Response`]).
//!
//! Supported items are display, boolean, choice (with optional ordinal
//! weights), integer, date, short string and group; logic is `enableWhen`
//! (with `enableBehavior`) and `required`. Every text exists in English and
//! Spanish. A [`Questionnaire`] is checked when it is built, so the rest of
//! the program never meets a broken form. No error message carries an
//! answer's value: answers are PHI.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::fields::is_invisible;
use super::flow::Language;

/// The most characters in a linkId or a form id.
pub const MAX_ID_CHARS: usize = 64;
/// The most characters in an item's text (consent texts are long).
pub const MAX_TEXT_CHARS: usize = 8000;
/// The most characters in an answer option's display text.
pub const MAX_OPTION_CHARS: usize = 200;
/// The most characters a short string answer may ever hold.
pub const MAX_STRING_ANSWER_CHARS: usize = 200;
/// The most items (of any kind, at any depth) in one form.
pub const MAX_ITEMS: usize = 200;
/// The deepest nesting of groups.
pub const MAX_DEPTH: usize = 4;
/// The widest range an integer item may allow.
pub const INTEGER_LIMIT: i64 = 1_000_000;
/// The first date a date answer may hold.
pub const FIRST_DATE: (i32, u32, u32) = (1900, 1, 1);
/// The last date a date answer may hold.
pub const LAST_DATE: (i32, u32, u32) = (2100, 12, 31);

/// A text in both languages the kiosk speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalizedText {
    /// English.
    pub en: String,
    /// Spanish.
    pub es: String,
}

impl LocalizedText {
    /// A text with its English and Spanish wording.
    pub fn new(en: impl Into<String>, es: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            es: es.into(),
        }
    }

    /// The wording in `language`.
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::En => &self.en,
            Language::Es => &self.es,
        }
    }

    fn is_empty(&self) -> bool {
        self.en.is_empty() && self.es.is_empty()
    }
}

/// One answer a choice item offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOption {
    /// The code stored in the response, for example `LA6568-5`.
    pub code: String,
    /// The code system, if the form names one.
    pub system: Option<String>,
    /// The button's text.
    pub display: LocalizedText,
    /// The ordinal weight used for scores, where the form gives one.
    pub weight: Option<i32>,
}

/// What kind of item, with what it needs to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// Text only, no answer.
    Display,
    /// Yes or no.
    Boolean,
    /// One of a list of options, shown as big buttons.
    Choice(Vec<AnswerOption>),
    /// A whole number within a range.
    Integer {
        /// The smallest accepted answer.
        min: i64,
        /// The largest accepted answer.
        max: i64,
    },
    /// A calendar date.
    Date,
    /// A short free text.
    String {
        /// The most characters accepted.
        max_chars: usize,
    },
    /// A group of nested items.
    Group(Vec<Item>),
}

impl ItemKind {
    /// The FHIR type name, for messages and write-back.
    pub fn fhir_type(&self) -> &'static str {
        match self {
            Self::Display => "display",
            Self::Boolean => "boolean",
            Self::Choice(_) => "choice",
            Self::Integer { .. } => "integer",
            Self::Date => "date",
            Self::String { .. } => "string",
            Self::Group(_) => "group",
        }
    }

    /// Whether a patient answers this item.
    pub fn is_question(&self) -> bool {
        !matches!(self, Self::Display | Self::Group(_))
    }
}

/// How an `enableWhen` compares the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The question has (or, with `false`, has not) an answer.
    Exists,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
}

impl Operator {
    /// The FHIR spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Exists => "exists",
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Le => "<=",
        }
    }

    /// Parses the FHIR spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Exists,
            Self::Eq,
            Self::Ne,
            Self::Gt,
            Self::Lt,
            Self::Ge,
            Self::Le,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    fn is_ordering(&self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::Ge | Self::Le)
    }
}

/// The value an `enableWhen` compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A yes/no (also the operand of `exists`).
    Boolean(bool),
    /// An option's code.
    Coding(String),
    /// A whole number.
    Integer(i64),
}

/// One `enableWhen` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableWhen {
    /// The linkId of the question it looks at.
    pub question: String,
    /// The comparison.
    pub operator: Operator,
    /// The operand.
    pub answer: Condition,
}

/// How several `enableWhen` conditions combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnableBehavior {
    /// Every condition must hold.
    #[default]
    All,
    /// One condition is enough.
    Any,
}

/// One item of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's id within the form.
    pub link_id: String,
    /// The question or text shown. Empty only for groups.
    pub text: LocalizedText,
    /// The kind of item.
    pub kind: ItemKind,
    /// Whether an enabled item must be answered before the form is done.
    pub required: bool,
    /// The conditions under which the item is shown; none means always.
    pub enable_when: Vec<EnableWhen>,
    /// How the conditions combine.
    pub enable_behavior: EnableBehavior,
}

impl Item {
    /// An always-shown, optional item.
    pub fn new(link_id: impl Into<String>, text: LocalizedText, kind: ItemKind) -> Self {
        Self {
            link_id: link_id.into(),
            text,
            kind,
            required: false,
            enable_when: Vec::new(),
            enable_behavior: EnableBehavior::All,
        }
    }

    /// The option with `code`, for choice items.
    pub fn option(&self, code: &str) -> Option<&AnswerOption> {
        match &self.kind {
            ItemKind::Choice(options) => options.iter().find(|o| o.code == code),
            _ => None,
        }
    }
}

/// One answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// To a boolean item.
    Boolean(bool),
    /// To a choice item: the option's code.
    Coding(String),
    /// To an integer item.
    Integer(i64),
    /// To a date item.
    Date(NaiveDate),
    /// To a string item.
    String(String),
}

impl Answer {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Boolean(_) => "boolean",
            Self::Coding(_) => "choice",
            Self::Integer(_) => "integer",
            Self::Date(_) => "date",
            Self::String(_) => "string",
        }
    }
}

/// A patient's answers to one form: at most one answer per linkId (the
/// supported subset has no repeating items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    answers: BTreeMap<String, Answer>,
}

impl Response {
    /// No answers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `answer` to `link_id` after checking it against the item.
    pub fn set(
        &mut self,
        form: &Questionnaire,
        link_id: &str,
        answer: Answer,
    ) -> Result<(), QuestionnaireError> {
        form.validate_answer(link_id, &answer)?;
        self.answers.insert(link_id.to_owned(), answer);
        Ok(())
    }

    /// Forgets the answer to `link_id`, if any.
    pub fn clear(&mut self, link_id: &str) {
        self.answers.remove(link_id);
    }

    /// The answer to `link_id`.
    pub fn get(&self, link_id: &str) -> Option<&Answer> {
        self.answers.get(link_id)
    }

    /// Every answer, by linkId.
    pub fn answers(&self) -> impl Iterator<Item = (&str, &Answer)> {
        self.answers.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether nothing is answered.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

/// One screen of a form: one item, with the group it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen<'a> {
    /// The item shown.
    pub item: &'a Item,
    /// The innermost group around it, whose text is the screen's heading.
    pub group: Option<&'a Item>,
}

/// Why a form or an answer was refused. Messages name the linkId, never an
/// answer's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuestionnaireError {
    /// The form id is empty, too long or has characters other than visible
    /// ASCII.
    #[error("the form id must be 1 to {MAX_ID_CHARS} visible ASCII characters")]
    BadFormId,
    /// An item's linkId is empty, too long or not visible ASCII.
    #[error(
        "item number {0} has a linkId that is empty, longer than {MAX_ID_CHARS} characters or not visible ASCII"
    )]
    BadLinkId(usize),
    /// Two items share a linkId.
    #[error("linkId {0} is used by more than one item")]
    DuplicateLinkId(String),
    /// The form has no items, or too many, or groups nest too deep.
    #[error("a form must have 1 to {MAX_ITEMS} items, in groups at most {MAX_DEPTH} deep")]
    BadSize,
    /// A text is missing in one language.
    #[error("item {link_id}: the {language} text is missing")]
    MissingText {
        /// The item.
        link_id: String,
        /// `"English"` or `"Spanish"`.
        language: &'static str,
    },
    /// A text is too long or has invisible characters.
    #[error("item {link_id}: a text is longer than {max} characters or has invisible characters")]
    BadText {
        /// The item.
        link_id: String,
        /// The limit that applies.
        max: usize,
    },
    /// A group has no items.
    #[error("group {0} has no items")]
    EmptyGroup(String),
    /// A choice item has no options, or two options share a code, or a code
    /// is not visible ASCII.
    #[error("choice item {0} needs options with distinct codes of visible ASCII")]
    BadOptions(String),
    /// An integer item's range is empty or wider than allowed.
    #[error("integer item {0} has an empty range or one beyond ±{INTEGER_LIMIT}")]
    BadRange(String),
    /// A string item's length limit is zero or above the maximum.
    #[error("string item {0} must allow 1 to {MAX_STRING_ANSWER_CHARS} characters")]
    BadMaxLength(String),
    /// A display or group item is marked required.
    #[error("item {0} cannot be required: it takes no answer")]
    RequiredNonQuestion(String),
    /// An `enableWhen` names a question the form does not have.
    #[error("item {link_id}: enableWhen names {question}, which is not a question in this form")]
    EnableWhenUnknown {
        /// The item with the condition.
        link_id: String,
        /// The question it names.
        question: String,
    },
    /// An `enableWhen` compares in a way the question's type cannot.
    #[error("item {link_id}: enableWhen on {question} does not fit that question's type")]
    EnableWhenMismatch {
        /// The item with the condition.
        link_id: String,
        /// The question it names.
        question: String,
    },
    /// Items depend on each other (or an item on itself) in a circle.
    #[error("item {0}: its enableWhen conditions depend on themselves in a circle")]
    EnableWhenCycle(String),
    /// An answer names an item the form does not have.
    #[error("this form has no item {0}")]
    UnknownItem(String),
    /// An answer was given to a display or group item.
    #[error("item {0} takes no answer")]
    NotAQuestion(String),
    /// An answer of the wrong type.
    #[error("item {link_id} takes a {expected} answer, not a {got} one")]
    WrongType {
        /// The item.
        link_id: String,
        /// What it takes.
        expected: &'static str,
        /// What was given.
        got: &'static str,
    },
    /// A choice answer that is not one of the item's options.
    #[error("item {0}: the answer is not one of its options")]
    UnknownOption(String),
    /// An integer outside the item's range.
    #[error("item {link_id}: the answer must be from {min} to {max}")]
    OutOfRange {
        /// The item.
        link_id: String,
        /// The smallest accepted.
        min: i64,
        /// The largest accepted.
        max: i64,
    },
    /// A date outside 1900–2100.
    #[error("item {0}: the date must be from 1900-01-01 to 2100-12-31")]
    DateOutOfRange(String),
    /// A string answer that is empty, too long or has a character not
    /// allowed.
    #[error(
        "item {link_id}: the answer must be 1 to {max} characters with no invisible characters or line breaks"
    )]
    BadString {
        /// The item.
        link_id: String,
        /// Its limit.
        max: usize,
    },
}

/// A form the kiosk can show: checked when built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Questionnaire {
    id: String,
    title: LocalizedText,
    items: Vec<Item>,
}

impl Questionnaire {
    /// Checks and builds a form: ids, texts in both languages, options,
    /// ranges, and that every `enableWhen` names an earlier-or-later question
    /// of a fitting type with no circular dependency.
    pub fn new(
        id: impl Into<String>,
        title: LocalizedText,
        items: Vec<Item>,
    ) -> Result<Self, QuestionnaireError> {
        let id = id.into();
        if !is_id(&id) {
            return Err(QuestionnaireError::BadFormId);
        }
        let form = Self { id, title, items };
        form.check_structure()?;
        form.check_enable_when()?;
        Ok(form)
    }

    /// The form's id, for example `phq-9`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The form's title.
    pub fn title(&self) -> &LocalizedText {
        &self.title
    }

    /// The top-level items, in order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The item with `link_id`, at any depth.
    pub fn item(&self, link_id: &str) -> Option<&Item> {
        self.walk()
            .into_iter()
            .find(|(i, _)| i.link_id == link_id)
            .map(|(i, _)| i)
    }

    /// Every item at any depth in document order, with its parent group.
    fn walk(&self) -> Vec<(&Item, Option<&Item>)> {
        fn go<'a>(
            items: &'a [Item],
            parent: Option<&'a Item>,
            out: &mut Vec<(&'a Item, Option<&'a Item>)>,
        ) {
            for item in items {
                out.push((item, parent));
                if let ItemKind::Group(children) = &item.kind {
                    go(children, Some(item), out);
                }
            }
        }
        let mut out = Vec::new();
        go(&self.items, None, &mut out);
        out
    }

    fn check_structure(&self) -> Result<(), QuestionnaireError> {
        let all = self.walk();
        if all.is_empty() || all.len() > MAX_ITEMS || depth(&self.items) > MAX_DEPTH {
            return Err(QuestionnaireError::BadSize);
        }
        let mut seen = BTreeSet::new();
        for (n, (item, _)) in all.iter().enumerate() {
            if !is_id(&item.link_id) {
                return Err(QuestionnaireError::BadLinkId(n + 1));
            }
            if !seen.insert(item.link_id.as_str()) {
                return Err(QuestionnaireError::DuplicateLinkId(item.link_id.clone()));
            }
            check_item(item)?;
        }
        Ok(())
    }

    fn check_enable_when(&self) -> Result<(), QuestionnaireError> {
        for (item, _) in self.walk() {
            for cond in &item.enable_when {
                let target = self
                    .item(&cond.question)
                    .filter(|t| t.kind.is_question())
                    .ok_or_else(|| QuestionnaireError::EnableWhenUnknown {
                        link_id: item.link_id.clone(),
                        question: cond.question.clone(),
                    })?;
                if !condition_fits(cond, target) {
                    return Err(QuestionnaireError::EnableWhenMismatch {
                        link_id: item.link_id.clone(),
                        question: cond.question.clone(),
                    });
                }
            }
        }
        for (item, _) in self.walk() {
            let mut path = Vec::new();
            if self.reaches_itself(&item.link_id, &item.link_id, &mut path) {
                return Err(QuestionnaireError::EnableWhenCycle(item.link_id.clone()));
            }
        }
        Ok(())
    }

    /// The items `link_id`'s enabledness depends on directly: its parent
    /// group and the questions its conditions name.
    fn depends_on(&self, link_id: &str) -> Vec<&str> {
        let all = self.walk();
        let Some((item, parent)) = all.iter().find(|(i, _)| i.link_id == link_id) else {
            return Vec::new();
        };
        let mut deps: Vec<&str> = item
            .enable_when
            .iter()
            .map(|c| c.question.as_str())
            .collect();
        if let Some(p) = parent {
            deps.push(&p.link_id);
        }
        deps
    }

    fn reaches_itself<'a>(&'a self, start: &str, at: &'a str, path: &mut Vec<&'a str>) -> bool {
        for dep in self.depends_on(at) {
            if dep == start {
                return true;
            }
            if path.contains(&dep) {
                continue;
            }
            path.push(dep);
            if self.reaches_itself(start, dep, path) {
                return true;
            }
        }
        false
    }

    /// Checks `answer` against the item `link_id`: its type, its options, and
    /// the limits on integers, dates and strings.
    pub fn validate_answer(
        &self,
        link_id: &str,
        answer: &Answer,
    ) -> Result<(), QuestionnaireError> {
        let item = self
            .item(link_id)
            .ok_or_else(|| QuestionnaireError::UnknownItem(shown_id(link_id)))?;
        let id = || item.link_id.clone();
        let wrong = |expected| QuestionnaireError::WrongType {
            link_id: id(),
            expected,
            got: answer.type_name(),
        };
        match (&item.kind, answer) {
            (ItemKind::Display | ItemKind::Group(_), _) => {
                Err(QuestionnaireError::NotAQuestion(id()))
            }
            (ItemKind::Boolean, Answer::Boolean(_)) => Ok(()),
            (ItemKind::Choice(_), Answer::Coding(code)) => match item.option(code) {
                Some(_) => Ok(()),
                None => Err(QuestionnaireError::UnknownOption(id())),
            },
            (ItemKind::Integer { min, max }, Answer::Integer(v)) => {
                if (*min..=*max).contains(v) {
                    Ok(())
                } else {
                    Err(QuestionnaireError::OutOfRange {
                        link_id: id(),
                        min: *min,
                        max: *max,
                    })
                }
            }
            (ItemKind::Date, Answer::Date(d)) => {
                if (first_date()..=last_date()).contains(d) {
                    Ok(())
                } else {
                    Err(QuestionnaireError::DateOutOfRange(id()))
                }
            }
            (ItemKind::String { max_chars }, Answer::String(s)) => {
                let n = s.chars().count();
                if n == 0 || n > *max_chars || s.trim().is_empty() || s.chars().any(is_invisible) {
                    Err(QuestionnaireError::BadString {
                        link_id: id(),
                        max: *max_chars,
                    })
                } else {
                    Ok(())
                }
            }
            (kind, _) => Err(wrong(kind.fhir_type())),
        }
    }

    /// Whether the item `link_id` is shown, given the answers so far. An
    /// item inside a hidden group is hidden; a hidden question counts as
    /// unanswered in other items' conditions. Unknown items are not enabled.
    pub fn is_enabled(&self, link_id: &str, response: &Response) -> bool {
        let mut memo = BTreeMap::new();
        self.enabled_memo(link_id, response, &mut memo)
    }

    fn enabled_memo<'a>(
        &'a self,
        link_id: &str,
        response: &Response,
        memo: &mut BTreeMap<&'a str, bool>,
    ) -> bool {
        if let Some(&known) = memo.get(link_id) {
            return known;
        }
        let all = self.walk();
        let Some(&(item, parent)) = all.iter().find(|(i, _)| i.link_id == link_id) else {
            return false;
        };
        // Construction refused circular dependencies, so this recursion ends.
        let parent_ok = parent.is_none_or(|p| self.enabled_memo(&p.link_id, response, memo));
        let holds = |c: &EnableWhen, memo: &mut BTreeMap<&'a str, bool>| {
            let answer = if self.enabled_memo(&c.question, response, memo) {
                response.get(&c.question)
            } else {
                None
            };
            condition_holds(c, answer)
        };
        let own_ok = if item.enable_when.is_empty() {
            true
        } else {
            match item.enable_behavior {
                EnableBehavior::All => item.enable_when.iter().all(|c| holds(c, memo)),
                EnableBehavior::Any => item.enable_when.iter().any(|c| holds(c, memo)),
            }
        };
        let enabled = parent_ok && own_ok;
        memo.insert(&item.link_id, enabled);
        enabled
    }

    /// The linkIds of every enabled item, at any depth, in document order.
    pub fn enabled_items(&self, response: &Response) -> Vec<&str> {
        let mut memo = BTreeMap::new();
        self.walk()
            .into_iter()
            .filter(|(i, _)| self.enabled_memo(&i.link_id, response, &mut memo))
            .map(|(i, _)| i.link_id.as_str())
            .collect()
    }

    /// The enabled required questions that have no answer yet.
    pub fn missing_required(&self, response: &Response) -> Vec<&str> {
        self.enabled_items(response)
            .into_iter()
            .filter(|id| self.item(id).is_some_and(|i| i.required) && response.get(id).is_none())
            .collect()
    }

    /// Whether every enabled required question is answered.
    pub fn is_complete(&self, response: &Response) -> bool {
        self.missing_required(response).is_empty()
    }

    /// The answers of enabled items only: what is kept and written back once
    /// the form is done. Answers to items later hidden are dropped.
    pub fn effective(&self, response: &Response) -> Response {
        let enabled: BTreeSet<&str> = self.enabled_items(response).into_iter().collect();
        Response {
            answers: response
                .answers
                .iter()
                .filter(|(k, _)| enabled.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The screens to show, one item per screen, in order: every enabled
    /// display or question item, with groups flattened into their items.
    /// Recompute after each answer, as answers enable and hide items.
    pub fn screens(&self, response: &Response) -> Vec<Screen<'_>> {
        let enabled: BTreeSet<&str> = self.enabled_items(response).into_iter().collect();
        self.walk()
            .into_iter()
            .filter(|(i, _)| {
                !matches!(i.kind, ItemKind::Group(_)) && enabled.contains(i.link_id.as_str())
            })
            .map(|(item, group)| Screen { item, group })
            .collect()
    }
}

/// The first date a date answer may hold.
pub fn first_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_DATE.0, FIRST_DATE.1, FIRST_DATE.2).unwrap_or(NaiveDate::MIN)
}

/// The last date a date answer may hold.
pub fn last_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(LAST_DATE.0, LAST_DATE.1, LAST_DATE.2).unwrap_or(NaiveDate::MAX)
}

/// Whether `s` is a usable id: 1 to 64 visible ASCII characters.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_CHARS && s.chars().all(|c| c.is_ascii_graphic())
}

/// An id fit to print in a message, or a placeholder when it is not one.
fn shown_id(s: &str) -> String {
    if is_id(s) {
        s.to_owned()
    } else {
        "(invalid linkId)".to_owned()
    }
}

fn depth(items: &[Item]) -> usize {
    1 + items
        .iter()
        .map(|i| match &i.kind {
            ItemKind::Group(children) => depth(children),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

fn text_ok(text: &str, max: usize) -> bool {
    text.chars().count() <= max && !text.chars().any(|c| is_invisible(c) && c != '\n')
}

fn check_text(link_id: &str, text: &LocalizedText, max: usize) -> Result<(), QuestionnaireError> {
    for (value, language) in [(&text.en, "English"), (&text.es, "Spanish")] {
        if value.trim().is_empty() {
            return Err(QuestionnaireError::MissingText {
                link_id: link_id.to_owned(),
                language,
            });
        }
        if !text_ok(value, max) {
            return Err(QuestionnaireError::BadText {
                link_id: link_id.to_owned(),
                max,
            });
        }
    }
    Ok(())
}

fn check_item(item: &Item) -> Result<(), QuestionnaireError> {
    let id = || item.link_id.clone();
    match &item.kind {
        ItemKind::Group(children) => {
            if children.is_empty() {
                return Err(QuestionnaireError::EmptyGroup(id()));
            }
            if !item.text.is_empty() {
                check_text(&item.link_id, &item.text, MAX_TEXT_CHARS)?;
            }
        }
        _ => check_text(&item.link_id, &item.text, MAX_TEXT_CHARS)?,
    }
    if item.required && !item.kind.is_question() {
        return Err(QuestionnaireError::RequiredNonQuestion(id()));
    }
    match &item.kind {
        ItemKind::Choice(options) => {
            let mut codes = BTreeSet::new();
            if options.is_empty()
                || options
                    .iter()
                    .any(|o| !is_id(&o.code) || !codes.insert(&o.code))
            {
                return Err(QuestionnaireError::BadOptions(id()));
            }
            for o in options {
                check_text(&item.link_id, &o.display, MAX_OPTION_CHARS)?;
            }
        }
        ItemKind::Integer { min, max }
            if min > max || *min < -INTEGER_LIMIT || *max > INTEGER_LIMIT =>
        {
            return Err(QuestionnaireError::BadRange(id()));
        }
        ItemKind::String { max_chars }
            if *max_chars == 0 || *max_chars > MAX_STRING_ANSWER_CHARS =>
        {
            return Err(QuestionnaireError::BadMaxLength(id()));
        }
        _ => {}
    }
    Ok(())
}

/// Whether a condition's operator and operand suit the question it names.
fn condition_fits(cond: &EnableWhen, target: &Item) -> bool {
    match (cond.operator, &cond.answer, &target.kind) {
        (Operator::Exists, Condition::Boolean(_), _) => true,
        (Operator::Exists, _, _) => false,
        (op, Condition::Boolean(_), ItemKind::Boolean) => !op.is_ordering(),
        // FHIR defines no order on codes: only = and != apply.
        (op, Condition::Coding(code), ItemKind::Choice(options)) => {
            !op.is_ordering() && options.iter().any(|o| &o.code == code)
        }
        (_, Condition::Integer(_), ItemKind::Integer { .. }) => true,
        _ => false,
    }
}

fn condition_holds(cond: &EnableWhen, answer: Option<&Answer>) -> bool {
    use std::cmp::Ordering;
    if cond.operator == Operator::Exists {
        return answer.is_some() == (cond.answer == Condition::Boolean(true));
    }
    let Some(answer) = answer else {
        return false;
    };
    let ordering: Option<Ordering> = match (answer, &cond.answer) {
        (Answer::Boolean(a), Condition::Boolean(b)) => Some(a.cmp(b)),
        (Answer::Integer(a), Condition::Integer(b)) => Some(a.cmp(b)),
        // Codes are only equal or not; construction refused ordering them.
        (Answer::Coding(a), Condition::Coding(b)) if !cond.operator.is_ordering() => {
            Some(if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        _ => None,
    };
    match (cond.operator, ordering) {
        (Operator::Eq, Some(o)) => o == Ordering::Equal,
        (Operator::Ne, Some(o)) => o != Ordering::Equal,
        (Operator::Gt, Some(o)) => o == Ordering::Greater,
        (Operator::Lt, Some(o)) => o == Ordering::Less,
        (Operator::Ge, Some(o)) => o != Ordering::Less,
        (Operator::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
#[path = "questionnaire_tests.rs"]
mod tests;
