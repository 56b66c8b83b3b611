//! The tactile keypad drives the real Slint UI under the testing backend:
//! the focus ring's order and drawing, whole journeys by keypad alone in
//! English and Spanish, a list of answers that slides under the ring, what
//! a loudspeaker says of the keys, and scanner bursts that keep working
//! while keypad keys are pressed.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use checkin_kiosk::domain::Language;
use checkin_kiosk::kiosk::ViewModel;
use checkin_kiosk::kiosk::adapters::{Script, SpeechOutput, SpokenScript, Voice, focused_control};
use checkin_kiosk::kiosk::keypad::Control;
use checkin_kiosk::kiosk::speech::script::{self, ControlRole, ControlState};
use checkin_kiosk::kiosk::speech::{Audience, Route, Utterance, Volume};
use checkin_kiosk::kiosk::ui::{KeypadAdapter, Screen};
use slint::ComponentHandle;
use slint::platform::{Key, WindowEvent};

use super::ui::Kiosk;

/// Presses and releases one key of a hardware keyboard.
fn press(k: &Kiosk, key: Key) {
    let text: slint::SharedString = key.into();
    k.window
        .window()
        .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
    k.window
        .window()
        .dispatch_event(WindowEvent::KeyReleased { text });
}

fn focused(k: &Kiosk) -> Option<String> {
    k.ui.focused_control().map(|c| c.label)
}

fn order(k: &Kiosk) -> Vec<String> {
    k.ui.focus_order().into_iter().map(|c| c.label).collect()
}

/// Moves the ring with Right to the control labelled `label` and presses
/// Enter; returns the key presses it took. Fails when Right goes all the
/// way round without finding it.
fn activate(k: &Kiosk, label: &str) -> usize {
    let mut presses = 0;
    while focused(k).as_deref() != Some(label) {
        press(k, Key::RightArrow);
        presses += 1;
        assert!(
            presses <= 80,
            "no {label:?} in the ring on {:?}: {:?}",
            k.screen(),
            order(k)
        );
    }
    press(k, Key::Return);
    presses + 1
}

/// Types `text` on the on-screen keypad or keyboard by keypad alone.
fn type_keys(k: &Kiosk, text: &str) -> usize {
    text.chars().map(|c| activate(k, &c.to_string())).sum()
}

/// Moves the ring to the control labelled `label` by the fewest arrow
/// presses, Up and Down through the grids as well as Left and Right
/// (planned on a copy of the kiosk's own ring), then presses Enter;
/// returns the key presses it took.
fn activate_shortest(k: &Kiosk, label: &str) -> usize {
    use checkin_kiosk::config::KeypadAction as A;
    // Before the ring's first move (the key that started speech mode only
    // starts it) there is nothing to plan on: one Right puts it there.
    let mut presses = 0;
    if k.ui.focus_order().is_empty() {
        press(k, Key::RightArrow);
        presses += 1;
    }
    let start = k.ui.focus_ring();
    let mut seen = vec![start.clone()];
    let mut queue = std::collections::VecDeque::from([(start, Vec::new())]);
    let mut plan = None;
    while let Some((ring, path)) = queue.pop_front() {
        if ring.focused().is_some_and(|c| c.label == label) {
            plan = Some(path);
            break;
        }
        for action in [A::Right, A::Left, A::Down, A::Up] {
            let mut next = ring.clone();
            next.step(action);
            if !seen.contains(&next) {
                seen.push(next.clone());
                let mut p = path.clone();
                p.push(action);
                queue.push_back((next, p));
            }
        }
    }
    let plan = plan.unwrap_or_else(|| panic!("no {label:?} on {:?}: {:?}", k.screen(), order(k)));
    for action in &plan {
        let key = match action {
            A::Right => Key::RightArrow,
            A::Left => Key::LeftArrow,
            A::Down => Key::DownArrow,
            _ => Key::UpArrow,
        };
        press(k, key);
    }
    assert_eq!(
        focused(k).as_deref(),
        Some(label),
        "the kiosk's ring followed the plan {plan:?}"
    );
    press(k, Key::Return);
    presses + plan.len() + 1
}

/// How the walk reaches each control: Right only, or the fewest presses.
type Walk = fn(&Kiosk, &str) -> usize;

/// Types `text` with `walk`.
fn type_with(k: &Kiosk, walk: Walk, text: &str) -> usize {
    text.chars().map(|c| walk(k, &c.to_string())).sum()
}

struct Labels {
    use_dob: &'static str,
    next: &'static str,
    find: &'static str,
    correct: &'static str,
    still: &'static str,
    desk: &'static str,
}

const EN: Labels = Labels {
    use_dob: "Use my date of birth",
    next: "Next",
    find: "Find my appointment",
    correct: "This is correct",
    still: "Still correct",
    desk: "Pay at the front desk",
};

const ES: Labels = Labels {
    use_dob: "Usar mi fecha de nacimiento",
    next: "Siguiente",
    find: "Buscar mi cita",
    correct: "Son correctos",
    still: "Sigue igual",
    desk: "Pagar en la recepción",
};

#[test]
fn the_ring_starts_on_nothing_and_moves_in_reading_order() {
    let k = Kiosk::new();
    let ring = || k.window.global::<KeypadAdapter>();
    assert!(!ring().get_ring_visible());
    press(&k, Key::DownArrow);
    // The top bar first (language, then help), then the screen.
    assert_eq!(
        order(&k),
        [
            "Español",
            "I need help",
            "Use my date of birth",
            "Larger text"
        ],
        "Welcome's controls in reading order"
    );
    assert_eq!(focused(&k).as_deref(), Some("Español"));
    assert!(ring().get_ring_visible());
    let el = k.find("Español").unwrap();
    assert_eq!(ring().get_ring_x(), el.absolute_position().x);
    assert_eq!(ring().get_ring_y(), el.absolute_position().y);
    assert_eq!(ring().get_ring_width(), el.size().width);
    press(&k, Key::RightArrow);
    assert_eq!(focused(&k).as_deref(), Some("I need help"));
    press(&k, Key::DownArrow);
    assert_eq!(focused(&k).as_deref(), Some("Use my date of birth"));
    press(&k, Key::RightArrow);
    assert_eq!(focused(&k).as_deref(), Some("Larger text"));
    press(&k, Key::RightArrow);
    assert_eq!(focused(&k).as_deref(), Some("Español"), "Right wraps");
    press(&k, Key::LeftArrow);
    assert_eq!(focused(&k).as_deref(), Some("Larger text"));
}

