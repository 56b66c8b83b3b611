//! The spoken script: what the kiosk says for each view model, focused
//! control and event, in the session's language (English or Spanish), in
//! the same words the screen shows.
//!
//! Pure Rust: it reads a [`ViewModel`] and returns [`Utterance`]s. It does
//! no I/O and knows nothing of Slint or audio, so every line is unit-tested
//! like the flow.
//!
//! **Privacy invariant:** patient data, even masked (the display name, the
//! appointment time and clinician, masked contact details and coverage,
//! amounts owed, a payment reference, every digit of a date of birth or
//! letter of a last name the patient types, the key of a keypad or
//! keyboard in the focus ring, and which answer of a form is chosen), is
//! only ever in an utterance marked [`Audience::PrivateListening`].
//! Prompts around it are separate [`Audience::Anyone`] utterances, so a
//! loudspeaker still says what to do; where it withholds the keys, it says
//! how to hear them instead ([`Audience::LoudspeakerOnly`]).

use unicode_normalization::UnicodeNormalization;

use super::{Audience, Utterance};
use crate::domain::masking::MASK;
use crate::domain::{CoPayChoice, Field, Language, PassProblem, ReasonCode};
use crate::kiosk::view::{
    DemographicsField, DeskReason, DobProblem, EditProblem, FormItemKind, FormProblem,
    InsuranceField, NameProblem, Screen, ViewModel,
};

/// A control the keypad focus ring is on, as the UI reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusedControl {
    /// The visible label, already in the session's language.
    pub label: String,
    /// What kind of control it is.
    pub role: ControlRole,
    /// Whether it can be used, or is chosen.
    pub state: ControlState,
    /// Whether the label holds patient data, such as an appointment choice
    /// or a masked phone number.
    pub carries_patient_data: bool,
}

/// What kind of control has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRole {
    /// A button that does something.
    Button,
    /// A key of the date-of-birth keypad or the letter keyboard.
    Key,
    /// A field that shows what is typed.
    TextField,
    /// A control that is on or off.
    Toggle,
    /// An answer of a form question: whether it is chosen is the
    /// patient's answer.
    Answer,
}

/// The state of the focused control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlState {
    /// Usable (for a toggle: off).
    Enabled,
    /// Shown but not usable now.
    Disabled,
    /// Chosen (for a toggle: on).
    Selected,
}

/// What the script needs that the view model does not hold: the shell
/// shows them from the kiosk's config and the sync worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptContext {
    /// The clinic's name, said on Welcome; empty says "Welcome." alone.
    pub clinic_name: String,
    /// Whether the kiosk reaches the clinic server: offline, the help and
    /// desk screens ask the patient to tell the desk themselves.
    pub online: bool,
}

impl Default for ScriptContext {
    /// No clinic name, and online, as the kiosk is almost always.
    fn default() -> Self {
        Self {
            clinic_name: String::new(),
            online: true,
        }
    }
}

/// What to say when the view changes: on a new screen its title and
/// instructions (and the result on Done etc.); on the same screen only what
/// changed: a digit typed (digits one by one), a letter typed (letters by
/// name, Spanish letter names in Spanish), an erase, a new error or notice.
///
/// Uses [`ScriptContext::default`]; see [`view_changes_in`].
pub fn view_changes(prev: Option<&ViewModel>, next: &ViewModel) -> Vec<Utterance> {
    view_changes_in(&ScriptContext::default(), prev, next)
}

/// [`view_changes`] with the clinic's name and the connection.
///
/// The idle warning is not said here: the view model does not hold its
/// countdown, so the clock says it with [`idle_warning`].
pub fn view_changes_in(
    ctx: &ScriptContext,
    prev: Option<&ViewModel>,
    next: &ViewModel,
) -> Vec<Utterance> {
    let mut s = Script::new(next.language);
    match prev {
        None => whole(ctx, next, &mut s),
        Some(prev) if prev.language != next.language => whole(ctx, next, &mut s),
        Some(prev) if !same_page(prev, next) => {
            step(next, &mut s);
            if !editing(next) {
                if prev.identity.is_none() {
                    identity(next, &mut s);
                }
                if prev.notice != next.notice {
                    notice(ctx, next, &mut s);
                }
            }
            screen(ctx, next, &mut s);
        }
        Some(prev) => same_page_changes(ctx, prev, next, &mut s),
    }
    s.finish()
}

/// The whole current screen again (the Repeat key).
///
/// Uses [`ScriptContext::default`]; see [`whole_screen_in`].
pub fn whole_screen(view: &ViewModel) -> Vec<Utterance> {
    whole_screen_in(&ScriptContext::default(), view)
}

/// [`whole_screen`] with the clinic's name and the connection.
pub fn whole_screen_in(ctx: &ScriptContext, view: &ViewModel) -> Vec<Utterance> {
    let mut s = Script::new(view.language);
    whole(ctx, view, &mut s);
    s.finish()
}

/// The focused control with its role and state: "Next, button."
///
/// A key of the date keypad, the number pad or a keyboard is what the
/// patient types, so it is said only in private; through a loudspeaker
/// the patient hears [`keys_are_private`] instead (speech mode says that
/// once a screen). A form answer is said to anyone, but whether it is
/// chosen only in private: the patient's answer, with nothing a listener
/// could tell apart by what is left out.
pub fn focused(control: &FocusedControl, language: Language) -> Vec<Utterance> {
    let label = control.label.trim();
    let mut chars = label.chars();
    let label = match (control.role, chars.next(), chars.next()) {
        (ControlRole::Key, Some(c), None) => char_name(c, language),
        _ => label.to_string(),
    };
    let es = language == Language::Es;
    let role = match (control.role, es) {
        (ControlRole::Button | ControlRole::Answer, false) => "button",
        (ControlRole::Button | ControlRole::Answer, true) => "botón",
        (ControlRole::Key, false) => "key",
        (ControlRole::Key, true) => "tecla",
        (ControlRole::TextField, false) => "text field",
        (ControlRole::TextField, true) => "campo de texto",
        (ControlRole::Toggle, false) => "switch",
        (ControlRole::Toggle, true) => "interruptor",
    };
    // "Tecla" is feminine; the other roles are masculine in Spanish.
    let feminine = control.role == ControlRole::Key;
    let state = match (control.state, control.role, es) {
        (ControlState::Disabled, _, false) => "unavailable",
        (ControlState::Disabled, _, true) => "no disponible",
        (ControlState::Selected, ControlRole::Toggle, false) => "on",
        (ControlState::Selected, ControlRole::Toggle, true) => "activado",
        (ControlState::Enabled, ControlRole::Toggle, false) => "off",
        (ControlState::Enabled, ControlRole::Toggle, true) => "desactivado",
        (ControlState::Selected, _, false) => "selected",
        (ControlState::Selected, _, true) if feminine => "seleccionada",
        (ControlState::Selected, _, true) => "seleccionado",
        (ControlState::Enabled, _, _) => "",
    };
    let private_label = control.carries_patient_data || control.role == ControlRole::Key;
    let private_state = control.role == ControlRole::Answer;
    let mut said = vec![label.as_str(), role];
    if !private_state {
        said.push(state);
    }
    let text = said
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = Script::new(language);
    if private_label {
        s.private(&text);
    } else {
        s.say_text(&text);
    }
    if private_state {
        s.private(&capitalized(state));
    }
    if control.role == ControlRole::Key {
        s.push(Audience::LoudspeakerOnly, &keys_are_private(language).text);
    }
    s.finish()
}

/// What a loudspeaker says in place of the keys it withholds: how to hear
/// them. Said once a screen, not at every key.
pub fn keys_are_private(language: Language) -> Utterance {
    let text = match language {
        Language::En => {
            "To hear the keys, plug headphones into the jack, or ask at the front desk."
        }
        Language::Es => {
            "Para escuchar las teclas, conecte unos auriculares en la entrada para \
             auriculares, o pregunte en la recepción."
        }
    };
    Utterance::loudspeaker_only(text, language)
}

