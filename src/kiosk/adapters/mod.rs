//! Connects the Slint adapter globals to the `CheckInController`. Each
//! adapter has a `connect` (its callbacks become `UiAction`s) and a render
//! of its own part of the view model, in the module of its screens; this
//! module keeps the last view model rendered, so a render sets only the
//! parts that changed, and runs the idle, Done and scanner timers on
//! Slint's clock. The once-a-second tick touches only the clock-driven
//! parts.

mod forms;
mod identify;
mod keypad;
mod payment;
mod questionnaire;
mod shell;
mod spoken;
mod voice;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use slint::ComponentHandle;
use uuid::Uuid;

use self::keypad::KeypadState;
use super::controller::{CheckInController, CheckInRepository, UiAction};
use super::keypad::{Control, FocusRing, KeyRoute};
use super::ui::{AppWindow, KioskAdapter, Theme, WelcomeAdapter};
use super::view::ViewModel;
use crate::config::{KeypadAction, KeypadSettings};
use crate::domain::Step;

pub use payment::render_qr;
pub use questionnaire::{SignaturePad, connect as connect_form, show as show_form};
pub use spoken::{SpokenScript, focused_control};
pub use voice::{Script, SpeechOutput, Voice};

use self::voice::SpeechState;

/// The kiosk's timings, from config.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Idle time before the warning.
    pub idle_warning: Duration,
    /// Idle time before the reset.
    pub idle_reset: Duration,
    /// Idle time before the reset while help has been asked for: the
    /// patient was told to wait.
    pub help_reset: Duration,
    /// Time on Done before returning to Welcome.
    pub done_return: Duration,
    /// The longest pause inside a scanner burst.
    pub scanner_gap: Duration,
    /// Idle time before the spoken warning, in speech mode.
    pub speech_idle_warning: Duration,
    /// Idle time before the reset, in speech mode.
    pub speech_idle_reset: Duration,
    /// Time on Done before returning to Welcome, in speech mode: long
    /// enough to hear the result, what happens next and how the screen
    /// ends (about 50 words at most, some 20 s at 160 words a minute)
    /// before the screen starts over.
    pub speech_done_return: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            idle_warning: Duration::from_secs(45),
            idle_reset: Duration::from_secs(60),
            help_reset: Duration::from_secs(300),
            done_return: Duration::from_secs(10),
            scanner_gap: Duration::from_millis(300),
            speech_idle_warning: Duration::from_secs(90),
            speech_idle_reset: Duration::from_secs(120),
            speech_done_return: Duration::from_secs(30),
        }
    }
}

impl Timings {
    /// The idle times (warning, reset) in whole seconds on `step`: help
    /// waits longer, and warns as long before its reset as other steps do;
    /// speech mode (`speaking`) waits longer still when so configured.
    fn idle_limits(&self, step: Step, speaking: bool) -> (u64, u64) {
        let (mut warning, mut reset) = (self.idle_warning.as_secs(), self.idle_reset.as_secs());
        if speaking {
            warning = warning.max(self.speech_idle_warning.as_secs());
            reset = reset.max(self.speech_idle_reset.as_secs());
        }
        if step == Step::Help {
            let help = self.help_reset.as_secs().max(reset);
            (help - (reset - warning.min(reset)), help)
        } else {
            (warning, reset)
        }
    }

    /// Time on Done before Welcome, in whole seconds; longer in speech
    /// mode, never shorter.
    fn done_return(&self, speaking: bool) -> u64 {
        let plain = self.done_return.as_secs();
        if speaking {
            plain.max(self.speech_done_return.as_secs())
        } else {
            plain
        }
    }
}

/// What the kiosk shows about its connection, from the sync worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionMark {
    /// Whether the last contact with the server worked.
    pub online: bool,
    /// Events waiting in the outbox.
    pub waiting: u64,
}

/// Shows the sync worker's view of the connection: the offline mark is
/// the only sign of it a patient could see.
pub fn show_connection(window: &AppWindow, mark: ConnectionMark) {
    let k = window.global::<KioskAdapter>();
    k.set_online(mark.online);
    k.set_waiting(i32::try_from(mark.waiting).unwrap_or(i32::MAX));
}