#[test]
fn up_and_down_move_through_the_date_keypad_by_rows() {
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    assert_eq!(k.screen(), Screen::EnterDob);
    assert_eq!(
        focused(&k),
        None,
        "a new screen starts with the ring on nothing"
    );
    press(&k, Key::RightArrow);
    let labels = order(&k);
    let one = labels.iter().position(|l| l == "1").unwrap();
    assert_eq!(
        labels[one..one + 12],
        [
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "Delete"
        ]
    );
    activate(&k, "2");
    assert_eq!(
        focused(&k).as_deref(),
        Some("2"),
        "the ring stays on the key"
    );
    press(&k, Key::DownArrow);
    assert_eq!(focused(&k).as_deref(), Some("5"));
    press(&k, Key::DownArrow);
    press(&k, Key::DownArrow);
    assert_eq!(focused(&k).as_deref(), Some("0"));
    press(&k, Key::Return);
    press(&k, Key::UpArrow);
    assert_eq!(focused(&k).as_deref(), Some("8"));
    press(&k, Key::Return);
    let typed = k.ui.view().dob_digits.clone();
    assert_eq!(typed, "208", "Enter typed the keys in the ring");
}

fn dob_path_by_keypad(language: &str, l: &Labels) -> usize {
    let k = Kiosk::new();
    let mut presses = 0;
    if language == "es" {
        presses += activate(&k, "Español");
    }
    presses += activate(&k, l.use_dob);
    assert_eq!(k.screen(), Screen::EnterDob);
    presses += type_keys(&k, "05171980");
    presses += activate(&k, l.next);
    assert_eq!(k.screen(), Screen::EnterName);
    presses += type_keys(&k, "GAR");
    presses += activate(&k, l.find);
    assert_eq!(k.screen(), Screen::Demographics);
    presses += activate(&k, l.correct);
    assert_eq!(k.screen(), Screen::Insurance);
    presses += activate(&k, l.still);
    assert_eq!(k.screen(), Screen::Copay);
    presses += activate(&k, l.desk);
    assert_eq!(k.screen(), Screen::Done);
    presses
}

#[test]
fn the_dob_path_by_keypad_alone_in_english_and_spanish() {
    let en = dob_path_by_keypad("en", &EN);
    let es = dob_path_by_keypad("es", &ES);
    assert!(en > 10 && es > en, "key presses: en {en}, es {es}");
}

#[test]
fn the_qr_path_by_keypad_alone_in_english_and_spanish() {
    for (language, l) in [("en", &EN), ("es", &ES)] {
        let k = Kiosk::new();
        press(&k, Key::DownArrow);
        if language == "es" {
            activate(&k, "Español");
        }
        let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
        k.scan(&pass);
        assert_eq!(k.screen(), Screen::Demographics, "{language}");
        activate(&k, l.correct);
        activate(&k, l.still);
        activate(&k, l.desk);
        assert_eq!(k.screen(), Screen::Done, "{language}");
    }
}

#[test]
fn a_scan_is_recognised_with_keypad_keys_pressed_in_the_middle() {
    let k = Kiosk::new();
    press(&k, Key::DownArrow);
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    let (head, tail) = pass.split_at(pass.len() / 2);
    // Arrows, help-less function keys and Escape never join the burst.
    k.scan_burst(head);
    press(&k, Key::RightArrow);
    press(&k, Key::F9);
    press(&k, Key::UpArrow);
    k.scan(tail);
    assert_eq!(k.screen(), Screen::Demographics);
}

#[test]
fn enter_ends_a_burst_and_does_not_press_the_control_in_the_ring() {
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    press(&k, Key::Escape);
    assert_eq!(k.screen(), Screen::Welcome, "Back returned to Welcome");
    press(&k, Key::DownArrow);
    press(&k, Key::DownArrow);
    assert_eq!(focused(&k).as_deref(), Some("Use my date of birth"));
    // A scan that fails still ends at its Enter, which is the scanner's.
    k.scan("NOT-A-PASS");
    assert_eq!(
        k.screen(),
        Screen::PassRejected,
        "the burst became one scan"
    );
}

#[test]
fn help_is_one_key_and_any_key_answers_the_idle_warning() {
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    press(&k, Key::F1);
    assert_eq!(k.screen(), Screen::Help);
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    k.elapse(Duration::from_secs(46));
    assert!(k.ui.view().idle_warning);
    press(&k, Key::DownArrow);
    assert!(!k.ui.view().idle_warning);
    assert_eq!(k.screen(), Screen::EnterDob);
}

#[test]
fn the_idle_reset_ends_the_keypad_session() {
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    press(&k, Key::RightArrow);
    assert!(k.window.global::<KeypadAdapter>().get_ring_visible());
    k.elapse(Duration::from_secs(61));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.window.global::<KeypadAdapter>().get_ring_visible());
    assert_eq!(order(&k), Vec::<String>::new());
}

/// What the kiosk asked the voice to do.
#[derive(Debug, Clone, PartialEq)]
enum Heard {
    Said(Vec<String>),
    Interrupted,
    Volume(i8),
    Route(Route),
}

/// A voice that records instead of playing.
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<Heard>>>);

impl Voice for Recorder {
    fn say_all(&self, utterances: Vec<Utterance>) {
        let words = utterances.into_iter().map(|u| u.text).collect();
        self.0.borrow_mut().push(Heard::Said(words));
    }

    fn interrupt(&self) {
        self.0.borrow_mut().push(Heard::Interrupted);
    }

    fn set_volume(&self, volume: Volume) {
        self.0.borrow_mut().push(Heard::Volume(volume.db()));
    }

    fn set_route(&self, route: Route) {
        self.0.borrow_mut().push(Heard::Route(route));
    }
}