/// `text` with its first letter a capital: "selected" said alone.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The spoken idle warning ("Are you still there? Press any key…"), with seconds left.
pub fn idle_warning(seconds_left: u32, language: Language) -> Utterance {
    let text = match language {
        Language::En => format!(
            "Are you still there? To keep your information private, this screen will start \
             over in {}. Press any key to continue.",
            seconds(seconds_left, language)
        ),
        Language::Es => format!(
            "¿Sigue ahí? Para proteger su información, esta pantalla volverá al inicio en {}. \
             Pulse cualquier tecla para continuar.",
            seconds(seconds_left, language)
        ),
    };
    Utterance::prompt(text, language)
}

/// Speech mode just started: a short how-to (arrows move, Enter selects, Back, Help, Repeat, volume keys).
pub fn speech_mode_started(language: Language) -> Utterance {
    let text = match language {
        Language::En => {
            "Speech is on. Use the arrow keys to move from item to item, and the Enter key to \
             choose. The Back key returns to the previous screen. The Help key asks the front \
             desk for help. The Repeat key says the screen again. The volume keys make the \
             voice louder or quieter. Any key stops the voice. Your personal details are \
             spoken only through headphones or the kiosk's handset."
        }
        Language::Es => {
            "La voz está activada. Use las flechas para pasar de una opción a otra, y la tecla \
             Intro para elegir. La tecla Atrás regresa a la pantalla anterior. La tecla Ayuda \
             pide ayuda a la recepción. La tecla Repetir vuelve a leer la pantalla. Las teclas \
             de volumen suben o bajan la voz. Cualquier tecla detiene la voz. Sus datos \
             personales solo se escuchan por auriculares o por el auricular del quiosco."
        }
    };
    Utterance::prompt(text, language)
}

/// The spoken name of one typed character: letters by name ("bee", "be",
/// "eñe"), digits as digits, and the keyboard's symbols by name.
pub fn char_name(c: char, language: Language) -> String {
    let es = language == Language::Es;
    if c.is_ascii_digit() {
        return c.to_string();
    }
    if let Some(name) = symbol_name(c, es) {
        return name.to_string();
    }
    // Only a letter with a one-letter capital has a name ("ß" has none).
    let mut capital = c.to_uppercase();
    let upper = match (capital.next(), capital.next()) {
        (Some(u), None) => u,
        _ => return c.to_string(),
    };
    if upper.is_ascii_uppercase() {
        return letter_name(upper, es).to_string();
    }
    if es && upper == 'Ñ' {
        return "eñe".to_string();
    }
    // An accented letter: its base letter and the mark, from the
    // character's decomposition.
    let mut parts = upper.nfd();
    if let (Some(base), Some(mark)) = (parts.next(), parts.next())
        && base.is_ascii_uppercase()
        && let Some(mark) = mark_name(mark, base, es)
    {
        return format!("{} {mark}", letter_name(base, es));
    }
    c.to_string()
}

/// Spells `text` one character at a time: "ge, a, erre".
pub fn spell(text: &str, language: Language) -> String {
    text.chars()
        .map(|c| char_name(c, language))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// The builder.

/// Collects utterances, joining neighbours of the same audience so the
/// speaker gets as few as possible, and dropping empty ones.
struct Script {
    language: Language,
    out: Vec<Utterance>,
}

impl Script {
    fn new(language: Language) -> Self {
        Self {
            language,
            out: Vec::new(),
        }
    }

    /// Whether the session is in Spanish.
    fn es(&self) -> bool {
        self.language == Language::Es
    }

    /// The phrase in the session's language.
    fn tr(&self, en: &'static str, es: &'static str) -> &'static str {
        if self.es() { es } else { en }
    }

    /// A prompt without patient data, in the session's language.
    fn say(&mut self, en: &'static str, es: &'static str) {
        let text = self.tr(en, es);
        self.push(Audience::Anyone, text);
    }

    /// A prompt without patient data, already worded.
    fn say_text(&mut self, text: &str) {
        self.push(Audience::Anyone, text);
    }

    /// Words with patient data, for private listening only.
    fn private(&mut self, text: &str) {
        self.push(Audience::PrivateListening, text);
    }

    fn push(&mut self, audience: Audience, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let text = sentence(text);
        match self.out.last_mut() {
            Some(last) if last.audience == audience => {
                last.text.push(' ');
                last.text.push_str(&text);
            }
            _ => self.out.push(Utterance {
                text,
                language: self.language,
                audience,
            }),
        }
    }

    fn finish(self) -> Vec<Utterance> {
        self.out
    }
}

/// `text` ending as a sentence, so the voice pauses after it.
fn sentence(text: &str) -> String {
    match text.chars().last() {
        Some('.' | '?' | '!' | ':' | '…') | None => text.to_string(),
        Some(_) => format!("{text}."),
    }
}

/// "20 seconds", "1 segundo".
fn seconds(n: u32, language: Language) -> String {
    match (language, n) {
        (Language::En, 1) => "1 second".to_string(),
        (Language::En, n) => format!("{n} seconds"),
        (Language::Es, 1) => "1 segundo".to_string(),
        (Language::Es, n) => format!("{n} segundos"),
    }
}

/// "A, B, or C" / "A, B o C".
fn one_of(items: &[&str], language: Language) -> String {
    let or = match language {
        Language::En if items.len() > 2 => ", or ",
        Language::En => " or ",
        Language::Es => " o ",
    };
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{}{or}{last}", rest.join(", ")),
    }
}

// ---------------------------------------------------------------------------
// What changed on the same screen.

/// Whether `next` is still the page `prev` showed, so only what changed is
/// said. The insurance screen's "continue without insurance?" question is
/// a page of its own.
fn same_page(prev: &ViewModel, next: &ViewModel) -> bool {
    prev.screen == next.screen
        && (next.screen != Screen::Insurance
            || prev.insurance.confirm_no_insurance == next.insurance.confirm_no_insurance)
        && (next.screen != Screen::Form
            || (prev.form.kind, prev.form.position, &prev.form.form_title)
                == (next.form.kind, next.form.position, &next.form.form_title))
}

fn same_page_changes(ctx: &ScriptContext, prev: &ViewModel, next: &ViewModel, s: &mut Script) {
    if prev.identity.is_none() && next.identity.is_some() {
        identity(next, s);
    }
    if prev.notice != next.notice {
        notice(ctx, next, s);
    }
    match next.screen {
        Screen::EnterDob => {
            typed(&prev.dob_digits, &next.dob_digits, s);
            if next.dob_problem.is_some() && next.dob_problem != prev.dob_problem {
                dob_problem(next, s);
            }
        }
        Screen::EnterName => {
            typed(&prev.name_letters, &next.name_letters, s);
            if next.name_problem.is_some() && next.name_problem != prev.name_problem {
                name_problem(next, s);
            }
        }
        Screen::EditDemographics => {
            let (p, n) = (&prev.edit_demographics, &next.edit_demographics);
            if p.active != n.active {
                demographics_field(next, s);
            } else {
                typed(&p.fields[n.active], &n.fields[n.active], s);
            }
            if n.problem.is_some() && n.problem != p.problem {
                edit_problem(n.problem, s);
            }
        }
        Screen::EditInsurance => {
            let (p, n) = (&prev.edit_insurance, &next.edit_insurance);
            if p.active != n.active {
                insurance_field(next, s);
            } else {
                typed(&p.fields[n.active], &n.fields[n.active], s);
            }
            if n.problem.is_some() && n.problem != p.problem {
                edit_problem(n.problem, s);
            }
        }
        Screen::Form => form_changes(prev, next, s),
        _ => {}
    }
}

