//! The kiosk's `[keypad]` and `[speech]` tables: which keys of a tactile
//! keypad mean what, and how speech output behaves, as written and checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::check::Checker;

/// A non-printing key a tactile keypad can send. Printing keys are never
/// keypad keys: the scanner types passes with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyName {
    /// The up arrow.
    Up,
    /// The down arrow.
    Down,
    /// The left arrow.
    Left,
    /// The right arrow.
    Right,
    /// Return (Enter).
    Return,
    /// Escape.
    Escape,
    /// Backspace.
    Backspace,
    /// Tab.
    Tab,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Insert.
    Insert,
    /// Delete (forward delete).
    Delete,
    /// A function key, F1 to F12.
    F(u8),
}

/// Every key name the config accepts, as written in the file.
pub const KEY_NAMES: &[(&str, KeyName)] = &[
    ("up", KeyName::Up),
    ("down", KeyName::Down),
    ("left", KeyName::Left),
    ("right", KeyName::Right),
    ("return", KeyName::Return),
    ("escape", KeyName::Escape),
    ("backspace", KeyName::Backspace),
    ("tab", KeyName::Tab),
    ("home", KeyName::Home),
    ("end", KeyName::End),
    ("page_up", KeyName::PageUp),
    ("page_down", KeyName::PageDown),
    ("insert", KeyName::Insert),
    ("delete", KeyName::Delete),
    ("f1", KeyName::F(1)),
    ("f2", KeyName::F(2)),
    ("f3", KeyName::F(3)),
    ("f4", KeyName::F(4)),
    ("f5", KeyName::F(5)),
    ("f6", KeyName::F(6)),
    ("f7", KeyName::F(7)),
    ("f8", KeyName::F(8)),
    ("f9", KeyName::F(9)),
    ("f10", KeyName::F(10)),
    ("f11", KeyName::F(11)),
    ("f12", KeyName::F(12)),
];

impl KeyName {
    /// The name used in the config file, such as `"page_up"`.
    pub fn as_str(self) -> &'static str {
        KEY_NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(name, _)| name)
    }
}

/// What a keypad key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeypadAction {
    /// Moves the focus ring up a row.
    Up,
    /// Moves the focus ring down a row.
    Down,
    /// Moves the focus ring to the previous control.
    Left,
    /// Moves the focus ring to the next control.
    Right,
    /// Activates the control in the focus ring.
    Enter,
    /// Goes back, as the screen's Back button does.
    Back,
    /// Asks for help.
    Help,
    /// Says the last utterance again.
    Repeat,
    /// Speaks louder by one step.
    VolumeUp,
    /// Speaks softer by one step.
    VolumeDown,
}

/// The `[keypad]` table: the key each action is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeypadSettings {
    /// Each action with its key; every key appears at most once.
    pub keys: Vec<(KeypadAction, KeyName)>,
}

impl Default for KeypadSettings {
    /// The layout of an unconfigured kiosk; see `config/kiosk.toml`.
    fn default() -> Self {
        let mut checker = Checker::new(None, std::path::PathBuf::new());
        RawKeypad::default().check(&mut checker)
    }
}

impl KeypadSettings {
    /// The action on `key`, if any.
    pub fn action(&self, key: KeyName) -> Option<KeypadAction> {
        self.keys.iter().find(|(_, k)| *k == key).map(|(a, _)| *a)
    }

    /// The key `action` is on.
    pub fn key(&self, action: KeypadAction) -> Option<KeyName> {
        self.keys
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, k)| *k)
    }
}

/// Where speech goes, and so whether patient data may be spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListeningRoute {
    /// Private listening while the sound card's headphone jack reports a
    /// plug, the loudspeaker otherwise (and when the card has no jack
    /// control).
    Detect,
    /// Always private: a kiosk with a handset and no loudspeaker.
    Private,
    /// Always the loudspeaker: patient data is never spoken.
    Loudspeaker,
}

/// The `[speech]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechSettings {
    /// Speak every session from its first screen, without waiting for a
    /// keypad key (kiosks with a handset).
    pub always_speak: bool,
    /// The volume each session starts at, in dB below full scale (-30 to 0).
    pub default_volume_db: i8,
    /// Idle time before the spoken warning, in speech mode.
    pub idle_warning: Duration,
    /// Idle time before the reset, in speech mode; always longer than
    /// `idle_warning`, and never shorter than `[flow]`'s reset.
    pub idle_reset: Duration,
    /// Where speech is played: an ALSA device, or no sound card at all.
    pub device: SpeechDevice,
    /// Where speech goes: detected from the headphone jack, or fixed.
    pub route: ListeningRoute,
    /// The ALSA mixer control that reports the headphone jack.
    pub jack_control: String,
}