impl Recorder {
    /// Everything said since the last call, in order.
    fn said(&self) -> Vec<String> {
        let all = std::mem::take(&mut *self.0.borrow_mut());
        all.into_iter()
            .filter_map(|h| match h {
                Heard::Said(words) => Some(words),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn volumes(&self) -> Vec<i8> {
        self.0
            .borrow()
            .iter()
            .filter_map(|h| match h {
                Heard::Volume(db) => Some(*db),
                _ => None,
            })
            .collect()
    }
}

/// A script that names which of its parts spoke, so the tests see when
/// the adapter asks for each.
struct Marks;

impl Script for Marks {
    fn view_changes(&self, prev: Option<&ViewModel>, next: &ViewModel) -> Vec<Utterance> {
        let mut out = Vec::new();
        if prev.map(|p| p.screen) != Some(next.screen) {
            out.push(format!("screen {:?}", next.screen));
        }
        if prev.is_some_and(|p| p.dob_digits != next.dob_digits) {
            out.push(format!("digits {}", next.dob_digits));
        }
        out.into_iter()
            .map(|t| Utterance::prompt(t, next.language))
            .collect()
    }

    fn whole_screen(&self, view: &ViewModel) -> Vec<Utterance> {
        vec![Utterance::prompt(
            format!("whole {:?} {}", view.screen, view.language.code()),
            view.language,
        )]
    }

    fn focused(&self, control: &Control, language: Language) -> Vec<Utterance> {
        vec![Utterance::prompt(
            format!("focus {} {:?}", control.label, control.kind),
            language,
        )]
    }

    fn idle_warning(&self, seconds_left: u32, language: Language) -> Utterance {
        Utterance::prompt(format!("warning {seconds_left}"), language)
    }

    fn speech_mode_started(&self, language: Language) -> Utterance {
        Utterance::prompt(format!("started {}", language.code()), language)
    }
}

fn speaking(always_speak: bool) -> (Kiosk, Recorder) {
    let k = Kiosk::new();
    let voice = Recorder::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(voice.clone()),
        script: Box::new(Marks),
        always_speak,
        default_volume: Volume::DEFAULT,
    });
    (k, voice)
}

#[test]
fn the_first_key_starts_speech_mode_and_each_step_is_spoken() {
    let (k, voice) = speaking(false);
    assert!(!k.ui.speech_on());
    assert_eq!(voice.said(), Vec::<String>::new());
    press(&k, Key::DownArrow);
    assert!(k.ui.speech_on());
    assert_eq!(voice.said(), ["started en", "whole Welcome en"]);
    assert_eq!(focused(&k), None, "the first key only starts speech");
    press(&k, Key::DownArrow);
    assert_eq!(voice.said(), ["focus Español Button"]);
    activate(&k, "Use my date of birth");
    assert_eq!(
        voice.said(),
        [
            "focus I need help Button",
            "focus Use my date of birth Button",
            "screen EnterDob"
        ]
    );
    activate(&k, "0");
    let said = voice.said();
    assert_eq!(
        said.last().map(String::as_str),
        Some("digits 0"),
        "{said:?}"
    );
    assert!(said.contains(&"focus 0 Key".to_string()), "{said:?}");
}

#[test]
fn repeat_and_volume_keys_and_the_reset_of_both() {
    let (k, voice) = speaking(false);
    press(&k, Key::DownArrow);
    press(&k, Key::DownArrow);
    voice.said();
    press(&k, Key::F2);
    assert_eq!(voice.said(), ["whole Welcome en"], "repeat says the screen");
    press(&k, Key::F4);
    press(&k, Key::F4);
    assert_eq!(k.ui.speech_volume().db(), Volume::DEFAULT.db() + 6);
    assert_eq!(
        voice.said().len(),
        2,
        "each volume step repeats at the new level"
    );
    for _ in 0..20 {
        press(&k, Key::F3);
    }
    assert_eq!(k.ui.speech_volume(), Volume::MIN);
    activate(&k, "Use my date of birth");
    k.elapse(Duration::from_secs(121));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.ui.speech_on(), "speech mode ended with the session");
    assert_eq!(k.ui.speech_volume(), Volume::DEFAULT);
    assert_eq!(voice.volumes().last(), Some(&Volume::DEFAULT.db()));
}

#[test]
fn speech_mode_waits_longer_and_speaks_the_idle_warning() {
    let (k, voice) = speaking(false);
    press(&k, Key::DownArrow);
    activate(&k, "Use my date of birth");
    voice.said();
    k.elapse(Duration::from_secs(60));
    assert_eq!(
        k.screen(),
        Screen::EnterDob,
        "no reset at the ordinary 60 s"
    );
    assert!(!k.ui.view().idle_warning);
    k.elapse(Duration::from_secs(30));
    assert!(k.ui.view().idle_warning);
    assert_eq!(voice.said(), ["warning 30"]);
    k.elapse(Duration::from_secs(30));
    assert_eq!(k.screen(), Screen::Welcome);
}

#[test]
fn a_kiosk_that_always_speaks_starts_every_session_speaking() {
    let (k, voice) = speaking(true);
    assert!(k.ui.speech_on());
    assert_eq!(voice.said(), ["whole Welcome en"]);
    press(&k, Key::DownArrow);
    assert_eq!(voice.said(), ["focus Español Button"], "no start-up words");
    activate(&k, "Use my date of birth");
    k.elapse(Duration::from_secs(121));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(k.ui.speech_on());
    assert_eq!(
        voice.said().last().map(String::as_str),
        Some("screen Welcome")
    );
}

#[test]
fn a_scan_works_in_speech_mode_and_its_result_is_spoken() {
    let (k, voice) = speaking(false);
    press(&k, Key::DownArrow);
    press(&k, Key::DownArrow);
    voice.said();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    assert_eq!(voice.said(), ["screen Demographics"]);
}

#[test]
fn plugging_in_headphones_starts_speech_mode_in_private() {
    let (k, voice) = speaking(false);
    k.ui.headphones(true);
    assert!(k.ui.speech_on());
    assert!(voice.0.borrow().contains(&Heard::Route(Route::Private)));
    assert_eq!(voice.said(), ["started en", "whole Welcome en"]);
    k.ui.headphones(false);
    assert_eq!(
        voice.0.borrow().last(),
        Some(&Heard::Route(Route::Loudspeaker))
    );
}

/// A voice that keeps every utterance whole, for the real script.
#[derive(Clone, Default)]
struct Transcript(Rc<RefCell<Vec<Utterance>>>);

impl Voice for Transcript {
    fn say_all(&self, utterances: Vec<Utterance>) {
        self.0.borrow_mut().extend(utterances);
    }

    fn interrupt(&self) {}

    fn set_volume(&self, _volume: Volume) {}
}