/// What typing did to a value: the character added (privately), an erase,
/// or the whole value when it changed some other way.
fn typed(prev: &str, next: &str, s: &mut Script) {
    if prev == next {
        return;
    }
    if let Some(added) = next.strip_prefix(prev) {
        let spoken = spell(added, s.language);
        s.private(&spoken);
    } else if next.is_empty() {
        if prev.chars().count() > 1 {
            s.say("Cleared.", "Todo borrado.");
        } else {
            s.say("Deleted.", "Borrado.");
        }
    } else if prev.starts_with(next) {
        s.say("Deleted.", "Borrado.");
    } else {
        let spoken = spell(next, s.language);
        s.private(&spoken);
    }
}

// ---------------------------------------------------------------------------
// Whole screens.

/// Whether an edit form or an intake form page shows: it hides the step,
/// the banner and the notice to make room for the keyboard or the question.
fn editing(v: &ViewModel) -> bool {
    matches!(
        v.screen,
        Screen::EditDemographics | Screen::EditInsurance | Screen::Form
    )
}

/// Everything the screen shows: the step, the identity banner and notice,
/// then the screen's own text.
fn whole(ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    step(v, s);
    if !editing(v) {
        identity(v, s);
        notice(ctx, v, s);
    }
    screen(ctx, v, s);
}

/// "Step 2 of 4."
fn step(v: &ViewModel, s: &mut Script) {
    if v.progress > 0 && !editing(v) {
        let text = match s.language {
            Language::En => format!("Step {} of {}.", v.progress, v.progress_steps),
            Language::Es => format!("Paso {} de {}.", v.progress, v.progress_steps),
        };
        s.say_text(&text);
    }
}

/// The screen's own title, instructions, values and choices.
fn screen(ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    match v.screen {
        Screen::Welcome => welcome(ctx, s),
        Screen::EnterDob => enter_dob(v, s),
        Screen::EnterName => enter_name(v, s),
        Screen::NotFound => not_found(v, s),
        Screen::Choose => choose(v, s),
        Screen::PassRejected => pass_rejected(v, s),
        Screen::SeeDesk => see_desk(ctx, v, s),
        Screen::Demographics => demographics(v, s),
        Screen::EditDemographics => edit_demographics(v, s),
        Screen::Insurance => insurance(v, s),
        Screen::EditInsurance => edit_insurance(v, s),
        Screen::CoPay => copay(v, s),
        Screen::PayPhone => pay_phone(v, s),
        Screen::Done => done(v, s),
        Screen::Help => help(ctx, v, s),
        Screen::Form => form_page(ctx, v, s),
    }
}

// ---------------------------------------------------------------------------
// Intake form pages. The questions, options and the crisis text hold no
// patient data and may be said aloud; an answer, chosen or typed, is PHI
// and is said only in private.

/// A whole form page: the form, where the page stands, the question and
/// how to answer it, the answer so far (privately), and any problem.
fn form_page(_ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    let f = &v.form;
    if f.kind == FormItemKind::ThankYou {
        s.say(
            "Thank you. Your answers have been saved.",
            "Gracias. Sus respuestas quedaron guardadas.",
        );
        if !f.crisis_text.trim().is_empty() {
            s.say_text(&f.crisis_text);
        }
        s.say("Press Continue.", "Pulse Continuar.");
        return;
    }
    if !f.form_title.trim().is_empty() {
        s.say_text(&sentence(&f.form_title));
    }
    if f.count > 0 {
        let text = match s.language {
            Language::En => format!("Page {} of {}.", f.position, f.count),
            Language::Es => format!("Página {} de {}.", f.position, f.count),
        };
        s.say_text(&text);
    }
    if !f.group_title.trim().is_empty() {
        s.say_text(&sentence(&f.group_title));
    }
    // On the keyboard for a typed signature, the consent was read already.
    if !f.text.trim().is_empty() && !f.typing_name {
        s.say_text(&f.text);
    }
    form_instructions(v, s);
    form_answer(v, s);
    if f.problem.is_some() {
        form_problem(v, s);
    }
}

/// How to answer the page.
fn form_instructions(v: &ViewModel, s: &mut Script) {
    let f = &v.form;
    match f.kind {
        FormItemKind::Display => s.say("Press Next to continue.", "Pulse Siguiente para continuar."),
        FormItemKind::Boolean => s.say("Answer Yes or No.", "Responda Sí o No."),
        FormItemKind::Choice => {
            let options: Vec<&str> = f.options.iter().map(String::as_str).collect();
            let text = match s.language {
                Language::En => format!("Choose one: {}.", one_of(&options, s.language)),
                Language::Es => format!("Elija una: {}.", one_of(&options, s.language)),
            };
            s.say_text(&text);
        }
        FormItemKind::Integer => s.say(
            "Type a number, then press Next.",
            "Escriba un número y pulse Siguiente.",
        ),
        FormItemKind::Date => s.say(
            "Type the date: two digits for the month, two for the day and four for the year.              Then press Next.",
            "Escriba la fecha: dos dígitos para el mes, dos para el día y cuatro para el año.              Luego pulse Siguiente.",
        ),
        FormItemKind::Text => s.say(
            "Type your answer, then press Next.",
            "Escriba su respuesta y pulse Siguiente.",
        ),
        FormItemKind::Consent => consent_step(f, s),
        FormItemKind::ThankYou => {}
    }
    if !f.required && !matches!(f.kind, FormItemKind::Display | FormItemKind::Consent) {
        s.say("You may skip this question.", "Puede saltar esta pregunta.");
    }
}

/// What the consent needs next: agreeing, signing (with the finger, or by
/// typing a name on the keyboard), or Next.
fn consent_step(f: &crate::kiosk::view::FormView, s: &mut Script) {
    if f.typing_name {
        s.say(
            "To sign, type your full name on the keyboard, one letter at a time, then press \
             Sign. Back returns to the signature box.",
            "Para firmar, escriba su nombre completo en el teclado, letra por letra, y pulse \
             Firmar. Atrás vuelve al recuadro de la firma.",
        );
        return;
    }
    match (f.agreed, f.signed) {
        (false, _) => s.say(
            "If you agree, press I agree. Then sign with your finger, or by typing your name.",
            "Si está de acuerdo, pulse Acepto. Luego firme con el dedo, o escribiendo su \
             nombre.",
        ),
        (true, false) => s.say(
            "You agreed. Now sign with your finger in the box on the screen, or press Sign \
             by typing my name to sign with the keyboard.",
            "Usted aceptó. Ahora firme con el dedo en el recuadro de la pantalla, o pulse \
             Escribir mi nombre para firmar con el teclado.",
        ),
        (true, true) => s.say(
            "You agreed and signed. Press Next to continue, or Clear to sign again.",
            "Usted aceptó y firmó. Pulse Siguiente para continuar, o Borrar para firmar de nuevo.",
        ),
    }
}

/// The answer chosen or typed so far, privately.
fn form_answer(v: &ViewModel, s: &mut Script) {
    let f = &v.form;
    let chosen = match (f.kind, f.selected) {
        (FormItemKind::Boolean, Some(0)) => Some(s.tr("Yes", "Sí").to_string()),
        (FormItemKind::Boolean, Some(_)) => Some("No".to_string()),
        (FormItemKind::Choice, Some(i)) => f.options.get(i).cloned(),
        (FormItemKind::Integer | FormItemKind::Date, _) if !f.typed.is_empty() => {
            Some(spell(&f.typed, s.language))
        }
        (FormItemKind::Text, _) if !f.typed.is_empty() => Some(f.typed.clone()),
        // A typed signature is spelled, letter by letter, and only in private.
        (FormItemKind::Consent, _) if f.typing_name && !f.typed.is_empty() => {
            let text = match s.language {
                Language::En => format!("Your name: {}.", spell(&f.typed, s.language)),
                Language::Es => format!("Su nombre: {}.", spell(&f.typed, s.language)),
            };
            s.private(&text);
            None
        }
        _ => None,
    };
    if let Some(answer) = chosen {
        let text = match s.language {
            Language::En => format!("Your answer: {answer}."),
            Language::Es => format!("Su respuesta: {answer}."),
        };
        s.private(&text);
    }
}