/// Where speech is played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechDevice {
    /// An ALSA PCM device, such as `"default"` or `"plughw:0,0"`.
    Alsa(String),
    /// `"null"`: no sound card. The audio is thrown away, at the pace a
    /// sound card would play it, so the kiosk runs as it would with one
    /// (for benchmarks and machines without audio).
    Null,
    /// `"wav:DIR"`: each utterance is written to a numbered WAV file in
    /// DIR (created if missing), at the pace a sound card would play it.
    Wav(PathBuf),
}

impl SpeechDevice {
    /// The ALSA device name, if speech goes to a sound card.
    pub fn alsa(&self) -> Option<&str> {
        match self {
            SpeechDevice::Alsa(name) => Some(name),
            SpeechDevice::Null | SpeechDevice::Wav(_) => None,
        }
    }
}

impl std::fmt::Display for SpeechDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpeechDevice::Alsa(name) => write!(f, "ALSA device \"{name}\""),
            SpeechDevice::Null => f.write_str("no sound card (null)"),
            SpeechDevice::Wav(dir) => write!(f, "WAV files in {}", dir.display()),
        }
    }
}

const ROUTES: &[(&str, ListeningRoute)] = &[
    ("detect", ListeningRoute::Detect),
    ("private", ListeningRoute::Private),
    ("loudspeaker", ListeningRoute::Loudspeaker),
];

/// The longest ALSA device or control name accepted.
const MAX_DEVICE_CHARS: usize = 64;

/// The longest `wav:` directory accepted, in characters.
const MAX_WAV_DIR_CHARS: usize = 255;

/// `[keypad]` as written: one key name per action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawKeypad {
    up: String,
    down: String,
    left: String,
    right: String,
    enter: String,
    back: String,
    help: String,
    repeat: String,
    volume_up: String,
    volume_down: String,
}

impl Default for RawKeypad {
    /// An EZ-Access-style layout: the arrows, Return to activate, Escape
    /// to go back, F1 help, F2 repeat, F3 softer, F4 louder.
    fn default() -> Self {
        Self {
            up: "up".into(),
            down: "down".into(),
            left: "left".into(),
            right: "right".into(),
            enter: "return".into(),
            back: "escape".into(),
            help: "f1".into(),
            repeat: "f2".into(),
            volume_down: "f3".into(),
            volume_up: "f4".into(),
        }
    }
}

impl RawKeypad {
    /// Checks every key name, and that no key does two things.
    pub(super) fn check(self, c: &mut Checker<'_>) -> KeypadSettings {
        let written = [
            ("up", KeypadAction::Up, self.up),
            ("down", KeypadAction::Down, self.down),
            ("left", KeypadAction::Left, self.left),
            ("right", KeypadAction::Right, self.right),
            ("enter", KeypadAction::Enter, self.enter),
            ("back", KeypadAction::Back, self.back),
            ("help", KeypadAction::Help, self.help),
            ("repeat", KeypadAction::Repeat, self.repeat),
            ("volume_up", KeypadAction::VolumeUp, self.volume_up),
            ("volume_down", KeypadAction::VolumeDown, self.volume_down),
        ];
        let mut keys: Vec<(KeypadAction, KeyName)> = Vec::new();
        let mut seen: Vec<(&str, KeyName)> = Vec::new();
        for (field, action, name) in written {
            let key = format!("keypad.{field}");
            let before = c.problem_count();
            let value = c.choice(&key, &name.to_ascii_lowercase(), KEY_NAMES, KeyName::Up);
            if c.problem_count() != before {
                continue;
            }
            if let Some((other, _)) = seen.iter().find(|(_, k)| *k == value) {
                c.problem(
                    &key,
                    format!(
                        "the key \"{}\" is already `keypad.{other}`; each key does one thing",
                        value.as_str()
                    ),
                );
                continue;
            }
            seen.push((field, value));
            keys.push((action, value));
        }
        KeypadSettings { keys }
    }
}

/// `[speech]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSpeech {
    always_speak: bool,
    default_volume_db: i64,
    idle_warning_secs: i64,
    idle_reset_secs: i64,
    device: String,
    route: String,
    jack_control: String,
}

impl Default for RawSpeech {
    fn default() -> Self {
        Self {
            always_speak: false,
            default_volume_db: -9,
            idle_warning_secs: 90,
            idle_reset_secs: 120,
            device: "default".into(),
            route: "detect".into(),
            jack_control: "Headphone Jack".into(),
        }
    }
}