impl Transcript {
    fn take(&self) -> Vec<Utterance> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Checks what one step said: something, all in `language`, including
/// `expected` when given, and patient data (Maria's name) only for
/// private listening.
fn heard(t: &Transcript, language: Language, expected: Option<&str>, step: &str) {
    let said = t.take();
    assert!(!said.is_empty(), "{step}: nothing said");
    assert!(
        said.iter().all(|u| u.language == language),
        "{step}: {said:?}"
    );
    if let Some(expected) = expected {
        assert!(
            said.iter().any(|u| u.text.contains(expected)),
            "{step}: no {expected:?} in {said:?}"
        );
    }
    for u in &said {
        if u.text.contains("Maria") || u.text.contains("García") {
            assert_eq!(u.audience, Audience::PrivateListening, "{step}: {u:?}");
        }
    }
}

/// A kiosk speaking through the real script, started by the first key and,
/// for Spanish, switched by keypad; each step's speech checked.
fn spoken_start(language: Language) -> (Kiosk, Transcript) {
    let k = Kiosk::new();
    let t = Transcript::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(t.clone()),
        script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
        always_speak: false,
        default_volume: Volume::DEFAULT,
    });
    press(&k, Key::DownArrow);
    let started = t.take();
    assert_eq!(
        started.first(),
        Some(&script::speech_mode_started(Language::En))
    );
    assert!(
        started
            .iter()
            .any(|u| u.text.starts_with("Welcome to Riverside Family Clinic.")),
        "{started:?}"
    );
    if language == Language::Es {
        press(&k, Key::DownArrow);
        assert_eq!(focused(&k).as_deref(), Some("Español"));
        heard(&t, Language::En, Some("Español"), "the toggle");
        press(&k, Key::Return);
        heard(
            &t,
            language,
            Some("Bienvenido a Riverside Family Clinic."),
            "language",
        );
    }
    (k, t)
}

fn spoken_dob_path(language: Language) {
    let (k, t) = spoken_start(language);
    let es = language == Language::Es;
    let l = if es { &ES } else { &EN };
    activate(&k, l.use_dob);
    let title = if es {
        "¿Cuál es su fecha de nacimiento?"
    } else {
        "What is your date of birth?"
    };
    heard(&t, language, Some(title), "date of birth");
    for digit in "05171980".chars() {
        activate(&k, &digit.to_string());
        heard(&t, language, None, "a digit");
    }
    activate(&k, l.next);
    heard(&t, language, None, "last name");
    for letter in "GAR".chars() {
        activate(&k, &letter.to_string());
        heard(&t, language, None, "a letter");
    }
    activate(&k, l.find);
    assert_eq!(k.screen(), Screen::Demographics);
    heard(&t, language, None, "details");
    spoken_details_to_done(&k, &t, language, l);
}

/// From the contact details, confirmed, to Done, each step's speech checked.
fn spoken_details_to_done(k: &Kiosk, t: &Transcript, language: Language, l: &Labels) {
    activate(k, l.correct);
    assert_eq!(k.screen(), Screen::Insurance);
    heard(t, language, None, "insurance");
    activate(k, l.still);
    assert_eq!(k.screen(), Screen::Copay);
    heard(t, language, None, "co-pay");
    activate(k, l.desk);
    assert_eq!(k.screen(), Screen::Done);
    heard(t, language, None, "done");
}

#[test]
fn the_spoken_dob_path_by_keypad_in_english_and_spanish() {
    spoken_dob_path(Language::En);
    spoken_dob_path(Language::Es);
}

/// The returning patient by pass and keypad: the scan's result, then each
/// step, spoken in the session's language.
fn spoken_qr_path(language: Language) {
    let (k, t) = spoken_start(language);
    let es = language == Language::Es;
    let l = if es { &ES } else { &EN };
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    let title = if es {
        "¿Son correctos sus datos de contacto?"
    } else {
        "Are your contact details correct?"
    };
    heard(&t, language, Some(title), "the scan's result");
    spoken_details_to_done(&k, &t, language, l);
}

#[test]
fn the_spoken_qr_path_by_keypad_in_english_and_spanish() {
    spoken_qr_path(Language::En);
    spoken_qr_path(Language::Es);
}

#[test]
fn the_focused_control_reaches_the_script_with_its_role_and_state() {
    let k = Kiosk::new();
    activate(&k, "Use my date of birth");
    press(&k, Key::RightArrow);
    activate(&k, "7");
    let key = k.ui.focused_control().unwrap();
    let spoken = focused_control(&key);
    assert_eq!(spoken.label, "7");
    assert_eq!(spoken.role, ControlRole::Key);
    assert_eq!(spoken.state, ControlState::Enabled);
    assert!(!spoken.carries_patient_data);
}

/// A kiosk in speech mode with the real script, its transcript emptied.
fn spoken_kiosk() -> (Kiosk, Transcript) {
    let k = Kiosk::new();
    let t = Transcript::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(t.clone()),
        script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
        always_speak: false,
        default_volume: Volume::DEFAULT,
    });
    press(&k, Key::DownArrow);
    t.take();
    (k, t)
}

fn texts(said: &[Utterance]) -> Vec<&str> {
    said.iter().map(|u| u.text.as_str()).collect()
}

#[test]
fn the_same_error_is_said_once_and_the_repeat_key_says_it_again() {
    let (k, t) = spoken_kiosk();
    activate(&k, "Use my date of birth");
    // Month 13: a whole date, and an error.
    type_keys(&k, "13011980");
    t.take();
    activate(&k, "Next");
    let said = t.take();
    let error = "The month must be from 01 to 12.";
    assert!(
        said.iter().any(|u| u.text.contains(error)),
        "{:?}",
        texts(&said)
    );
    // Next again, and again: the same error, not said again.
    press(&k, Key::Return);
    press(&k, Key::Return);
    assert!(
        k.ui.view().dob_problem.is_some(),
        "the error stays on screen"
    );
    assert!(t.take().is_empty(), "the unchanged error is said once");
    press(&k, Key::F2);
    let again = t.take();
    assert!(
        again.iter().any(|u| u.text.contains(error)),
        "repeat says it: {:?}",
        texts(&again)
    );
    // Editing the date clears it; Next then says it once more: a change.
    activate(&k, "Delete");
    activate(&k, "1");
    assert_eq!(k.ui.view().dob_problem, None);
    t.take();
    activate(&k, "Next");
    let said = t.take();
    assert_eq!(
        said.iter().filter(|u| u.text.contains(error)).count(),
        1,
        "{:?}",
        texts(&said)
    );
}

