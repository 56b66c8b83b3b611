//! A keypad press to the first audio sample of the spoken answer, through
//! the whole kiosk: the key event enters the real UI (release build,
//! Slint's software renderer drawing 1080×1920 frames into memory), the
//! keypad adapter decodes it, moves the focus ring or presses the control
//! in it, the controller and view model change, the spoken script says
//! what changed, and the `Speaker` has eSpeak NG (Debian `libespeak-ng1`)
//! synthesize it into a sink paced like a sound card. The clock starts
//! just before the key event is dispatched to the window and stops when
//! the first samples of the answer reach the sink. Each press comes while
//! the answer before is still playing, so every sample includes cutting
//! it off. English and Spanish. Target: ≤ 150 ms p99.
//!
//! Run: `cargo bench --bench keypad_speech --no-default-features --features kiosk`

use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checkin_kiosk::domain::testkit::{TZ, appointment};
use checkin_kiosk::domain::{
    ClinicId, FixedClock, FlowSettings, KioskId, Language, LocationId, LookupThrottle,
};
use checkin_kiosk::kiosk::adapters::{KioskUi, SpeechOutput, SpokenScript, Timings, Voice};
use checkin_kiosk::kiosk::repository::StoreRepository;
use checkin_kiosk::kiosk::speech::espeak::Espeak;
use checkin_kiosk::kiosk::speech::speaker::EngineFactory;
use checkin_kiosk::kiosk::speech::{
    AudioSink, NullSink, Paced, Route, Speaker, SpeechError, Synthesizer, Utterance, Volume,
};
use checkin_kiosk::kiosk::ui::{AppWindow, KioskAdapter, Screen};
use checkin_kiosk::kiosk::{CheckInController, KioskContext};
use checkin_kiosk::pass::PassSigner;
use checkin_kiosk::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Key, Platform, WindowAdapter, WindowEvent};
use slint::{ComponentHandle, Rgb8Pixel};

const WIDTH: u32 = 1080;
const HEIGHT: u32 = 1920;
/// Timed key presses per language.
const PRESSES: usize = 240;
/// How long each answer plays before the next key cuts it off.
const LISTEN: Duration = Duration::from_millis(30);

/// A platform with one in-memory window; frames are drawn on request.
struct BenchPlatform {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for BenchPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The text the engine is synthesizing, shared with the sink.
type Current = Arc<Mutex<String>>;

/// eSpeak NG, noting which text it is synthesizing.
struct Noted(Espeak, Current);

impl Synthesizer for Noted {
    fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }

    fn synthesize(
        &mut self,
        text: &str,
        language: Language,
        out: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), SpeechError> {
        if let Ok(mut current) = self.1.lock() {
            text.clone_into(&mut current);
        }
        self.0.synthesize(text, language, out)
    }
}

/// A sound card's pace, reporting when each utterance's first samples
/// arrive and which text they are.
struct FirstSample {
    paced: Paced<NullSink>,
    current: Current,
    tx: Sender<(String, Instant)>,
    started: bool,
}

impl AudioSink for FirstSample {
    fn begin(&mut self, sample_rate: u32) -> Result<(), SpeechError> {
        self.started = false;
        self.paced.begin(sample_rate)
    }

    fn write(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        if !self.started && !samples.is_empty() {
            self.started = true;
            let at = Instant::now();
            let text = self.current.lock().map(|t| t.clone()).unwrap_or_default();
            let _ = self.tx.send((text, at));
        }
        self.paced.write(samples)
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        self.paced.finish()
    }

    fn stop(&mut self) {
        self.paced.stop();
    }
}

/// The first utterance of the latest answer, and when the speaker was
/// told (after it cut off what was playing).
type Asked = Rc<std::cell::RefCell<Option<(String, Instant)>>>;

/// The kiosk's voice: the real speaker, noting each answer.
struct Timed(Speaker, Asked);

impl Voice for Timed {
    fn say_all(&self, utterances: Vec<Utterance>) {
        let first = utterances.first().map(|u| u.text.clone());
        self.0.interrupt();
        let told = Instant::now();
        self.0.say_all(utterances);
        if let Some(first) = first {
            *self.1.borrow_mut() = Some((first, told));
        }
    }

    fn interrupt(&self) {
        self.0.interrupt();
    }

    fn set_volume(&self, volume: Volume) {
        self.0.set_volume(volume);
    }

