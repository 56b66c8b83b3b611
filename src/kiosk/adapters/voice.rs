//! Speech mode: when it starts and ends, what the keypad's repeat and
//! volume keys do, and handing what the script says to the voice. The
//! words come from a [`Script`] built on the view model; the sound from a
//! [`Voice`], the speaker thread on a kiosk, so the UI thread never waits
//! on synthesis.

use crate::domain::Language;
use crate::kiosk::keypad::Control;
use crate::kiosk::speech::{Audience, Route, Speaker, Utterance, Volume};
use crate::kiosk::view::{Screen, ViewModel};

/// Where utterances go. Every method returns at once.
pub trait Voice {
    /// Says `utterances` in turn, cutting off whatever is playing.
    fn say_all(&self, utterances: Vec<Utterance>);
    /// Stops the current utterance.
    fn interrupt(&self);
    /// Sets the patient's volume.
    fn set_volume(&self, volume: Volume);
    /// Sets where audio goes, and so whether patient data may be spoken.
    fn set_route(&self, route: Route) {
        let _ = route;
    }
}

impl Voice for Speaker {
    fn say_all(&self, utterances: Vec<Utterance>) {
        Speaker::say_all(self, utterances);
    }

    fn interrupt(&self) {
        Speaker::interrupt(self);
    }

    fn set_volume(&self, volume: Volume) {
        Speaker::set_volume(self, volume);
    }

    fn set_route(&self, route: Route) {
        Speaker::set_route(self, route);
    }
}

/// What is said, built from the view model: the screen and its changes,
/// the control in the focus ring, the idle warning.
pub trait Script {
    /// What changed between two renders: a new screen, a digit typed, an
    /// error that appeared.
    fn view_changes(&self, prev: Option<&ViewModel>, next: &ViewModel) -> Vec<Utterance>;
    /// Everything on the screen, as when speech mode starts.
    fn whole_screen(&self, view: &ViewModel) -> Vec<Utterance>;
    /// The control in the focus ring, with its role and state: one
    /// utterance per audience.
    fn focused(&self, control: &Control, language: Language) -> Vec<Utterance>;
    /// "Are you still there?" with the seconds left.
    fn idle_warning(&self, seconds_left: u32, language: Language) -> Utterance;
    /// How the keypad works, said when speech mode starts.
    fn speech_mode_started(&self, language: Language) -> Utterance;
    /// Whether the kiosk reaches the clinic server: offline, the script
    /// asks the patient to tell the desk instead of saying the desk knows.
    fn set_online(&mut self, _online: bool) {}
}

/// Speech output for the kiosk: the voice, the script, and the settings.
pub struct SpeechOutput {
    /// Where utterances go.
    pub voice: Box<dyn Voice>,
    /// What is said.
    pub script: Box<dyn Script>,
    /// Speak every session from its start (kiosks with a handset).
    pub always_speak: bool,
    /// The volume every session starts at.
    pub default_volume: Volume,
}

/// Speech mode's state for the session.
#[derive(Default)]
pub(super) struct SpeechState {
    /// `None` on a kiosk without speech output.
    out: Option<SpeechOutput>,
    /// Whether speech mode is on.
    on: bool,
    /// The patient's volume.
    volume: Volume,
    /// What was said last, said again at a new volume.
    last: Vec<Utterance>,
    /// The words for a loudspeaker only already said on this page: each
    /// is said once a page, not at every key.
    hints: Vec<String>,
    /// The page `hints` belong to.
    page: Option<Page>,
}

/// One page of the journey, for saying a hint once a page: the screen, and
/// on the form screen the page of the form.
#[derive(Debug, Clone, PartialEq)]
struct Page {
    screen: Screen,
    language: Language,
    /// The form, the page, and whether its keyboard shows (a consent
    /// signed by typing).
    form: Option<(String, u32, bool)>,
}

impl Page {
    fn of(view: &ViewModel) -> Self {
        Self {
            screen: view.screen,
            language: view.language,
            form: (view.screen == Screen::Form).then(|| {
                (
                    view.form.form_title.clone(),
                    view.form.position,
                    view.form.typing_name,
                )
            }),
        }
    }
}

impl SpeechState {
    /// Speech with `out`; on at once when it always speaks.
    pub(super) fn new(out: SpeechOutput, view: &ViewModel) -> Self {
        let mut state = Self {
            volume: out.default_volume,
            out: Some(out),
            ..Self::default()
        };
        state.start_session(view, true);
        state
    }