/// What is wrong with the answer.
fn form_problem(v: &ViewModel, s: &mut Script) {
    match v.form.problem {
        Some(FormProblem::Required) => s.say(
            "Please answer this question to continue.",
            "Por favor, responda esta pregunta para continuar.",
        ),
        Some(FormProblem::NotANumber) => s.say(
            "Please type a whole number.",
            "Por favor, escriba un número entero.",
        ),
        Some(FormProblem::OutOfRange) => s.say(
            "That answer is outside the allowed range. Please check it.",
            "Esa respuesta está fuera del rango permitido. Por favor, revísela.",
        ),
        Some(FormProblem::BadDate) => s.say(
            "That is not a whole date. Please type month, day and year.",
            "Esa fecha no está completa. Por favor, escriba mes, día y año.",
        ),
        Some(FormProblem::TooLong) => s.say(
            "The answer cannot be any longer.",
            "La respuesta no puede ser más larga.",
        ),
        Some(FormProblem::BadCharacters) => s.say(
            "That character cannot be used here.",
            "Ese carácter no se puede usar aquí.",
        ),
        Some(FormProblem::NotAgreed) => s.say(
            "Please press I agree first.",
            "Por favor, pulse primero Acepto.",
        ),
        Some(FormProblem::NotSigned) if v.form.typing_name => s.say(
            "Please type your name to sign.",
            "Por favor, escriba su nombre para firmar.",
        ),
        Some(FormProblem::NotSigned) => s.say(
            "Please sign with your finger in the box, or press Sign by typing my name.",
            "Por favor, firme con el dedo en el recuadro, o pulse Escribir mi nombre.",
        ),
        None => {}
    }
}

/// What changed on the same form page: the answer (privately), the
/// consent's steps, or a new problem.
fn form_changes(prev: &ViewModel, next: &ViewModel, s: &mut Script) {
    let (p, n) = (&prev.form, &next.form);
    if matches!(
        n.kind,
        FormItemKind::Integer | FormItemKind::Date | FormItemKind::Text
    ) || (n.typing_name && p.typing_name)
    {
        typed(&p.typed, &n.typed, s);
    } else if p.selected != n.selected && n.selected.is_some() {
        form_answer(next, s);
    }
    if n.kind == FormItemKind::Consent
        && (p.agreed, p.signed, p.typing_name) != (n.agreed, n.signed, n.typing_name)
    {
        if p.signed && !n.signed {
            s.say("Signature cleared.", "Firma borrada.");
        }
        consent_step(n, s);
    }
    if n.problem.is_some() && n.problem != p.problem {
        form_problem(next, s);
    }
}

/// The identity banner: "Maria G., appointment at 10:30 AM with Dr. Patel."
fn identity(v: &ViewModel, s: &mut Script) {
    let Some(id) = &v.identity else {
        return;
    };
    let time = spoken_time(&id.time, s.language);
    let text = match s.language {
        Language::En if time.is_empty() => format!("{}.", id.name),
        Language::En => format!("{}, appointment at {time} with {}.", id.name, id.clinician),
        Language::Es if time.is_empty() => format!("{}.", id.name),
        Language::Es => format!(
            "{}, cita {} {time} con {}.",
            id.name,
            at_the_hour(&id.time),
            id.clinician
        ),
    };
    s.private(&text);
}

/// The check-in's notice, as the banner shows it; offline the desk has not
/// been told yet.
fn notice(ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    if matches!(v.screen, Screen::Done | Screen::Help | Screen::SeeDesk) {
        return;
    }
    match (v.notice, ctx.online) {
        (Some(ReasonCode::Late), true) => s.say(
            "You are late for your appointment. The front desk has been told.",
            "Llegó tarde a su cita. Ya avisamos a la recepción.",
        ),
        (Some(ReasonCode::Late), false) => s.say(
            "You are late for your appointment. Please tell the front desk.",
            "Llegó tarde a su cita. Por favor, avise a la recepción.",
        ),
        (Some(ReasonCode::TooEarly), true) => s.say(
            "You are early. The front desk has been told.",
            "Llegó temprano. Ya avisamos a la recepción.",
        ),
        (Some(ReasonCode::TooEarly), false) => s.say(
            "You are early. Please tell the front desk.",
            "Llegó temprano. Por favor, avise a la recepción.",
        ),
        (Some(ReasonCode::WrongLocation), true) => s.say(
            "Your appointment is at another location. The front desk has been told.",
            "Su cita es en otro lugar. Ya avisamos a la recepción.",
        ),
        (Some(ReasonCode::WrongLocation), false) => s.say(
            "Your appointment is at another location. Please tell the front desk.",
            "Su cita es en otro lugar. Por favor, avise a la recepción.",
        ),
        _ => {}
    }
}

fn welcome(ctx: &ScriptContext, s: &mut Script) {
    let name = ctx.clinic_name.trim();
    let greeting = match (s.language, name.is_empty()) {
        (Language::En, true) => "Welcome.".to_string(),
        (Language::En, false) => format!("Welcome to {name}."),
        (Language::Es, true) => "Bienvenido.".to_string(),
        (Language::Es, false) => format!("Bienvenido a {name}."),
    };
    s.say_text(&greeting);
    s.say(
        "Check in for your appointment here.",
        "Regístrese aquí para su cita.",
    );
    s.say(
        "Scan your check-in code: hold the code from your text or email under the scanner.",
        "Escanee su código de registro: coloque el código de su mensaje o correo bajo el escáner.",
    );
    s.say(
        "Or choose Use my date of birth.",
        "O elija Usar mi fecha de nacimiento.",
    );
}

fn enter_dob(v: &ViewModel, s: &mut Script) {
    s.say(
        "What is your date of birth?",
        "¿Cuál es su fecha de nacimiento?",
    );
    s.say(
        "Type month, day, then year: 8 digits. For May 17, 1980, type 0 5, 1 7, 1 9 8 0.",
        "Escriba mes, día y año: 8 dígitos. Para el 17 de mayo de 1980, escriba 0 5, 1 7, 1 9 8 0.",
    );
    if !v.dob_digits.is_empty() {
        s.say("You have typed:", "Ha escrito:");
        s.private(&spoken_dob_digits(&v.dob_digits));
    }
    dob_problem(v, s);
}

fn dob_problem(v: &ViewModel, s: &mut Script) {
    match v.dob_problem {
        None => {}
        Some(DobProblem::Incomplete) => s.say(
            "Please type all 8 digits: 2 for the month, 2 for the day and 4 for the year.",
            "Escriba los 8 dígitos: 2 del mes, 2 del día y 4 del año.",
        ),
        Some(DobProblem::Month) => s.say(
            "The month must be from 01 to 12.",
            "El mes debe estar entre 01 y 12.",
        ),
        Some(DobProblem::Day) => s.say(
            "That day does not exist in that month.",
            "Ese día no existe en ese mes.",
        ),
        Some(DobProblem::Year) => s.say("Please check the year.", "Revise el año, por favor."),
        Some(DobProblem::Future) => s.say(
            "A date of birth cannot be in the future.",
            "La fecha de nacimiento no puede estar en el futuro.",
        ),
    }
}

fn enter_name(v: &ViewModel, s: &mut Script) {
    let n = v.name_prefix_len;
    let title = match s.language {
        Language::En => format!("Type the first {n} letters of your last name."),
        Language::Es => format!("Escriba las primeras {n} letras de su apellido."),
    };
    s.say_text(&title);
    s.say(
        "If your last name is shorter, type all of it. Then choose Find my appointment.",
        "Si su apellido es más corto, escríbalo completo. Luego elija Buscar mi cita.",
    );
    if !v.name_letters.is_empty() {
        s.say("You have typed:", "Ha escrito:");
        s.private(&spell(&v.name_letters, s.language));
    }
    name_problem(v, s);
}