/// A part of the screen that renders on its own: one adapter global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// `KioskAdapter`: screen, language, banner, notice, idle warning.
    Shell,
    /// `DobAdapter`.
    Dob,
    /// `NameAdapter`.
    Name,
    /// `NotFoundAdapter`.
    NotFound,
    /// `ChooseAdapter`.
    Choose,
    /// `PassRejectedAdapter`.
    PassRejected,
    /// `SeeDeskAdapter`.
    SeeDesk,
    /// `DemographicsAdapter`.
    Demographics,
    /// `EditDemographicsAdapter`.
    EditDemographics,
    /// `InsuranceAdapter`.
    Insurance,
    /// `EditInsuranceAdapter`.
    EditInsurance,
    /// `CoPayAdapter`.
    CoPay,
    /// `PayPhoneAdapter`.
    PayPhone,
    /// `DoneAdapter` (its countdown is the clock's).
    Done,
    /// `HelpAdapter`.
    Help,
    /// `FormAdapter`: a page of the intake forms.
    Form,
}

/// Sends the actions of callbacks to the controller; each callback holds
/// one clone.
#[derive(Clone)]
struct Sender(Rc<dyn Fn(UiAction)>);

impl Sender {
    /// A callback that sends `action`.
    fn action(&self, action: UiAction) -> impl Fn() + 'static {
        let send = self.clone();
        move || (send.0)(action.clone())
    }

    /// A callback that sends whatever `map` makes of its argument: none,
    /// one or several actions.
    fn map<T, I>(&self, map: impl Fn(T) -> I + 'static) -> impl Fn(T) + 'static
    where
        I: IntoIterator<Item = UiAction>,
    {
        let send = self.clone();
        move |arg| map(arg).into_iter().for_each(|a| (send.0)(a))
    }
}

/// One render: the view model, the one rendered before, and the window.
struct Frame<'a> {
    window: &'a AppWindow,
    prev: Option<&'a ViewModel>,
    view: &'a ViewModel,
    counts: &'a RefCell<HashMap<Part, u64>>,
}

impl<'a> Frame<'a> {
    /// Renders `part` with what `key` picks from the view model, when that
    /// differs from the last render's (or nothing was rendered yet).
    fn part<T: PartialEq>(
        &self,
        part: Part,
        key: impl Fn(&'a ViewModel) -> T,
        render: impl FnOnce(&AppWindow, T),
    ) {
        let now = key(self.view);
        if self.prev.is_some_and(|p| key(p) == now) {
            return;
        }
        *self.counts.borrow_mut().entry(part).or_default() += 1;
        render(self.window, now);
    }
}

/// The running UI: the window, the controller and the timers that keep it alive.
pub struct KioskUi<R: CheckInRepository + 'static> {
    /// Shared with every callback.
    inner: Rc<Inner<R>>,
    /// Ticks once a second for the idle and Done countdowns.
    _tick: slint::Timer,
}

struct Inner<R: CheckInRepository> {
    window: slint::Weak<AppWindow>,
    controller: RefCell<CheckInController<R>>,
    timings: Timings,
    /// Whole seconds since the last touch, counted by the tick.
    idle_seconds: Cell<u64>,
    /// Seconds spent on Done.
    done_seconds: Cell<u64>,
    /// The countdowns last shown: idle seconds left, Done seconds left.
    clock_shown: Cell<Option<(i32, i32)>>,
    /// Drops a scanner burst that pauses too long.
    scanner_timer: slint::Timer,
    /// The view model last rendered.
    last: RefCell<Option<ViewModel>>,
    /// Renders per part, for tests of what a render touches.
    counts: RefCell<HashMap<Part, u64>>,
    /// The tactile keypad and its focus ring.
    keypad: RefCell<KeypadState>,
    /// Speech mode.
    speech: RefCell<SpeechState>,
    /// Answers to help requests from the sync worker, once connected.
    help: RefCell<Option<HelpLink>>,
    /// The consent's signature pad.
    pad: questionnaire::SignaturePad,
}