    /// Whether the kiosk reaches the clinic server, for the script.
    pub(super) fn set_online(&mut self, online: bool) {
        if let Some(out) = self.out.as_mut() {
            out.script.set_online(online);
        }
    }

    /// Whether speech mode is on.
    pub(super) fn is_on(&self) -> bool {
        self.on
    }

    /// The patient's volume now.
    pub(super) fn volume(&self) -> Volume {
        self.volume
    }

    fn say(&mut self, utterances: Vec<Utterance>) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        if utterances.is_empty() {
            return;
        }
        self.last = utterances.clone();
        out.voice.say_all(utterances);
    }

    /// A keypad key was pressed. The first one starts speech mode and does
    /// nothing else (returns true: the key is used up); later ones cut off
    /// what is being said.
    pub(super) fn key(&mut self, view: &ViewModel) -> bool {
        let Some(out) = self.out.as_ref() else {
            return false;
        };
        if self.on {
            out.voice.interrupt();
            return false;
        }
        self.on = true;
        let mut words = vec![out.script.speech_mode_started(view.language)];
        words.extend(out.script.whole_screen(view));
        self.say(words);
        true
    }

    /// Headphones were plugged in (`true`) or out: private listening or
    /// the loudspeaker. Plugging them in starts speech mode, as a keypad
    /// key does.
    pub(super) fn headphones(&mut self, plugged: bool, view: &ViewModel) {
        let Some(out) = self.out.as_ref() else {
            return;
        };
        out.voice.set_route(if plugged {
            Route::Private
        } else {
            Route::Loudspeaker
        });
        // The new route has heard none of the loudspeaker's hints.
        self.hints.clear();
        if plugged && !self.on {
            self.key(view);
        }
    }

    /// The view model was rendered: says what changed.
    pub(super) fn rendered(&mut self, prev: Option<&ViewModel>, next: &ViewModel) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        let words = out.script.view_changes(prev, next);
        self.say(words);
    }

    /// The focus ring moved onto `control` on the page of `view`. Words
    /// for a loudspeaker only are said once a page.
    pub(super) fn focused(&mut self, control: &Control, view: &ViewModel) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        let mut words = out.script.focused(control, view.language);
        let page = Page::of(view);
        if self.page.as_ref() != Some(&page) {
            self.page = Some(page);
            self.hints.clear();
        }
        words.retain(|u| {
            if u.audience != Audience::LoudspeakerOnly {
                return true;
            }
            if self.hints.contains(&u.text) {
                return false;
            }
            self.hints.push(u.text.clone());
            true
        });
        self.say(words);
    }

    /// The idle warning appeared, `seconds_left` before the reset.
    pub(super) fn idle_warning(&mut self, seconds_left: u32, language: Language) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        let words = vec![out.script.idle_warning(seconds_left, language)];
        self.say(words);
    }

    /// The repeat key: says the screen again.
    pub(super) fn repeat(&mut self, view: &ViewModel) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        let words = out.script.whole_screen(view);
        self.say(words);
    }

    /// Says the last thing again.
    fn say_again(&mut self) {
        let last = std::mem::take(&mut self.last);
        self.say(last);
    }

    /// A volume key: one step louder or softer, then the last thing again
    /// at the new level.
    pub(super) fn change_volume(&mut self, louder: bool) {
        let Some(out) = self.out.as_ref().filter(|_| self.on) else {
            return;
        };
        self.volume = if louder {
            self.volume.up()
        } else {
            self.volume.down()
        };
        out.voice.set_volume(self.volume);
        self.say_again();
    }

    /// The session ended: speech stops, the volume returns to the
    /// default, and speech mode ends unless the kiosk always speaks.
    pub(super) fn end_session(&mut self, view: &ViewModel) {
        let Some(out) = self.out.as_ref() else {
            return;
        };
        out.voice.interrupt();
        self.on = false;
        self.last.clear();
        self.hints.clear();
        self.page = None;
        // The render that follows says the new screen.
        self.start_session(view, false);
    }

    /// A session starts: the default volume, and speech mode when the
    /// kiosk always speaks; `speak` says the whole screen then.
    fn start_session(&mut self, view: &ViewModel, speak: bool) {
        let Some(out) = self.out.as_ref() else {
            return;
        };
        self.volume = out.default_volume;
        out.voice.set_volume(self.volume);
        if out.always_speak {
            self.on = true;
            if speak {
                let words = out.script.whole_screen(view);
                self.say(words);
            }
        }
    }
}