fn name_problem(v: &ViewModel, s: &mut Script) {
    let text = match (v.name_problem, s.language) {
        (None, _) => return,
        (Some(NameProblem::TooShort), Language::En) => {
            format!("Please type at least {} letters.", v.name_prefix_len)
        }
        (Some(NameProblem::TooShort), Language::Es) => {
            format!("Escriba al menos {} letras.", v.name_prefix_len)
        }
        (Some(NameProblem::Wait), Language::En) => format!(
            "Please wait {}, then try again.",
            seconds(v.name_wait_seconds, Language::En)
        ),
        (Some(NameProblem::Wait), Language::Es) => format!(
            "Espere {} y vuelva a intentarlo.",
            seconds(v.name_wait_seconds, Language::Es)
        ),
    };
    s.say_text(&text);
}

fn not_found(v: &ViewModel, s: &mut Script) {
    s.say(
        "We could not find your appointment.",
        "No encontramos su cita.",
    );
    s.say(
        "Please check your date of birth and the letters of your last name, then try again.",
        "Revise su fecha de nacimiento y las letras de su apellido, y vuelva a intentarlo.",
    );
    let mut typed = Vec::new();
    if !v.not_found.dob.is_empty() {
        let label = s.tr(
            "Date of birth you typed:",
            "Fecha de nacimiento que escribió:",
        );
        typed.push(format!(
            "{label} {}.",
            spoken_masked_dob(&v.not_found.dob, s.language)
        ));
    }
    if !v.not_found.letters.is_empty() {
        let label = s.tr("Letters you typed:", "Letras que escribió:");
        typed.push(format!(
            "{label} {}.",
            spell(&v.not_found.letters, s.language)
        ));
    }
    s.private(&typed.join(" "));
    s.say(
        "Choose Try again, or Start over.",
        "Elija Intentar de nuevo o Empezar de nuevo.",
    );
}

fn choose(v: &ViewModel, s: &mut Script) {
    s.say("Which appointment is yours?", "¿Cuál es su cita?");
    s.say("Choose your appointment time.", "Elija la hora de su cita.");
    let choices: Vec<String> = v
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let time = spoken_time(&c.time, s.language);
            match s.language {
                Language::En => format!("Option {}: {time} with {}.", i + 1, c.clinician),
                Language::Es => format!("Opción {}: {time} con {}.", i + 1, c.clinician),
            }
        })
        .collect();
    s.private(&choices.join(" "));
    s.say(
        "If none is yours, choose None of these.",
        "Si ninguna es suya, elija Ninguna de estas.",
    );
}

fn pass_rejected(v: &ViewModel, s: &mut Script) {
    s.say("We could not use that code.", "No pudimos usar ese código.");
    match v.pass_problem {
        Some(PassProblem::Expired) => s.say(
            "This check-in code has expired.",
            "Este código de registro ha vencido.",
        ),
        Some(PassProblem::WrongClinic) => s.say(
            "This check-in code is for a different clinic.",
            "Este código de registro es de otra clínica.",
        ),
        Some(PassProblem::UnknownAppointment) => s.say(
            "This check-in code is not for an appointment here today.",
            "Este código de registro no corresponde a una cita de hoy aquí.",
        ),
        Some(PassProblem::Malformed | PassProblem::BadSignature) | None => s.say(
            "This code could not be read as a check-in code.",
            "No se pudo leer este código como código de registro.",
        ),
    }
    s.say(
        "Choose Use my date of birth, or Start over.",
        "Elija Usar mi fecha de nacimiento o Empezar de nuevo.",
    );
}

fn see_desk(ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    let rule = match v.desk_reason {
        Some(DeskReason::Rule(code)) => Some(code),
        Some(DeskReason::Fault) | None => None,
    };
    if rule == Some(ReasonCode::AlreadyCheckedIn) {
        s.say("You are already checked in.", "Ya está registrado.");
        s.say(
            "Please have a seat. We will call you soon.",
            "Tome asiento, por favor. Le llamaremos pronto.",
        );
        return;
    }
    s.say(
        "Please see the front desk.",
        "Por favor, pase a la recepción.",
    );
    let known = matches!(
        rule,
        Some(
            ReasonCode::TooEarly
                | ReasonCode::Late
                | ReasonCode::AppointmentCancelled
                | ReasonCode::WrongLocation
        )
    );
    match rule {
        Some(ReasonCode::TooEarly) => s.say(
            "You are early for your appointment. The front desk will help you.",
            "Llegó temprano a su cita. La recepción le ayudará.",
        ),
        Some(ReasonCode::Late) => s.say(
            "Your appointment time has passed. The front desk will help you.",
            "La hora de su cita ya pasó. La recepción le ayudará.",
        ),
        Some(ReasonCode::AppointmentCancelled) => s.say(
            "This appointment was cancelled. The front desk can help you book a new one.",
            "Esta cita fue cancelada. La recepción puede ayudarle a programar otra.",
        ),
        Some(ReasonCode::WrongLocation) => s.say(
            "Your appointment is at a different location. The front desk will help you.",
            "Su cita es en otro lugar. La recepción le ayudará.",
        ),
        _ => s.say("The front desk will help you.", "La recepción le ayudará."),
    }
    if ctx.online && known {
        s.say(
            "The front desk has been told you are here.",
            "La recepción sabe que usted está aquí.",
        );
    } else {
        s.say(
            "Please tell the front desk you are here.",
            "Por favor, avise a la recepción que llegó.",
        );
    }
}

fn demographics(v: &ViewModel, s: &mut Script) {
    s.say(
        "Are your contact details correct?",
        "¿Son correctos sus datos de contacto?",
    );
    let d = &v.demographics;
    let lang = s.language;
    let none = s.tr("Not on file", "No registrado");
    let value = |text: &str, spoken: String| {
        if text.is_empty() {
            none.to_string()
        } else {
            spoken
        }
    };
    let lines = [
        (
            s.tr("Address", "Dirección"),
            value(&d.address, spoken_masked(&d.address, lang)),
        ),
        (
            s.tr("Phone", "Teléfono"),
            value(&d.phone, spoken_phone(&d.phone, lang)),
        ),
        (
            s.tr("Email", "Correo electrónico"),
            value(&d.email, spoken_email(&d.email, lang)),
        ),
        (
            s.tr("Emergency contact", "Contacto de emergencia"),
            value(
                &d.emergency_contact,
                spoken_contact(&d.emergency_contact, lang),
            ),
        ),
    ];
    let text = lines
        .iter()
        .map(|(label, value)| format!("{label}: {value}."))
        .collect::<Vec<_>>()
        .join(" ");
    s.private(&text);
    s.say(
        "Choose This is correct, or Update.",
        "Elija Son correctos o Actualizar.",
    );
}

fn edit_demographics(v: &ViewModel, s: &mut Script) {
    s.say("What has changed?", "¿Qué ha cambiado?");
    s.say(
        "Choose a detail, then type only what changed. The front desk will check it.",
        "Elija un dato y escriba solo lo que cambió. La recepción lo revisará.",
    );
    demographics_field(v, s);
    edit_problem(v.edit_demographics.problem, s);
    s.say(
        "When you are done, choose Save changes.",
        "Cuando termine, elija Guardar cambios.",
    );
}

/// The field the keyboard types into, and what it holds.
fn demographics_field(v: &ViewModel, s: &mut Script) {
    let form = &v.edit_demographics;
    let label = match form.active {
        DemographicsField::Street => s.tr("Street", "Calle"),
        DemographicsField::Apartment => s.tr("Apartment or unit", "Apartamento o unidad"),
        DemographicsField::City => s.tr("City", "Ciudad"),
        DemographicsField::State => s.tr("State", "Estado"),
        DemographicsField::Zip => s.tr("ZIP code", "Código postal"),
        DemographicsField::Phone => s.tr("Phone", "Teléfono"),
        DemographicsField::Email => s.tr("Email", "Correo electrónico"),
        DemographicsField::ContactName => s.tr("Contact's name", "Nombre del contacto"),
        DemographicsField::ContactPhone => s.tr("Contact's phone", "Teléfono del contacto"),
        DemographicsField::ContactRelation => s.tr("Relationship", "Parentesco"),
    };
    field(label, &form.fields[form.active], s);
}

