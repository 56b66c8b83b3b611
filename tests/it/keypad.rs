//! The tactile keypad drives the real Slint UI under the testing backend:
//! the focus ring's order and drawing, whole journeys by keypad alone in
//! English and Spanish, and scanner bursts that keep working while keypad
//! keys are pressed.

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
        ["Español", "I need help", "Use my date of birth"],
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
    assert_eq!(focused(&k).as_deref(), Some("Español"), "Right wraps");
    press(&k, Key::LeftArrow);
    assert_eq!(focused(&k).as_deref(), Some("Use my date of birth"));
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

    fn focused(&self, control: &Control, language: Language) -> Utterance {
        Utterance::prompt(
            format!("focus {} {:?}", control.label, control.kind),
            language,
        )
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

fn spoken_dob_path(language: Language) {
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
    let es = language == Language::Es;
    if es {
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
    activate(&k, l.correct);
    heard(&t, language, None, "insurance");
    activate(&k, l.still);
    heard(&t, language, None, "co-pay");
    activate(&k, l.desk);
    assert_eq!(k.screen(), Screen::Done);
    heard(&t, language, None, "done");
}

#[test]
fn the_spoken_dob_path_by_keypad_in_english_and_spanish() {
    spoken_dob_path(Language::En);
    spoken_dob_path(Language::Es);
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