#[test]
fn done_is_said_once_with_how_it_ends_and_its_countdown_is_not_said() {
    let (k, t) = spoken_kiosk();
    press(&k, Key::DownArrow);
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    activate(&k, EN.correct);
    activate(&k, EN.still);
    t.take();
    activate(&k, EN.desk);
    assert_eq!(k.screen(), Screen::Done);
    let said = t.take();
    let joined = texts(&said).join(" ");
    assert!(joined.contains("You're checked in."), "{joined}");
    assert!(
        joined.contains("When you are ready, choose Finish."),
        "{joined}"
    );
    // The countdown ticks on screen but is never spoken.
    k.elapse(Duration::from_secs(12));
    assert_eq!(k.screen(), Screen::Done, "speech mode waits longer on Done");
    assert!(t.take().is_empty(), "the countdown is not said");
    let shown = k
        .window
        .global::<checkin_kiosk::kiosk::ui::DoneAdapter>()
        .get_seconds_left();
    assert_eq!(shown, 18, "the screen counts down from 30 in speech mode");
    k.elapse(Duration::from_secs(18));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.ui.speech_on(), "the session, and speech mode, ended");
}

#[test]
fn larger_text_is_a_switch_the_keypad_reaches_and_the_voice_names() {
    use checkin_kiosk::kiosk::ui::Theme;
    let (k, t) = spoken_kiosk();
    let theme = || k.window.global::<Theme>();
    assert!(theme().get_larger_text_offered(), "Welcome offers it");
    assert!(k.find("Larger text").is_some());
    let body = theme().get_type().body;
    let key = theme().get_sizes().key_size;
    assert!(!k.ui.larger_text());
    let order = {
        press(&k, Key::DownArrow);
        order(&k)
    };
    assert!(order.contains(&"Larger text".to_string()), "{order:?}");
    t.take();
    while focused(&k).as_deref() != Some("Larger text") {
        press(&k, Key::RightArrow);
    }
    assert_eq!(texts(&t.take()).last(), Some(&"Larger text, switch, off."));
    press(&k, Key::Return);
    assert!(k.ui.larger_text());
    assert_eq!(texts(&t.take()), ["Larger text, switch, on."]);
    assert!((theme().get_type().body / body - 1.3).abs() < 0.01);
    assert!((theme().get_sizes().key_size / key - 1.3).abs() < 0.01);
    // The ring follows the switch to its new size.
    let ring = k.window.global::<KeypadAdapter>();
    let el = k.find("Larger text").unwrap();
    assert_eq!(ring.get_ring_width(), el.size().width);
    assert_eq!(ring.get_ring_y(), el.absolute_position().y);

    // It holds through the session, and its end turns it off.
    activate(&k, "Use my date of birth");
    assert!(k.ui.larger_text());
    k.elapse(Duration::from_secs(121));
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.ui.larger_text(), "the idle reset turned it off");
    assert_eq!(theme().get_type().body, body);
}

#[test]
fn larger_text_left_on_at_welcome_goes_off_after_the_idle_time() {
    let k = Kiosk::new();
    k.find("Larger text")
        .unwrap()
        .invoke_accessible_default_action();
    assert!(k.ui.larger_text());
    k.elapse(Duration::from_secs(59));
    assert!(k.ui.larger_text(), "not before the idle reset time");
    k.elapse(Duration::from_secs(1));
    assert!(!k.ui.larger_text());
    // Finishing a check-in ends it too.
    k.find("Larger text")
        .unwrap()
        .invoke_accessible_default_action();
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert!(k.ui.larger_text());
    for label in [EN.correct, EN.still, EN.desk, "Finish"] {
        k.find(label).unwrap().invoke_accessible_default_action();
    }
    assert_eq!(k.screen(), Screen::Welcome);
    assert!(!k.ui.larger_text());
}

/// A voice that keeps each answer whole, in order.
#[derive(Clone, Default)]
struct Answers(Rc<RefCell<Vec<Vec<Utterance>>>>);

impl Voice for Answers {
    fn say_all(&self, utterances: Vec<Utterance>) {
        self.0.borrow_mut().push(utterances);
    }

    fn interrupt(&self) {}

    fn set_volume(&self, _volume: Volume) {}
}

/// The returning patient's date of birth path by keypad alone, in speech
/// mode from the first key: the key presses, and every answer the kiosk
/// gave, in order.
fn answers_of_the_dob_path(l: &Labels, es: bool, walk: Walk) -> (usize, Vec<Vec<Utterance>>) {
    let k = Kiosk::new();
    let answers = Answers::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(answers.clone()),
        script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
        always_speak: false,
        default_volume: Volume::DEFAULT,
    });
    // The first key starts speech mode and says how the keys work.
    press(&k, Key::DownArrow);
    let mut presses = 1;
    if es {
        presses += walk(&k, "Español");
    }
    presses += walk(&k, l.use_dob);
    presses += type_with(&k, walk, "05171980");
    presses += walk(&k, l.next);
    presses += type_with(&k, walk, "GAR");
    presses += walk(&k, l.find);
    presses += walk(&k, l.correct);
    presses += walk(&k, l.still);
    presses += walk(&k, l.desk);
    assert_eq!(k.screen(), Screen::Done);
    let said = answers.0.borrow().clone();
    (presses, said)
}

/// How long `utterances` take through the real engine, in seconds.
fn spoken_seconds(
    engine: &mut checkin_kiosk::kiosk::speech::espeak::Espeak,
    utterances: &[Utterance],
) -> f64 {
    use checkin_kiosk::kiosk::speech::Synthesizer;
    let mut samples = 0usize;
    for u in utterances {
        engine
            .synthesize(&u.text, u.language, &mut |chunk| {
                samples += chunk.len();
                true
            })
            .expect("the engine speaks");
    }
    samples as f64 / f64::from(engine.sample_rate())
}