fn edit_insurance(v: &ViewModel, s: &mut Script) {
    s.say("Your new insurance.", "Su seguro nuevo.");
    s.say(
        "Type what is on your card. The front desk will check it.",
        "Escriba lo que dice su tarjeta. La recepción lo revisará.",
    );
    insurance_field(v, s);
    edit_problem(v.edit_insurance.problem, s);
    s.say(
        "When you are done, choose Save insurance.",
        "Cuando termine, elija Guardar seguro.",
    );
}

fn insurance_field(v: &ViewModel, s: &mut Script) {
    let form = &v.edit_insurance;
    let label = match form.active {
        InsuranceField::Payer => s.tr("Insurance company", "Compañía de seguros"),
        InsuranceField::MemberId => s.tr("Member ID", "Número de afiliado"),
        InsuranceField::Group => s.tr("Group, optional", "Grupo, opcional"),
    };
    field(label, &form.fields[form.active], s);
}

/// "Street, text field, empty." or "Street, text field." and, privately,
/// what it holds.
fn field(label: &str, value: &str, s: &mut Script) {
    let role = s.tr("text field", "campo de texto");
    if value.is_empty() {
        let empty = s.tr("empty", "vacío");
        s.say_text(&format!("{label}, {role}, {empty}."));
    } else {
        s.say_text(&format!("{label}, {role}:"));
        s.private(value);
    }
}

/// The edit forms' errors, worded as the forms show them.
fn edit_problem(problem: Option<EditProblem>, s: &mut Script) {
    let Some(problem) = problem else {
        return;
    };
    let (en, es) = match problem {
        EditProblem::NothingTyped => NOTHING_TYPED,
        EditProblem::Required(Field::ContactName) => (
            "Please type the emergency contact's name too.",
            "Escriba también el nombre del contacto de emergencia.",
        ),
        EditProblem::Required(Field::ContactPhone) => (
            "Please type the emergency contact's phone number too.",
            "Escriba también el teléfono del contacto de emergencia.",
        ),
        // The form shows the same words for any other missing field.
        EditProblem::Required(_) => NOTHING_TYPED,
        EditProblem::NeedStreetOrPhone => (
            "Please type your street or your phone number too.",
            "Escriba también su calle o su número de teléfono.",
        ),
        EditProblem::MissingPayer => (
            "Please type the insurance company.",
            "Escriba la compañía de seguros.",
        ),
        EditProblem::MissingMemberId => (
            "Please type the member ID.",
            "Escriba el número de afiliado.",
        ),
        EditProblem::Invalid(field) => invalid_field(field),
    };
    s.say(en, es);
}

/// An edit form saved with nothing new in it.
const NOTHING_TYPED: (&str, &str) = (
    "Please type at least one new detail, or go back.",
    "Escriba al menos un dato nuevo, o vuelva atrás.",
);

/// What to check in a field whose value breaks its rule: a flat table.
fn invalid_field(field: Field) -> (&'static str, &'static str) {
    match field {
        Field::AddressLine1 => (
            "Please check the street: use letters, numbers and period, comma, apostrophe, number sign, hyphen or slash.",
            "Revise la calle: use letras, números y punto, coma, apóstrofo, numeral, guion o barra.",
        ),
        Field::AddressLine2 => (
            "Please check the apartment or unit: use letters, numbers and period, comma, apostrophe, number sign, hyphen or slash.",
            "Revise el apartamento o unidad: use letras, números y punto, coma, apóstrofo, numeral, guion o barra.",
        ),
        Field::City => (
            "Please check the city: use letters only.",
            "Revise la ciudad: use solo letras.",
        ),
        Field::State => (
            "Please type the two-letter state, such as N Y.",
            "Escriba el estado con dos letras, por ejemplo ene ye.",
        ),
        Field::PostalCode => (
            "Please type a 5-digit ZIP code.",
            "Escriba un código postal de 5 dígitos.",
        ),
        Field::Phone => (
            "Please type a 10-digit phone number.",
            "Escriba un teléfono de 10 dígitos.",
        ),
        Field::Email => (
            "Please check the email, such as name at example dot com.",
            "Revise el correo electrónico, por ejemplo nombre arroba ejemplo punto com.",
        ),
        Field::ContactName => (
            "Please check the contact's name: use letters, spaces, apostrophes and hyphens.",
            "Revise el nombre del contacto: use letras, espacios, apóstrofos y guiones.",
        ),
        Field::ContactPhone => (
            "Please type the contact's 10-digit phone number.",
            "Escriba el teléfono de 10 dígitos del contacto.",
        ),
        Field::ContactRelation => (
            "Please check the relationship: use letters only, such as SISTER.",
            "Revise el parentesco: use solo letras, como HERMANA.",
        ),
        Field::Payer => (
            "Please check the insurance company: use letters, numbers and period, comma, ampersand or hyphen.",
            "Revise la compañía de seguros: use letras, números y punto, coma, ampersand o guion.",
        ),
        Field::MemberId => (
            "Please check the member ID: at least 3 letters or numbers.",
            "Revise el número de afiliado: al menos 3 letras o números.",
        ),
        Field::Group => (
            "Please check the group: use letters and numbers.",
            "Revise el grupo: use letras y números.",
        ),
        Field::PersonName | Field::Note | Field::KioskName | Field::AppVersion | Field::Id => {
            ("Please check what you typed.", "Revise lo que escribió.")
        }
    }
}

fn insurance(v: &ViewModel, s: &mut Script) {
    let ins = &v.insurance;
    if ins.confirm_no_insurance {
        s.say("Continue without insurance?", "¿Continuar sin seguro?");
        s.say(
            "You will pay for this visit yourself (self-pay). The front desk can help if you find your card later.",
            "Usted pagará esta consulta por su cuenta (pago propio). La recepción puede ayudarle si encuentra su tarjeta más tarde.",
        );
        s.say(
            "Choose Yes, I have no insurance, or No, go back.",
            "Elija Sí, no tengo seguro, o No, volver.",
        );
        return;
    }
    if !ins.has_coverage {
        s.say("Do you have insurance?", "¿Tiene seguro médico?");
        s.private(s.tr(
            "We do not have insurance on file for you.",
            "No tenemos un seguro registrado para usted.",
        ));
        s.say(
            "Choose Add my insurance, or I have no insurance.",
            "Elija Agregar mi seguro o No tengo seguro.",
        );
        return;
    }
    s.say(
        "Is your insurance still the same?",
        "¿Su seguro sigue siendo el mismo?",
    );
    let lang = s.language;
    let mut lines = vec![
        format!(
            "{}: {}.",
            s.tr("Insurance company", "Compañía de seguros"),
            ins.payer
        ),
        format!("{}: {}.", s.tr("Plan", "Plan"), ins.plan),
        format!(
            "{}: {}.",
            s.tr("Member ID", "Número de afiliado"),
            spoken_member_id(&ins.member_id, lang)
        ),
    ];
    if ins.expired {
        lines.push(
            s.tr(
                "Our records show this coverage is not active today. If you have a new card, choose It changed.",
                "Según nuestros registros, esta cobertura no está activa hoy. Si tiene una tarjeta nueva, elija Cambió.",
            )
            .to_string(),
        );
    }
    s.private(&lines.join(" "));
    s.say(
        "Choose Still correct, It changed, or I have no insurance.",
        "Elija Sigue igual, Cambió o No tengo seguro.",
    );
}