impl RawSpeech {
    /// Checks the table; `flow_reset` is `[flow]`'s idle reset, which speech
    /// mode never shortens.
    pub(super) fn check(self, c: &mut Checker<'_>, flow_reset: Duration) -> SpeechSettings {
        let idle_warning = c.secs("speech.idle_warning_secs", self.idle_warning_secs, 5..=1800);
        let idle_reset = c.secs("speech.idle_reset_secs", self.idle_reset_secs, 10..=3600);
        if self.idle_reset_secs <= self.idle_warning_secs {
            c.problem(
                "speech.idle_reset_secs",
                format!(
                    "expected more seconds than `speech.idle_warning_secs` ({}), so the warning is spoken before the reset; found {}",
                    self.idle_warning_secs, self.idle_reset_secs
                ),
            );
        }
        // Never sooner than the ordinary reset: a patient listening needs
        // more time, not less, so a longer `flow.idle_reset_secs` wins.
        let idle_reset = idle_reset.max(flow_reset);
        SpeechSettings {
            always_speak: self.always_speak,
            default_volume_db: c.whole(
                "speech.default_volume_db",
                self.default_volume_db,
                -30..=0,
                "dB",
            ),
            idle_warning,
            idle_reset,
            device: speech_device(c, &self.device),
            route: c.choice("speech.route", &self.route, ROUTES, ListeningRoute::Detect),
            jack_control: device_name(c, "speech.jack_control", &self.jack_control),
        }
    }
}

/// `speech.device`: `"null"`, `"wav:DIR"` (relative to the config file's
/// directory), or an ALSA device name.
fn speech_device(c: &mut Checker<'_>, value: &str) -> SpeechDevice {
    const KEY: &str = "speech.device";
    let value = value.trim();
    if value == "null" {
        return SpeechDevice::Null;
    }
    let Some(dir) = value.strip_prefix("wav:") else {
        return SpeechDevice::Alsa(device_name(c, KEY, value));
    };
    let dir = dir.trim();
    let before = c.problem_count();
    if dir.is_empty() {
        c.problem(
            KEY,
            "expected a directory after \"wav:\", such as \"wav:/var/tmp/kiosk-speech\"",
        );
    } else if dir.chars().count() > MAX_WAV_DIR_CHARS {
        c.problem(
            KEY,
            format!(
                "expected a directory of at most {MAX_WAV_DIR_CHARS} characters after \"wav:\""
            ),
        );
    } else if dir.chars().any(char::is_control) {
        c.problem(
            KEY,
            "expected a directory after \"wav:\" without control characters",
        );
    }
    if c.problem_count() != before {
        return SpeechDevice::Wav(PathBuf::from(dir));
    }
    SpeechDevice::Wav(c.path(KEY, Path::new(dir)))
}