/// The UI's side of the help answers: staff resolving a help request on
/// the console reaches the kiosk through the sync worker.
struct HelpLink {
    /// Resolved help flags' client event ids, from the worker's thread.
    answers: Receiver<Vec<Uuid>>,
    /// Tells the worker whether a patient waits for help.
    on_waiting: Box<dyn Fn(bool)>,
    /// What `on_waiting` was last told.
    waiting: Cell<bool>,
}

impl<R: CheckInRepository + 'static> KioskUi<R> {
    /// Connects `window` to `controller` and renders the first screen.
    pub fn connect(
        window: &AppWindow,
        controller: CheckInController<R>,
        clinic_name: &str,
        timings: Timings,
    ) -> Self {
        let inner = Rc::new(Inner {
            window: window.as_weak(),
            controller: RefCell::new(controller),
            timings,
            idle_seconds: Cell::new(0),
            done_seconds: Cell::new(0),
            clock_shown: Cell::new(None),
            scanner_timer: slint::Timer::default(),
            last: RefCell::new(None),
            counts: RefCell::new(HashMap::new()),
            keypad: RefCell::new(KeypadState::new(KeypadSettings::default())),
            speech: RefCell::new(SpeechState::default()),
            help: RefCell::new(None),
            pad: questionnaire::SignaturePad::default(),
        });
        window
            .global::<KioskAdapter>()
            .set_clinic_name(clinic_name.into());
        wire(window, &inner);
        let tick = slint::Timer::default();
        let weak = Rc::downgrade(&inner);
        tick.start(
            slint::TimerMode::Repeated,
            Duration::from_secs(1),
            move || {
                if let Some(inner) = weak.upgrade() {
                    inner.tick();
                }
            },
        );
        inner.render();
        Self { inner, _tick: tick }
    }

    /// Runs `f` on the controller, then renders.
    pub fn with_controller<T>(&self, f: impl FnOnce(&mut CheckInController<R>) -> T) -> T {
        let out = f(&mut self.inner.controller.borrow_mut());
        self.inner.render();
        out
    }

    /// Follows staff answers to help requests: `answers` carries resolved
    /// help flags' client event ids (from the sync worker's status), checked
    /// every second; `on_waiting` is told whenever a patient starts or stops
    /// waiting for help, so the worker can ask for answers more often.
    pub fn follow_help_answers(
        &self,
        answers: Receiver<Vec<Uuid>>,
        on_waiting: impl Fn(bool) + 'static,
    ) {
        *self.inner.help.borrow_mut() = Some(HelpLink {
            answers,
            on_waiting: Box::new(on_waiting),
            waiting: Cell::new(false),
        });
        self.inner.check_help();
    }

    /// The current view model, for tests and screenshots.
    pub fn view(&self) -> ViewModel {
        self.inner.controller.borrow().view()
    }

    /// Uses `settings` for the tactile keypad's keys.
    pub fn set_keypad(&self, settings: KeypadSettings) {
        self.inner.keypad.borrow_mut().settings = settings;
    }

    /// Speaks through `output`: from the next keypad key, or at once
    /// when it always speaks.
    pub fn set_speech(&self, output: SpeechOutput) {
        let view = self.view();
        *self.inner.speech.borrow_mut() = SpeechState::new(output, &view);
    }

    /// The headphone jack changed: speech goes private while headphones
    /// are plugged in, and plugging them in starts speech mode.
    pub fn headphones(&self, plugged: bool) {
        let view = self.view();
        self.inner.speech.borrow_mut().headphones(plugged, &view);
    }

    /// Whether speech mode is on.
    pub fn speech_on(&self) -> bool {
        self.inner.speech.borrow().is_on()
    }

    /// The patient's speech volume now.
    pub fn speech_volume(&self) -> crate::kiosk::speech::Volume {
        self.inner.speech.borrow().volume()
    }

    /// Whether larger text is on for this session.
    pub fn larger_text(&self) -> bool {
        self.inner.larger_text()
    }

    /// The controls the keypad's focus ring moves through on this screen,
    /// in reading order; empty until a keypad key is pressed.
    pub fn focus_order(&self) -> Vec<Control> {
        self.inner
            .keypad
            .borrow()
            .ring
            .controls()
            .cloned()
            .collect()
    }

    /// The control in the keypad's focus ring.
    pub fn focused_control(&self) -> Option<Control> {
        self.inner.keypad.borrow().ring.focused().cloned()
    }

    /// A copy of the keypad's focus ring as it stands, to plan moves on.
    pub fn focus_ring(&self) -> FocusRing {
        self.inner.keypad.borrow().ring.clone()
    }

    /// How many times `part` was rendered since the UI was connected.
    pub fn render_count(&self, part: Part) -> u64 {
        self.inner.counts.borrow().get(&part).copied().unwrap_or(0)
    }
}