fn copay(v: &ViewModel, s: &mut Script) {
    let c = &v.copay;
    let lang = s.language;
    if c.self_pay {
        s.say("Paying for your visit yourself.", "Usted paga su consulta.");
        s.say(
            "Without insurance, this visit is self-pay.",
            "Sin seguro, usted paga esta consulta por su cuenta.",
        );
    } else {
        s.say("Your co-pay today.", "Su copago de hoy.");
    }
    let mut private = Vec::new();
    if c.amount.is_empty() {
        s.say(
            "The front desk will tell you the amount.",
            "La recepción le dirá el importe.",
        );
    } else {
        let label = s.tr("Amount due:", "Importe a pagar:");
        private.push(format!("{label} {}.", spoken_amount(&c.amount, lang)));
    }
    if !c.balance.is_empty() {
        private.push(match lang {
            Language::En => format!(
                "You also have a balance of {} from earlier visits. The front desk can help with it.",
                spoken_amount(&c.balance, lang)
            ),
            Language::Es => format!(
                "También tiene un saldo de {} de visitas anteriores. La recepción puede ayudarle con eso.",
                spoken_amount(&c.balance, lang)
            ),
        });
    }
    s.private(&private.join(" "));
    s.say("How would you like to pay?", "¿Cómo desea pagar?");
    let mut options = vec![s.tr("Pay at the front desk", "Pagar en la recepción")];
    if c.allow_phone {
        options.push(s.tr("Pay on my phone", "Pagar con mi teléfono"));
    }
    if c.allow_bill_later {
        options.push(s.tr("Bill me later", "Envíenme la factura"));
    }
    let choose = s.tr("Choose", "Elija");
    s.say_text(&format!("{choose} {}.", one_of(&options, lang)));
}

fn pay_phone(v: &ViewModel, s: &mut Script) {
    let p = &v.pay_phone;
    let lang = s.language;
    s.say(
        "Scan the code on the screen with your phone to pay.",
        "Escanee con su teléfono el código de la pantalla para pagar.",
    );
    let mut private = Vec::new();
    if !p.amount.is_empty() {
        let label = s.tr("Amount:", "Importe:");
        private.push(format!("{label} {}.", spoken_amount(&p.amount, lang)));
    }
    if !p.reference.is_empty() {
        let label = s.tr("Reference:", "Referencia:");
        private.push(format!("{label} {}.", spell(&p.reference, lang)));
    }
    s.private(&private.join(" "));
    s.say(
        "Open your phone's camera and point it at the code, then pay on your phone. To pay another way, go back.",
        "Abra la cámara de su teléfono, apúntela al código y pague en su teléfono. Para pagar de otra forma, vuelva atrás.",
    );
    s.say(
        "When you have paid, choose I've paid.",
        "Cuando haya pagado, elija Ya pagué.",
    );
}

fn done(v: &ViewModel, s: &mut Script) {
    let d = &v.done;
    let lang = s.language;
    s.say("You're checked in.", "Ya está registrado.");
    let amount = spoken_amount(&d.amount, lang);
    match d.choice {
        None => {}
        Some(CoPayChoice::FrontDesk | CoPayChoice::Phone) if d.amount.is_empty() => {
            if d.choice == Some(CoPayChoice::FrontDesk) {
                s.say(
                    "You chose to pay at the front desk. They will tell you the amount.",
                    "Eligió pagar en la recepción. Allí le dirán el importe.",
                );
            } else {
                s.say(
                    "You chose to pay on your phone.",
                    "Eligió pagar en su teléfono.",
                );
            }
        }
        Some(CoPayChoice::FrontDesk) => s.private(&match lang {
            Language::En => format!("You chose to pay {amount} at the front desk."),
            Language::Es => format!("Eligió pagar {amount} en la recepción."),
        }),
        Some(CoPayChoice::Phone) => s.private(&match lang {
            Language::En => format!("You chose to pay {amount} on your phone."),
            Language::Es => format!("Eligió pagar {amount} en su teléfono."),
        }),
        Some(CoPayChoice::BillLater) => s.say(
            "You chose to get a bill later. It will come by mail or email.",
            "Eligió recibir una factura más tarde. Le llegará por correo postal o electrónico.",
        ),
    }
    if d.choice == Some(CoPayChoice::FrontDesk) {
        s.say(
            "Next: please have a seat. The front desk will call you to pay, then we will call you for your visit.",
            "Ahora: tome asiento, por favor. La recepción le llamará para pagar y luego le llamaremos para su consulta.",
        );
    } else {
        s.say(
            "Next: please have a seat. We will call you soon.",
            "Ahora: tome asiento, por favor. Le llamaremos pronto.",
        );
    }
    // Said once, without the seconds: the countdown is the clock's (it is
    // not in the view model), and saying it every second would talk over
    // the result. In speech mode the screen waits longer before it starts
    // over (`Timings::speech_done_return`).
    s.say(
        "When you are ready, choose Finish. The screen also starts over by itself for the next patient.",
        "Cuando esté listo, elija Terminar. La pantalla también vuelve al inicio sola para el siguiente paciente.",
    );
}

fn help(ctx: &ScriptContext, v: &ViewModel, s: &mut Script) {
    if ctx.online {
        s.say(
            "Someone from the front desk is coming.",
            "Alguien de la recepción viene a ayudarle.",
        );
        s.say(
            "Please stay here. You can also walk to the front desk.",
            "Por favor, espere aquí. También puede ir a la recepción.",
        );
    } else {
        s.say(
            "Please go to the front desk.",
            "Por favor, vaya a la recepción.",
        );
        s.say(
            "This kiosk cannot reach the front desk right now. Please tell them you need help.",
            "Este quiosco no puede avisar a la recepción ahora. Por favor, dígales que necesita ayuda.",
        );
    }
    if v.help_can_resume {
        s.say(
            "To carry on, choose Continue check-in.",
            "Para seguir, elija Continuar el registro.",
        );
    } else {
        s.say(
            "To begin again, choose Start over.",
            "Para comenzar otra vez, elija Empezar de nuevo.",
        );
    }
}

// ---------------------------------------------------------------------------
// Values as they are spoken.

/// Letter names: a flat table. Each is spelled so that eSpeak NG says the
/// letter's name in any context ("eigh": a lone "A" can be the article).
fn letter_name(upper: char, es: bool) -> &'static str {
    const EN: [&str; 26] = [
        "eigh",
        "bee",
        "see",
        "dee",
        "ee",
        "ef",
        "gee",
        "aitch",
        "eye",
        "jay",
        "kay",
        "el",
        "em",
        "en",
        "oh",
        "pee",
        "cue",
        "ar",
        "ess",
        "tee",
        "you",
        "vee",
        "double you",
        "ex",
        "why",
        "zee",
    ];
    const ES: [&str; 26] = [
        "a",
        "be",
        "ce",
        "de",
        "e",
        "efe",
        "ge",
        "hache",
        "i",
        "jota",
        "ka",
        "ele",
        "eme",
        "ene",
        "o",
        "pe",
        "cu",
        "erre",
        "ese",
        "te",
        "u",
        "uve",
        "uve doble",
        "equis",
        "ye",
        "zeta",
    ];
    let i = (upper as usize).wrapping_sub('A' as usize);
    let table = if es { &ES } else { &EN };
    table.get(i).copied().unwrap_or("")
}

/// The name of an accent mark on `base`: a flat table.
fn mark_name(mark: char, base: char, es: bool) -> Option<&'static str> {
    Some(match (mark, es) {
        ('\u{301}', false) => "with acute accent",
        ('\u{301}', true) => "con tilde",
        ('\u{300}', false) => "with grave accent",
        ('\u{300}', true) => "con acento grave",
        ('\u{302}', false) => "with circumflex",
        ('\u{302}', true) => "con acento circunflejo",
        ('\u{308}', false) => "with umlaut",
        ('\u{308}', true) => "con diéresis",
        ('\u{303}', false) => "with tilde",
        ('\u{303}', true) if base == 'N' => "con tilde",
        ('\u{303}', true) => "con virgulilla",
        ('\u{327}', false) => "with cedilla",
        ('\u{327}', true) => "con cedilla",
        ('\u{30A}', false) => "with ring",
        ('\u{30A}', true) => "con anillo",
        _ => return None,
    })
}