/// The returning patient's keypad-only path through the real engine:
/// how many key presses it takes and how long the kiosk speaks, each
/// answer heard to its end (with headphones: patient data included).
/// Prints the figures BENCHMARKS.md records.
#[test]
fn the_keypad_only_dob_path_is_spoken_through_the_real_engine() {
    let _engine = super::speech::ENGINE
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut engine =
        checkin_kiosk::kiosk::speech::espeak::Espeak::load().expect("eSpeak NG is installed");
    let walks: [(&str, Walk); 2] = [
        ("Right only", activate),
        ("fewest presses, Up and Down too", activate_shortest),
    ];
    let mut presses_of = Vec::new();
    for ((language, l, es), (how, walk)) in [("en", &EN, false), ("es", &ES, true)]
        .into_iter()
        .flat_map(|lang| walks.iter().map(move |w| (lang, *w)))
    {
        let (presses, answers) = answers_of_the_dob_path(l, es, walk);
        presses_of.push(presses);
        // With headphones: what a loudspeaker alone says is not heard.
        let heard = |us: &[Utterance]| -> Vec<Utterance> {
            us.iter()
                .filter(|u| Route::Private.allows(u.audience))
                .cloned()
                .collect()
        };
        let all = heard(&answers.concat());
        let total = spoken_seconds(&mut engine, &all);
        let start = spoken_seconds(&mut engine, &heard(&answers[0]));
        let words: usize = all.iter().map(|u| u.text.split_whitespace().count()).sum();
        println!(
            "keypad-only DOB path, {language}, {how}: {presses} key presses, {} answers, \
             {words} words, {total:.1} s spoken in all ({start:.1} s of it the first \
             key's how-to and Welcome)",
            answers.len()
        );
        // Every press answers; at 160 words a minute the seconds follow
        // the words.
        assert_eq!(answers.len(), presses, "{language}: one answer a press");
        let expected = words as f64 / 160.0 * 60.0;
        assert!(
            total > expected * 0.5 && total < expected * 2.0,
            "{language}: {total:.1} s for {words} words"
        );
    }
    // Up and Down through the keypad and the keyboard save presses.
    for pair in presses_of.chunks(2) {
        assert!(pair[1] * 2 < pair[0], "Right only, then shortest: {pair:?}");
    }
}

/// A kiosk whose returning patient (Maria) has the shipped consent due.
fn kiosk_with_a_consent_due() -> Kiosk {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/forms/consent-npp.json"
    ))
    .expect("the shipped consent");
    Kiosk::with_form_due_for_maria("consent-npp", json)
}

struct ConsentLabels {
    agree: &'static str,
    type_name: &'static str,
    space: &'static str,
    sign: &'static str,
    continue_: &'static str,
    how_to: &'static str,
    your_name: &'static str,
    pad: &'static str,
}

const CONSENT_EN: ConsentLabels = ConsentLabels {
    agree: "I agree",
    type_name: "Sign by typing my name",
    space: "Space",
    sign: "Sign",
    continue_: "Continue",
    how_to: "type your full name on the keyboard",
    your_name: "Your name",
    pad: "Signature box",
};

const CONSENT_ES: ConsentLabels = ConsentLabels {
    agree: "Acepto",
    type_name: "Escribir mi nombre",
    space: "Espacio",
    sign: "Firmar",
    continue_: "Continuar",
    how_to: "escriba su nombre completo en el teclado",
    your_name: "Su nombre",
    pad: "Recuadro para la firma",
};

/// The returning patient checks in and signs the consent by keypad alone,
/// typing her name, in speech mode: the consent reaches the outbox with
/// the typed name as its signature, and the name is only ever said in
/// private.
fn consent_signed_by_keypad(es: bool) {
    let (l, c) = if es {
        (&ES, &CONSENT_ES)
    } else {
        (&EN, &CONSENT_EN)
    };
    let language = if es { Language::Es } else { Language::En };
    let k = kiosk_with_a_consent_due();
    let t = Transcript::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(t.clone()),
        script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
        always_speak: false,
        default_volume: Volume::DEFAULT,
    });
    press(&k, Key::DownArrow);
    if es {
        activate(&k, "Español");
    }
    activate(&k, l.use_dob);
    type_keys(&k, "05171980");
    activate(&k, l.next);
    type_keys(&k, "GAR");
    activate(&k, l.find);
    activate(&k, l.correct);
    activate(&k, l.still);
    activate(&k, l.desk);
    assert_eq!(k.screen(), Screen::Form, "{}", k.all_text());
    t.take();
    activate(&k, c.agree);
    assert!(k.find(c.pad).is_some(), "the pad shows: {}", k.all_text());
    activate(&k, c.type_name);
    let said = t.take();
    assert!(
        said.iter()
            .any(|u| u.language == language && u.text.contains(c.how_to)),
        "{:?}",
        texts(&said)
    );
    assert!(k.find(c.pad).is_none(), "the keyboard replaced it");
    assert!(k.find(c.your_name).is_some(), "{}", k.all_text());

    // Every letter is echoed by name, only in private.
    for ch in "MARIA GARCIA".chars() {
        let label = if ch == ' ' {
            c.space.to_string()
        } else {
            ch.to_string()
        };
        activate(&k, &label);
        let said = t.take();
        let echo = said.last().expect("an answer to Enter");
        assert_eq!(echo.audience, Audience::PrivateListening, "{echo:?}");
        if ch != ' ' {
            assert_eq!(
                echo.text,
                format!("{}.", script::char_name(ch, language)),
                "{echo:?}"
            );
        }
    }
    // Repeat says the name whole, spelled, and only privately.
    press(&k, Key::F2);
    for u in t.take() {
        if u.text.contains("GARCIA") || u.text.contains(c.your_name) {
            assert_eq!(u.audience, Audience::PrivateListening, "{u:?}");
        }
    }
    activate(&k, c.sign);
    assert!(k.find(c.continue_).is_some(), "thank-you: {}", k.all_text());

    let events = k.ui.with_controller(|ctl| {
        ctl.repository()
            .store
            .events_for(&checkin_kiosk::domain::AppointmentId("a-maria".into()))
            .expect("events")
    });
    let form = events
        .iter()
        .find(|e| e.envelope.body.kind() == "form_completed")
        .expect("a form_completed event");
    form.envelope
        .validate(super::ui::now())
        .expect("the server would take it");
    let checkin_kiosk::protocol::EventBody::FormCompleted {
        form_id,
        signature_png,
        signature_name,
        response,
        ..
    } = &form.envelope.body
    else {
        panic!("{:?}", form.envelope.body);
    };
    assert_eq!(form_id, "consent-npp");
    assert_eq!(signature_name.as_deref(), Some("MARIA GARCIA"));
    assert_eq!(signature_png, &None, "one signature, the typed one");
    assert_eq!(response["status"], "completed");
    let language_code = if es { "es" } else { "en" };
    assert_eq!(response["language"], language_code);

    activate(&k, c.continue_);
    assert_eq!(k.screen(), Screen::Done);
}