fn wire<R: CheckInRepository + 'static>(window: &AppWindow, inner: &Rc<Inner<R>>) {
    let weak = Rc::downgrade(inner);
    let send = Sender(Rc::new(move |action| {
        if let Some(inner) = weak.upgrade() {
            inner.dispatch(action);
        }
    }));
    let weak = Rc::downgrade(inner);
    let key_input = move |text: String| {
        if let Some(inner) = weak.upgrade() {
            inner.key_input(text);
        }
    };
    let weak = Rc::downgrade(inner);
    window
        .global::<WelcomeAdapter>()
        .on_toggle_larger_text(move || {
            if let Some(inner) = weak.upgrade() {
                inner.toggle_larger_text();
            }
        });
    shell::connect(window, &send, key_input);
    identify::connect(window, &send);
    forms::connect(window, &send);
    payment::connect(window, &send);
    questionnaire::connect(window, &inner.pad, send.0.clone());
}

impl<R: CheckInRepository + 'static> Inner<R> {
    fn dispatch(&self, action: UiAction) {
        // Every touch restarts the idle clock.
        self.idle_seconds.set(0);
        let before = self.controller.borrow().step();
        let result = self.controller.borrow_mut().handle(action);
        if let Err(err) = result {
            // The error names no patient data: flow errors name steps,
            // storage errors name files and operations.
            eprintln!("kiosk: {err}");
        }
        if before != Step::Welcome {
            self.end_session();
        }
        self.render();
    }

    /// Back on Welcome is a new session (finished, started over, or the
    /// idle reset): the keypad's ring goes until the next keypad key, and
    /// larger text goes back to the ordinary size.
    fn end_session(&self) {
        if self.controller.borrow().step() != Step::Welcome {
            return;
        }
        if let Some(window) = self.window.upgrade() {
            window.global::<Theme>().set_larger_text(false);
            self.keypad.borrow_mut().end_session(&window);
        }
        let view = self.controller.borrow().view();
        self.speech.borrow_mut().end_session(&view);
    }

    /// Whether larger text is on.
    fn larger_text(&self) -> bool {
        self.window
            .upgrade()
            .is_some_and(|w| w.global::<Theme>().get_larger_text())
    }

    /// The Larger text switch on Welcome: flips the theme's larger text,
    /// moves the focus ring with the controls it resized, and says the
    /// switch's new state.
    fn toggle_larger_text(&self) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        self.idle_seconds.set(0);
        let theme = window.global::<Theme>();
        theme.set_larger_text(!theme.get_larger_text());
        let view = self.controller.borrow().view();
        let mut keypad = self.keypad.borrow_mut();
        keypad.refresh(&window, view.screen);
        let switch = keypad
            .ring
            .focused()
            .filter(|c| c.kind == super::keypad::ControlKind::Toggle)
            .cloned();
        drop(keypad);
        if let Some(switch) = switch {
            self.speech.borrow_mut().focused(&switch, &view);
        }
    }

    /// On Welcome nothing else times out, so larger text left on by a
    /// patient who walked away goes off after the idle reset time.
    fn tick_welcome(&self) {
        if !self.larger_text() {
            self.idle_seconds.set(0);
            return;
        }
        let secs = self.idle_seconds.get() + 1;
        self.idle_seconds.set(secs);
        if secs >= self.timings.idle_reset.as_secs() {
            self.idle_seconds.set(0);
            if let Some(window) = self.window.upgrade() {
                window.global::<Theme>().set_larger_text(false);
                let screen = self.controller.borrow().view().screen;
                self.keypad.borrow_mut().refresh(&window, screen);
            }
        }
    }

    /// One keypad key. Any key counts as activity and dismisses the idle
    /// warning (and does nothing else then).
    fn keypad_key(&self, action: KeypadAction) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        self.idle_seconds.set(0);
        let view = self.controller.borrow().view();
        if self.speech.borrow_mut().key(&view) {
            // The first key starts speech mode and says where the patient is.
            self.keypad.borrow_mut().active = true;
            return;
        }
        if view.idle_warning {
            self.dispatch(UiAction::StillHere);
            return;
        }
        let screen = view.screen;
        match action {
            KeypadAction::Up | KeypadAction::Down | KeypadAction::Left | KeypadAction::Right => {
                let focused = self.keypad.borrow_mut().step(&window, screen, action);
                if let Some(mut control) = focused {
                    // A match's button names its time and clinician: patient
                    // data, for private listening only.
                    let names = |part: &str| !part.is_empty() && control.label.contains(part);
                    if view
                        .choices
                        .iter()
                        .any(|c| names(&c.time) || names(&c.clinician))
                    {
                        control.has_value = true;
                    }
                    self.speech.borrow_mut().focused(&control, &view);
                }
            }
            KeypadAction::Enter => {
                let element = {
                    let mut keypad = self.keypad.borrow_mut();
                    if keypad.ring.focused().is_none() {
                        // Nothing in the ring yet: Enter puts it on the
                        // screen's first control.
                        keypad.step(&window, screen, KeypadAction::Right);
                        None
                    } else {
                        keypad.focused_element(&window)
                    }
                };
                // Outside the borrow: the control's callback renders.
                if let Some(element) = element {
                    element.invoke_accessible_default_action();
                }
            }
            KeypadAction::Back => self.dispatch(UiAction::Back),
            KeypadAction::Help => self.dispatch(UiAction::Help),
            KeypadAction::Repeat => self.speech.borrow_mut().repeat(&view),
            KeypadAction::VolumeUp => self.speech.borrow_mut().change_volume(true),
            KeypadAction::VolumeDown => self.speech.borrow_mut().change_volume(false),
        }
        self.keypad.borrow_mut().active = true;
    }

    fn key_input(self: &Rc<Self>, text: String) {
        let scanning = self.controller.borrow().scan_in_progress();
        let route = super::keypad::route(&self.keypad.borrow().settings, &text, scanning);
        match route {
            KeyRoute::Keypad(action) => return self.keypad_key(action),
            KeyRoute::Ignored => return,
            KeyRoute::Scanner => {}
        }
        let gap = self.timings.scanner_gap;
        let weak = Rc::downgrade(self);
        self.scanner_timer
            .start(slint::TimerMode::SingleShot, gap, move || {
                if let Some(inner) = weak.upgrade() {
                    let _ = inner.controller.borrow_mut().handle(UiAction::ScanTimeout);
                }
            });
        let before = self.controller.borrow().step();
        let result = self
            .controller
            .borrow_mut()
            .handle(UiAction::KeyInput(text));
        if let Err(err) = result {
            eprintln!("kiosk: {err}");
        }
        if self.controller.borrow().step() != before {
            self.idle_seconds.set(0);
            self.render();
        }
    }

    /// Takes the help answers that arrived, ends a wait one of them
    /// answers, and tells the worker whether a patient now waits for help.
    fn check_help(&self) {
        let help = self.help.borrow();
        let Some(link) = help.as_ref() else { return };
        let answered: Vec<Uuid> = link.answers.try_iter().flatten().collect();
        if !answered.is_empty() && self.controller.borrow().waiting_for_help() {
            let result = self
                .controller
                .borrow_mut()
                .handle(UiAction::HelpAnswered(answered));
            if let Err(err) = result {
                eprintln!("kiosk: {err}");
            }
            if !self.controller.borrow().waiting_for_help() {
                self.idle_seconds.set(0);
                self.end_session();
                self.render();
            }
        }
        let waiting = self.controller.borrow().waiting_for_help();
        if link.waiting.replace(waiting) != waiting {
            (link.on_waiting)(waiting);
        }
    }

    /// One second passed: takes help answers, counts down Done and the idle
    /// time, and shows the countdowns. Only a timer that runs out or an
    /// answered help request changes the view model.
    fn tick(&self) {
        self.check_help();
        let step = self.controller.borrow().step();
        if step == Step::Done {
            self.done_seconds.set(self.done_seconds.get() + 1);
            let speaking = self.speech.borrow().is_on();
            if self.done_seconds.get() >= self.timings.done_return(speaking) {
                self.dispatch(UiAction::Finish);
                return;
            }
        } else {
            self.done_seconds.set(0);
        }
        if step.watches_idle() {
            let secs = self.idle_seconds.get() + 1;
            self.idle_seconds.set(secs);
            let speaking = self.speech.borrow().is_on();
            let (warning, reset) = self.timings.idle_limits(step, speaking);
            if secs >= reset {
                let _ = self.controller.borrow_mut().handle(UiAction::IdleTimeout);
                self.idle_seconds.set(0);
                self.end_session();
                self.render();
                return;
            }
            if secs >= warning && !self.controller.borrow().idle_warning() {
                let _ = self.controller.borrow_mut().handle(UiAction::IdleWarning);
                self.render();
                let language = self.controller.borrow().view().language;
                let left = u32::try_from(reset - secs).unwrap_or(u32::MAX);
                self.speech.borrow_mut().idle_warning(left, language);
                return;
            }
        } else if step == Step::Welcome {
            self.tick_welcome();
        } else {
            self.idle_seconds.set(0);
        }
        if step == Step::EnterLastName {
            self.show_name_wait();
        }
        self.show_clock();
    }

    /// Counts down the lookup wait on the last-name screen.
    fn show_name_wait(&self) {
        let secs = self.controller.borrow().name_wait_seconds();
        let mut last = self.last.borrow_mut();
        let Some(view) = last.as_mut() else { return };
        if view.name_wait_seconds == secs {
            return;
        }
        view.name_wait_seconds = secs;
        if let Some(window) = self.window.upgrade() {
            identify::show_name_wait(&window, secs);
        }
    }

    /// Shows the idle and Done countdowns, when they changed.
    fn show_clock(&self) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        let step = self.controller.borrow().step();
        let (_, reset) = self.timings.idle_limits(step, self.speech.borrow().is_on());
        let idle_left = reset.saturating_sub(self.idle_seconds.get());
        let done_left = self
            .timings
            .done_return(self.speech.borrow().is_on())
            .saturating_sub(self.done_seconds.get());
        let shown = (
            i32::try_from(idle_left).unwrap_or(i32::MAX),
            i32::try_from(done_left).unwrap_or(i32::MAX),
        );
        if self.clock_shown.get() == Some(shown) {
            return;
        }
        self.clock_shown.set(Some(shown));
        shell::show_clock(&window, shown.0, shown.1);
    }

    /// Renders the parts of the view model that changed since the last
    /// render.
    fn render(&self) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        let view = self.controller.borrow().view();
        let last = self.last.borrow_mut().take();
        if last.as_ref().map(|v| v.language) != Some(view.language) {
            // "en" returns to the source strings.
            let _ = slint::select_bundled_translation(view.language.code());
        }
        let frame = Frame {
            window: &window,
            prev: last.as_ref(),
            view: &view,
            counts: &self.counts,
        };
        shell::render(&frame);
        identify::render(&frame);
        forms::render(&frame);
        payment::render(&frame);
        questionnaire::render(&frame, &self.pad);
        self.keypad.borrow_mut().refresh(&window, view.screen);
        let online = window.global::<KioskAdapter>().get_online();
        let mut speech = self.speech.borrow_mut();
        speech.set_online(online);
        speech.rendered(last.as_ref(), &view);
        drop(speech);
        *self.last.borrow_mut() = Some(view);
        self.show_clock();
    }
}