/// An ALSA device or mixer control name: letters, digits, spaces and
/// `: , = _ . -`, at most [`MAX_DEVICE_CHARS`] characters.
fn device_name(c: &mut Checker<'_>, key: &str, value: &str) -> String {
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || " :,=_.-".contains(ch);
    if value.trim().is_empty() {
        c.problem(
            key,
            "expected a name such as \"default\", found an empty string",
        );
    } else if value.chars().count() > MAX_DEVICE_CHARS {
        c.problem(
            key,
            format!("expected at most {MAX_DEVICE_CHARS} characters"),
        );
    } else if !value.chars().all(allowed) {
        c.problem(
            key,
            "expected letters, digits, spaces and `: , = _ . -` only, as ALSA names are",
        );
    }
    value.trim().to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn keypad(raw: RawKeypad) -> (KeypadSettings, Vec<String>) {
        let mut c = Checker::new(None, PathBuf::new());
        let settings = raw.check(&mut c);
        let problems = c.into_problems().iter().map(|p| p.to_string()).collect();
        (settings, problems)
    }

    #[test]
    fn the_default_keypad_maps_every_action_to_its_own_key() {
        let (k, problems) = keypad(RawKeypad::default());
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(k.keys.len(), 10);
        assert_eq!(k.action(KeyName::Return), Some(KeypadAction::Enter));
        assert_eq!(k.action(KeyName::Escape), Some(KeypadAction::Back));
        assert_eq!(k.action(KeyName::F(1)), Some(KeypadAction::Help));
        assert_eq!(k.key(KeypadAction::VolumeUp), Some(KeyName::F(4)));
        assert_eq!(k.action(KeyName::F(9)), None);
    }

    #[test]
    fn a_bad_key_name_is_named_with_its_key_and_a_suggestion() {
        let (k, problems) = keypad(RawKeypad {
            help: "f13".into(),
            back: "escap".into(),
            ..RawKeypad::default()
        });
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("keypad.back"), "{problems:?}");
        assert!(
            problems[0].contains("did you mean \"escape\""),
            "{problems:?}"
        );
        assert!(problems[1].contains("keypad.help"), "{problems:?}");
        assert!(problems[1].contains("\"f13\""), "{problems:?}");
        assert_eq!(k.key(KeypadAction::Help), None);
    }

    #[test]
    fn a_printing_key_is_not_a_keypad_key() {
        let (_, problems) = keypad(RawKeypad {
            enter: "a".into(),
            ..RawKeypad::default()
        });
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("keypad.enter"), "{problems:?}");
    }

    #[test]
    fn one_key_for_two_actions_is_refused() {
        let (k, problems) = keypad(RawKeypad {
            repeat: "F1".into(),
            ..RawKeypad::default()
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("keypad.repeat"), "{problems:?}");
        assert!(
            problems[0].contains("already `keypad.help`"),
            "{problems:?}"
        );
        assert_eq!(k.action(KeyName::F(1)), Some(KeypadAction::Help));
    }

    #[test]
    fn key_names_round_trip() {
        for (name, key) in KEY_NAMES {
            assert_eq!(key.as_str(), *name);
        }
    }

    fn speech(raw: RawSpeech) -> (SpeechSettings, Vec<String>) {
        let mut c = Checker::new(None, PathBuf::new());
        let settings = raw.check(&mut c, Duration::from_secs(60));
        let problems = c.into_problems().iter().map(|p| p.to_string()).collect();
        (settings, problems)
    }

    #[test]
    fn speech_defaults_are_valid_and_slower_than_the_flow() {
        let (s, problems) = speech(RawSpeech::default());
        assert_eq!(problems, Vec::<String>::new());
        assert!(!s.always_speak);
        assert_eq!(s.default_volume_db, -9);
        assert_eq!(s.idle_reset, Duration::from_secs(120));
        assert_eq!(s.route, ListeningRoute::Detect);
    }

    #[test]
    fn speech_values_out_of_range_are_each_named() {
        let (_, problems) = speech(RawSpeech {
            default_volume_db: 5,
            idle_warning_secs: 50,
            idle_reset_secs: 40,
            device: "hw:0;rm -rf".into(),
            route: "headset".into(),
            ..RawSpeech::default()
        });
        let joined = problems.join("\n");
        for key in [
            "speech.default_volume_db",
            "speech.idle_reset_secs",
            "speech.device",
            "speech.route",
        ] {
            assert!(joined.contains(key), "{key} missing from {joined}");
        }
    }

    #[test]
    fn speech_can_go_to_a_sound_card_nowhere_or_wav_files() {
        let device = |written: &str| {
            speech(RawSpeech {
                device: written.into(),
                ..RawSpeech::default()
            })
        };
        let (s, problems) = device("plughw:0,0");
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(s.device, SpeechDevice::Alsa("plughw:0,0".into()));
        assert_eq!(s.device.alsa(), Some("plughw:0,0"));
        let (s, problems) = device("null");
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(s.device, SpeechDevice::Null);
        assert_eq!(s.device.alsa(), None);
        let (s, problems) = device("wav:/var/tmp/speech");
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(s.device, SpeechDevice::Wav("/var/tmp/speech".into()));
        assert_eq!(s.device.alsa(), None);
    }

    #[test]
    fn a_relative_wav_directory_is_resolved_against_the_config_file() {
        let mut c = Checker::new(None, PathBuf::from("/etc/checkin-kiosk"));
        let raw = RawSpeech {
            device: "wav:speech-out".into(),
            ..RawSpeech::default()
        };
        let s = raw.check(&mut c, Duration::from_secs(60));
        assert!(c.into_problems().is_empty());
        assert_eq!(
            s.device,
            SpeechDevice::Wav("/etc/checkin-kiosk/speech-out".into())
        );
    }

    #[test]
    fn a_bad_speech_device_is_named_with_what_was_expected() {
        for (written, expected) in [
            ("wav:", "expected a directory after \"wav:\""),
            ("wav:   ", "expected a directory after \"wav:\""),
            ("wav:/tmp/a\u{7}b", "without control characters"),
            ("nul l;", "as ALSA names are"),
            ("", "found an empty string"),
        ] {
            let (_, problems) = speech(RawSpeech {
                device: written.into(),
                ..RawSpeech::default()
            });
            assert_eq!(problems.len(), 1, "{written:?}: {problems:?}");
            assert!(problems[0].contains("speech.device"), "{problems:?}");
            assert!(problems[0].contains(expected), "{written:?}: {problems:?}");
        }
        let long = format!("wav:/{}", "d".repeat(300));
        let (_, problems) = speech(RawSpeech {
            device: long,
            ..RawSpeech::default()
        });
        assert!(
            problems[0].contains("at most 255 characters"),
            "{problems:?}"
        );
    }

    #[test]
    fn speech_mode_never_resets_sooner_than_the_flow() {
        let (s, problems) = speech(RawSpeech {
            idle_warning_secs: 20,
            idle_reset_secs: 30,
            ..RawSpeech::default()
        });
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(s.idle_warning, Duration::from_secs(20));
        assert_eq!(s.idle_reset, Duration::from_secs(60));
    }
}