#[test]
fn a_consent_is_signed_by_keypad_alone_in_english_and_spanish() {
    consent_signed_by_keypad(false);
    consent_signed_by_keypad(true);
}

/// Twelve ways a patient may have heard of the clinic, in English and
/// Spanish: too many to fit beside the question on a short landscape
/// panel with larger text.
const HEARD_OF_US: [(&str, &str); 12] = [
    ("From my doctor", "Por mi médico"),
    (
        "From a friend or family member",
        "Por un amigo o un familiar",
    ),
    ("From my insurance company", "Por mi compañía de seguros"),
    ("An online search", "Una búsqueda en internet"),
    ("Social media", "Las redes sociales"),
    ("A newspaper or magazine", "Un periódico o una revista"),
    ("Radio or television", "La radio o la televisión"),
    ("A community health fair", "Una feria de salud comunitaria"),
    (
        "A sign outside the clinic",
        "Un letrero fuera de la clínica",
    ),
    ("My employer", "Mi empleador"),
    ("I walked or drove past", "Pasé caminando o en coche"),
    ("Something else", "Otra cosa"),
];

/// A form of one choice question with the answers of `HEARD_OF_US`.
fn heard_of_us_form() -> String {
    let es = |text: &str| {
        serde_json::json!({"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/translation",
            "extension": [
                {"url": "lang", "valueCode": "es"},
                {"url": "content", "valueString": text}
            ]
        }]})
    };
    let options: Vec<_> = HEARD_OF_US
        .iter()
        .enumerate()
        .map(|(i, (en, sp))| {
            serde_json::json!({"valueCoding": {
                "code": format!("h{i}"), "display": en, "_display": es(sp)
            }})
        })
        .collect();
    serde_json::json!({
        "resourceType": "Questionnaire",
        "id": "heard-of-us",
        "title": "About your visit",
        "_title": es("Sobre su visita"),
        "item": [{
            "linkId": "heard",
            "type": "choice",
            "required": true,
            "text": "How did you hear about our clinic?",
            "_text": es("¿Cómo supo de nuestra clínica?"),
            "answerOption": options
        }]
    })
    .to_string()
}

/// A kiosk whose returning patient (Maria) has the one-question form due.
fn kiosk_with_a_long_choice_due() -> Kiosk {
    Kiosk::with_form_due_for_maria("heard-of-us", heard_of_us_form())
}

/// A place in the window: x, y, width, height.
type Rect = (f32, f32, f32, f32);

fn rect(e: &i_slint_backend_testing::ElementHandle) -> Rect {
    let (at, size) = (e.absolute_position(), e.size());
    (at.x, at.y, size.width, size.height)
}

/// Whether `inner` lies wholly inside `outer`, to half a pixel.
fn inside(inner: Rect, outer: Rect) -> bool {
    inner.0 >= outer.0 - 0.5
        && inner.1 >= outer.1 - 0.5
        && inner.0 + inner.2 <= outer.0 + outer.2 + 0.5
        && inner.1 + inner.3 <= outer.1 + outer.3 + 0.5
}

/// Where the list of answers shows them: the sliding list that holds a
/// button.
fn answer_list(k: &Kiosk) -> Rect {
    use i_slint_backend_testing::{AccessibleRole, ElementQuery};
    let lists: Vec<Rect> = ElementQuery::from_root(&k.window)
        .match_descendants()
        .match_type_name("Flickable")
        .find_all()
        .into_iter()
        .filter(|f| {
            f.query_descendants()
                .match_accessible_role(AccessibleRole::Button)
                .find_first()
                .is_some()
        })
        .map(|f| rect(&f))
        .collect();
    *lists.first().expect("a sliding list of answers")
}

/// The answer button labelled `label`, where it is now, if on screen.
fn answer_at(k: &Kiosk, label: &str) -> Option<Rect> {
    use i_slint_backend_testing::{AccessibleRole, ElementQuery};
    let label = label.to_string();
    ElementQuery::from_root(&k.window)
        .match_descendants()
        .match_accessible_role(AccessibleRole::Button)
        .match_predicate(move |e| e.accessible_label().as_deref() == Some(label.as_str()))
        .find_first()
        .map(|e| rect(&e))
}

/// Where the ring is drawn.
fn ring_at(k: &Kiosk) -> Rect {
    let r = k.window.global::<KeypadAdapter>();
    (
        r.get_ring_x(),
        r.get_ring_y(),
        r.get_ring_width(),
        r.get_ring_height(),
    )
}

/// After a move onto the answer `label`: the ring is on it, it is wholly
/// in the list's view, the ring is drawn around it where it now is, and
/// every answer the ring can reach lies within the list, under no other
/// control.
fn ring_on_answer(k: &Kiosk, list: Rect, label: &str, step: &str) {
    assert_eq!(focused(k).as_deref(), Some(label), "{step}");
    let at = answer_at(k, label).unwrap_or_else(|| panic!("{step}: {label:?} not on screen"));
    assert!(
        inside(at, list),
        "{step}: {label:?} at {at:?}, list {list:?}"
    );
    assert_eq!(ring_at(k), at, "{step}: the ring is drawn on {label:?}");
    for c in k.ui.focus_order() {
        if HEARD_OF_US.iter().any(|(en, _)| *en == c.label) {
            let r = (c.x, c.y, c.width, c.height);
            assert!(
                inside(r, list),
                "{step}: {:?} at {r:?} lies outside the list",
                c.label
            );
        }
    }
}