    fn set_route(&self, route: Route) {
        self.0.set_route(route);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn now() -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2026, 3, 2, 9, 55, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// The kiosk under test and what it needs to stay alive.
struct Bench {
    surface: Rc<MinimalSoftwareWindow>,
    window: AppWindow,
    ui: KioskUi<StoreRepository>,
    asked: Asked,
    heard: Receiver<(String, Instant)>,
    pixels: Vec<Rgb8Pixel>,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new(surface: Rc<MinimalSoftwareWindow>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut store = Store::open(
            &dir.path().join("kiosk.db"),
            &dir.path().join("kiosk.key"),
            now(),
        )
        .expect("the store opens");
        let maria = appointment("a-maria", "Maria", "García", (1980, 5, 17), 10, 0);
        store
            .apply_schedule(true, &[maria], &[], "bench", now())
            .expect("the schedule applies");
        let controller = CheckInController::new(
            StoreRepository {
                store,
                kiosk_id: KioskId("bench".into()),
            },
            KioskContext {
                clinic_id: ClinicId("c1".into()),
                clinic_name: "Riverside Family Clinic".into(),
                time_zone: TZ,
                payment_link: None,
                flow: FlowSettings::with_location(LocationId("main".into())),
                self_pay: None,
                clock_24h: false,
            },
            Some(PassSigner::generate().verifier()),
            Arc::new(FixedClock::new(now())),
            LookupThrottle::standard(),
        );
        let window = AppWindow::new().expect("the window");
        window.show().expect("shown");
        let ui = KioskUi::connect(
            &window,
            controller,
            "Riverside Family Clinic",
            Timings::default(),
        );
        let current: Current = Arc::default();
        let engine_current = Arc::clone(&current);
        let engine: EngineFactory = Box::new(move || {
            Ok(Box::new(Noted(Espeak::load()?, engine_current)) as Box<dyn Synthesizer>)
        });
        let (tx, heard) = mpsc::channel();
        let sink = FirstSample {
            paced: Paced::new(NullSink),
            current,
            tx,
            started: false,
        };
        // Headphones: the digits typed are spoken too.
        let speaker = Speaker::start(engine, Box::new(sink), Route::Private);
        assert!(speaker.wait_until_quiet(Duration::from_secs(30)));
        if let Some(err) = speaker.status().engine_error {
            eprintln!("keypad speech bench: {err}");
            std::process::exit(1);
        }
        let asked = Asked::default();
        ui.set_speech(SpeechOutput {
            voice: Box::new(Timed(speaker, Rc::clone(&asked))),
            script: Box::new(SpokenScript::for_clinic("Riverside Family Clinic")),
            always_speak: false,
            default_volume: Volume::DEFAULT,
        });
        let mut bench = Self {
            surface,
            window,
            ui,
            asked,
            heard,
            pixels: vec![Rgb8Pixel::default(); (WIDTH * HEIGHT) as usize],
            _dir: dir,
        };
        bench.frame();
        bench
    }

    fn frame(&mut self) {
        slint::platform::update_timers_and_animations();
        self.surface.request_redraw();
        let pixels = &mut self.pixels;
        self.surface.draw_if_needed(|renderer| {
            renderer.render(pixels.as_mut_slice(), WIDTH as usize);
        });
    }

    fn screen(&self) -> Screen {
        self.window.global::<KioskAdapter>().get_screen()
    }

    fn focused(&self) -> Option<String> {
        self.ui.focused_control().map(|c| c.label)
    }

    /// Presses `key` and paints the frame, as the event loop would; returns
    /// the time from the key event to the first sample of its answer, and
    /// the part of it spent before the speaker was told.
    fn press(&mut self, key: Key) -> (Duration, Duration) {
        while self.heard.try_recv().is_ok() {}
        self.asked.borrow_mut().take();
        let text: slint::SharedString = key.into();
        let pressed = Instant::now();
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
        self.window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text });
        self.frame();
        let (first, told) = self
            .asked
            .borrow_mut()
            .take()
            .unwrap_or_else(|| panic!("{key:?} on {:?} said nothing", self.screen()));
        loop {
            let (text, at) = self
                .heard
                .recv_timeout(Duration::from_secs(10))
                .expect("the answer is heard");
            if text == first && at >= told {
                return (at - pressed, told - pressed);
            }
        }
    }

    /// Moves the ring with Right to `label` (timing each move), then
    /// presses Enter (timed too).
    fn activate(&mut self, label: &str, times: &mut Times) {
        let mut moves = 0;
        while self.focused().as_deref() != Some(label) {
            times.record(self.press(Key::RightArrow));
            std::thread::sleep(LISTEN);
            moves += 1;
            assert!(moves < 60, "no {label:?} on {:?}", self.screen());
        }
        times.record(self.press(Key::Return));
        std::thread::sleep(LISTEN);
    }
}

/// Key to first sample, and key to speaker told, of each press.
#[derive(Default)]
struct Times {
    total: Vec<Duration>,
    ui: Vec<Duration>,
}

impl Times {
    fn record(&mut self, (total, ui): (Duration, Duration)) {
        self.total.push(total);
        self.ui.push(ui);
    }

    fn report(mut self, language: &str) {
        self.total.sort();
        self.ui.sort();
        println!(
            "| {language} | {} | {} | {} | {} | {} | {} |",
            self.total.len(),
            ms(percentile(&self.total, 0.5)),
            ms(percentile(&self.total, 0.99)),
            ms(*self.total.last().expect("measured")),
            ms(percentile(&self.ui, 0.5)),
            ms(percentile(&self.ui, 0.99)),
        );
    }
}

/// Keypad presses on the date of birth screen, in `language`: moves of
/// the ring and digits typed, then Clear, until `PRESSES` answers are
/// timed.
fn run(bench: &mut Bench, language: Language, times: &mut Times) {
    let clear = match language {
        Language::En => "Clear",
        Language::Es => "Borrar todo",
    };
    while times.total.len() < PRESSES {
        assert_eq!(bench.screen(), Screen::EnterDob);
        for key in ["0", "5", "1", "7", clear] {
            bench.activate(key, times);
        }
    }
}

fn main() {
    let surface = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    surface.set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    slint::platform::set_platform(Box::new(BenchPlatform {
        window: surface.clone(),
        start: Instant::now(),
    }))
    .expect("the platform is set once");
    let mut bench = Bench::new(surface);

    // The first key starts speech mode.
    let (first, _) = bench.press(Key::DownArrow);
    assert!(bench.ui.speech_on());
    std::thread::sleep(LISTEN);
    println!("First key (speech mode starts): {}", ms(first));
    println!();
    println!(
        "| language | presses | key → first sample p50 | p99 | max | key → speaker told p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut en = Times::default();
    // Welcome to the date of birth screen: a new screen to say.
    bench.activate("Use my date of birth", &mut en);
    run(&mut bench, Language::En, &mut en);
    en.report("English");
    let mut es = Times::default();
    bench.activate("Español", &mut es);
    run(&mut bench, Language::Es, &mut es);
    es.report("Spanish");
}