/// The keyboards' symbols by name: a flat table.
fn symbol_name(c: char, es: bool) -> Option<&'static str> {
    Some(match (c, es) {
        (' ', false) => "space",
        (' ', true) => "espacio",
        ('\'', false) => "apostrophe",
        ('\'', true) => "apóstrofo",
        ('-', false) => "hyphen",
        ('-', true) => "guion",
        ('.', false) => "period",
        ('.', true) => "punto",
        (',', false) => "comma",
        (',', true) => "coma",
        ('@', false) => "at",
        ('@', true) => "arroba",
        ('#', false) => "number sign",
        ('#', true) => "numeral",
        ('/', false) => "slash",
        ('/', true) => "barra",
        ('&', _) => "ampersand",
        ('_', false) => "underscore",
        ('_', true) => "guion bajo",
        ('+', false) => "plus",
        ('+', true) => "más",
        _ => return None,
    })
}

/// Typed date-of-birth digits one by one, grouped as month, day and year:
/// "0 5, 1 7, 1 9".
fn spoken_dob_digits(digits: &str) -> String {
    let d: Vec<String> = digits.chars().map(|c| c.to_string()).collect();
    [0..2, 2..4, 4..d.len().max(4)]
        .into_iter()
        .filter_map(|r| d.get(r.start..r.end.min(d.len())))
        .filter(|g| !g.is_empty())
        .map(|g| g.join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The masked date of a missed lookup, "05 / 17 / ••80": "0 5, 1 7, year
/// ending in 8 0".
fn spoken_masked_dob(masked: &str, language: Language) -> String {
    let parts: Vec<&str> = masked.split('/').map(str::trim).collect();
    let [month, day, year] = parts.as_slice() else {
        return spoken_masked(masked, language);
    };
    let digits = |s: &str| {
        s.chars()
            .filter(char::is_ascii_digit)
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let year = if year.contains(MASK) {
        match language {
            Language::En => format!("year ending in {}", digits(year)),
            Language::Es => format!("año terminado en {}", digits(year)),
        }
    } else {
        digits(year)
    };
    format!("{}, {}, {year}", digits(month), digits(day))
}

/// A start time as said aloud: Spanish "a. m." and "p. m." become "de la
/// mañana", "de la tarde" and "de la noche".
fn spoken_time(time: &str, language: Language) -> String {
    let time = time.trim();
    if language == Language::En {
        return time.to_string();
    }
    let (clock, pm) = if let Some(clock) = time.strip_suffix("a. m.") {
        (clock.trim(), false)
    } else if let Some(clock) = time.strip_suffix("p. m.") {
        (clock.trim(), true)
    } else {
        return time.to_string();
    };
    let hour: u32 = clock
        .split(':')
        .next()
        .and_then(|h| h.parse().ok())
        .unwrap_or(0);
    let part = match (pm, hour) {
        (false, _) => "de la mañana",
        (true, 12 | 1..=7) => "de la tarde",
        (true, _) => "de la noche",
    };
    format!("{clock} {part}")
}

/// "a la" before one o'clock, "a las" before the other hours.
fn at_the_hour(time: &str) -> &'static str {
    let t = time.trim();
    if t.starts_with("1:") || t.starts_with("01:") || t.starts_with("13:") {
        "a la"
    } else {
        "a las"
    }
}

/// An amount as said aloud: "$25.50" is "25 dollars and 50 cents",
/// "25 dólares con 50 centavos". Amounts in other currencies lose only
/// their thousands separators.
fn spoken_amount(amount: &str, language: Language) -> String {
    let a = amount.trim();
    let (minus, a) = match a.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, a),
    };
    let units = match a.chars().next() {
        Some('$') => Some(("dollar", "dollars", "dólar", "dólares")),
        Some('€') => Some(("euro", "euros", "euro", "euros")),
        Some('£') => Some(("pound", "pounds", "libra", "libras")),
        _ => None,
    };
    let plain = a.replace(',', "");
    let Some((one, many, uno, varios)) = units else {
        return if minus { format!("-{plain}") } else { plain };
    };
    let number: String = plain.chars().skip(1).collect();
    let (whole, cents) = number.split_once('.').unwrap_or((number.as_str(), "00"));
    let cents: u32 = cents.parse().unwrap_or(0);
    let es = language == Language::Es;
    let unit = match (whole == "1", es) {
        (true, false) => one,
        (false, false) => many,
        (true, true) => uno,
        (false, true) => varios,
    };
    let sign = match (minus, es) {
        (false, _) => "",
        (true, false) => "minus ",
        (true, true) => "menos ",
    };
    match (cents, es) {
        (0, _) => format!("{sign}{whole} {unit}"),
        (1, false) => format!("{sign}{whole} {unit} and 1 cent"),
        (c, false) => format!("{sign}{whole} {unit} and {c} cents"),
        (1, true) => format!("{sign}{whole} {unit} con 1 centavo"),
        (c, true) => format!("{sign}{whole} {unit} con {c} centavos"),
    }
}

/// Masked text as said aloud: a word with hidden characters becomes its
/// shown characters spelled ("7•• E•••••••• T••••••" is "7, ee, tee"), so
/// the voice never reads the mask marks.
fn spoken_masked(text: &str, language: Language) -> String {
    text.split_whitespace()
        .map(|word| {
            if word.contains(MASK) {
                let shown: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
                format!("{},", spell(&shown, language))
            } else {
                word.to_string()
            }
        })
        .filter(|w| w != ",")
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(',')
        .to_string()
}

/// A masked phone, "•••-•••-0134": "ending in 0 1 3 4".
fn spoken_phone(masked: &str, language: Language) -> String {
    let tail: Vec<String> = masked
        .chars()
        .filter(char::is_ascii_digit)
        .map(|c| c.to_string())
        .collect();
    ending_in(&tail.join(" "), language)
}

/// A masked member ID, "••••1234": "ending in 1, 2, 3, 4".
fn spoken_member_id(masked: &str, language: Language) -> String {
    let tail: String = masked.chars().filter(|c| *c != MASK).collect();
    ending_in(&spell(&tail, language), language)
}

fn ending_in(tail: &str, language: Language) -> String {
    match (language, tail.is_empty()) {
        (Language::En, true) => "hidden".to_string(),
        (Language::Es, true) => "oculto".to_string(),
        (Language::En, false) => format!("ending in {tail}"),
        (Language::Es, false) => format!("terminado en {tail}"),
    }
}

/// A masked email, "m•••@e•••.com": "em, at ee, dot com".
fn spoken_email(masked: &str, language: Language) -> String {
    let Some((local, domain)) = masked.rsplit_once('@') else {
        return spoken_masked(masked, language);
    };
    let shown = |s: &str| {
        let s: String = s.chars().filter(|c| *c != MASK).collect();
        spell(&s, language)
    };
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let (at, dot) = match language {
        Language::En => ("at", "dot"),
        Language::Es => ("arroba", "punto"),
    };
    let mut text = format!("{}, {at} {}", shown(local), shown(host));
    if !tld.is_empty() {
        text.push_str(&format!(", {dot} {tld}"));
    }
    text
}

/// The emergency contact, "Alex D. · •••-•••-0199": "Alex D., phone
/// ending in 0 1 9 9".
fn spoken_contact(masked: &str, language: Language) -> String {
    masked
        .split('·')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            if part.contains(MASK) && part.contains('-') {
                let phone = match language {
                    Language::En => "phone",
                    Language::Es => "teléfono",
                };
                format!("{phone} {}", spoken_phone(part, language))
            } else {
                spoken_masked(part, language)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