#[test]
fn the_ring_walks_a_sliding_list_of_answers_and_enter_chooses_the_last() {
    let k = kiosk_with_a_long_choice_due();
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(1024, 768));
    // The theme follows the window's size in a change handler.
    i_slint_backend_testing::mock_elapsed_time(Duration::ZERO);
    activate(&k, "Larger text");
    assert!(k.ui.larger_text());
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    activate(&k, EN.correct);
    activate(&k, EN.still);
    activate(&k, EN.desk);
    assert_eq!(k.screen(), Screen::Form, "{}", k.all_text());
    i_slint_backend_testing::mock_elapsed_time(Duration::ZERO);
    let labels: Vec<&str> = HEARD_OF_US.iter().map(|(en, _)| *en).collect();
    let (first, last) = (labels[0], labels[labels.len() - 1]);
    let list = answer_list(&k);
    assert!(answer_at(&k, first).is_some_and(|r| inside(r, list)));
    assert!(
        !answer_at(&k, last).is_some_and(|r| inside(r, list)),
        "twelve answers do not all fit 1024x768 with larger text"
    );
    let bar = || [answer_at(&k, "Back"), answer_at(&k, "Next")];
    let bar_before = bar();
    assert!(bar_before.iter().all(Option::is_some), "Back and Next show");

    // Right: every answer in order, each wholly in view in the ring.
    let mut presses = 0;
    while focused(&k).as_deref() != Some(first) {
        press(&k, Key::RightArrow);
        presses += 1;
        assert!(
            presses < 10 && focused(&k).as_deref() != Some("Back"),
            "Right reaches the first answer before Back: {:?}",
            order(&k)
        );
    }
    ring_on_answer(&k, list, first, "the first answer");
    for label in &labels[1..] {
        press(&k, Key::RightArrow);
        ring_on_answer(&k, list, label, "Right");
    }
    assert_eq!(bar(), bar_before, "only the list slid: Back and Next stay");
    // Past the last answer the ring leaves the list for the action bar.
    press(&k, Key::RightArrow);
    assert_eq!(focused(&k).as_deref(), Some("Back"));
    press(&k, Key::LeftArrow);
    ring_on_answer(&k, list, last, "Left from Back");

    // Left: back through them all, the list sliding up.
    for label in labels[..labels.len() - 1].iter().rev() {
        press(&k, Key::LeftArrow);
        ring_on_answer(&k, list, label, "Left");
    }
    // Down and Up: a row of two answers at a time, in view or not.
    for label in labels.iter().step_by(2).skip(1) {
        press(&k, Key::DownArrow);
        ring_on_answer(&k, list, label, "Down");
    }
    press(&k, Key::RightArrow);
    ring_on_answer(&k, list, last, "Right to the last");
    for label in labels.iter().skip(1).step_by(2).rev().skip(1) {
        press(&k, Key::UpArrow);
        ring_on_answer(&k, list, label, "Up");
    }
    for label in labels.iter().skip(1).step_by(2).skip(1) {
        press(&k, Key::DownArrow);
        ring_on_answer(&k, list, label, "Down again");
    }
    assert_eq!(bar(), bar_before, "Back and Next never moved");

    // Enter chooses the answer in the ring: the last.
    assert_eq!(k.ui.view().form.selected, None);
    press(&k, Key::Return);
    assert_eq!(k.ui.view().form.selected, Some(labels.len() - 1));
    ring_on_answer(&k, list, last, "chosen");
    activate(&k, EN.next);
    assert_ne!(
        k.ui.view().form.kind,
        checkin_kiosk::kiosk::view::FormItemKind::Choice
    );
}

/// What `said` plays through a loudspeaker.
fn aloud(said: &[Utterance]) -> Vec<String> {
    said.iter()
        .filter(|u| Route::Loudspeaker.allows(u.audience))
        .map(|u| u.text.clone())
        .collect()
}

/// Activates the on-screen key of each of `keys` in turn; everything said
/// meanwhile.
fn said_at_keys(k: &Kiosk, t: &Transcript, keys: &str) -> Vec<Utterance> {
    let mut said = Vec::new();
    for key in keys.chars() {
        activate(k, &key.to_string());
        said.extend(t.take());
    }
    said
}

#[test]
fn a_loudspeaker_says_no_key_but_once_a_page_how_to_hear_them() {
    for language in [Language::En, Language::Es] {
        let (k, t) = spoken_kiosk();
        let l = if language == Language::Es {
            activate(&k, "Español");
            &ES
        } else {
            &EN
        };
        let hint = script::keys_are_private(language);
        activate(&k, l.use_dob);
        t.take();
        let said = said_at_keys(&k, &t, "0517");
        let loud = aloud(&said);
        assert_eq!(
            loud.iter().filter(|u| **u == hint.text).count(),
            1,
            "{language:?}: once on the date's page, not at every key: {loud:?}"
        );
        for digit in ["0", "5", "1", "7", "cero", "cinco", "uno", "siete"] {
            assert!(
                !loud
                    .iter()
                    .any(|u| u.split(|c: char| !c.is_alphanumeric()).any(|w| w == digit)),
                "{language:?}: {digit:?} said aloud: {loud:?}"
            );
        }
        // Headphones hear every key, and no hint.
        let private: Vec<&Utterance> = said
            .iter()
            .filter(|u| Route::Private.allows(u.audience))
            .collect();
        let key = if language == Language::Es {
            "tecla"
        } else {
            "key"
        };
        assert!(
            private.iter().any(|u| u.text == format!("7, {key}.")),
            "{language:?}: {private:?}"
        );
        assert!(private.iter().all(|u| u.text != hint.text));
        // The next page says it once again.
        type_keys(&k, "1980");
        activate(&k, l.next);
        assert_eq!(k.screen(), Screen::EnterName);
        t.take();
        let loud = aloud(&said_at_keys(&k, &t, "GA"));
        assert_eq!(
            loud.iter().filter(|u| **u == hint.text).count(),
            1,
            "{language:?}: once on the name's page: {loud:?}"
        );
    }
}

#[test]
fn a_loudspeaker_says_the_answers_but_not_which_is_chosen() {
    let k = kiosk_with_a_long_choice_due();
    let t = Transcript::default();
    k.ui.set_speech(SpeechOutput {
        voice: Box::new(t.clone()),
        script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
        always_speak: false,
        default_volume: Volume::DEFAULT,
    });
    press(&k, Key::DownArrow);
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    activate(&k, EN.correct);
    activate(&k, EN.still);
    activate(&k, EN.desk);
    assert_eq!(k.screen(), Screen::Form);
    let (first, second) = (HEARD_OF_US[0].0, HEARD_OF_US[1].0);
    activate(&k, first);
    assert_eq!(k.ui.view().form.selected, Some(0));
    t.take();
    press(&k, Key::RightArrow);
    let other = t.take();
    press(&k, Key::LeftArrow);
    let chosen = t.take();
    assert_eq!(aloud(&other), [format!("{second}, button.")]);
    assert_eq!(
        aloud(&chosen),
        [format!("{first}, button.")],
        "the chosen answer sounds like any other through a loudspeaker"
    );
    let private: Vec<&str> = chosen
        .iter()
        .filter(|u| u.audience == Audience::PrivateListening)
        .map(|u| u.text.as_str())
        .collect();
    assert_eq!(private, ["Selected."], "headphones hear it is chosen");
}
