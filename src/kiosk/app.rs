//! Starting the kiosk: `run` opens the store, starts the sync worker and
//! shows the window for an enrolled kiosk; `demo` does the same against an
//! embedded clinic server with the demo clinic, with no configuration.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use chrono::Utc;
use slint::ComponentHandle;

use super::adapters::{
    ConnectionMark, KioskUi, SpeechOutput, SpokenScript, Timings, show_connection,
};
use super::controller::{CheckInController, KioskContext};
use super::repository::StoreRepository;
use super::speech::espeak::Espeak;
use super::speech::jack::JackSensor;
use super::speech::{
    AlsaSink, AudioSink, NullSink, Paced, Route, Speaker, Synthesizer, Volume, WavSink,
};
use super::ui::AppWindow;
use crate::config::{KioskConfig, ListeningRoute, SpeechDevice, SpeechSettings};
use crate::domain::{ClinicId, Currency, Money, SystemClock};
use crate::pass::PassVerifier;
use crate::store::{Enrollment, Store};
use crate::sync::{self, SyncSettings, SyncStatus, SyncWorker, store_paths};

/// Why the kiosk could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened.
    #[error("the kiosk store could not be opened: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The kiosk has not been enrolled with a clinic server.
    #[error(
        "this kiosk is not enrolled; run `kiosk enroll --server URL --code CODE` with a code from the staff console"
    )]
    NotEnrolled,
    /// The enrollment holds a clinic setting the kiosk cannot use.
    #[error("the clinic settings from enrollment are not usable: {0}")]
    BadClinic(String),
    /// The sync worker could not start, or enrollment failed.
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    /// Slint could not create or show the window.
    #[error("the window could not be shown: {0}")]
    Window(String),
    /// A data directory could not be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The demo's embedded server could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The demo's embedded clinic server could not be set up.
    #[error("the demo clinic server could not start: {0}")]
    DemoServer(String),
}

/// Runs the kiosk until its window is closed.
///
/// Call it from the main thread before starting any other thread: it may
/// set `SLINT_KMS_ROTATION` in the environment for the linuxkms backend.
pub fn run(config: &KioskConfig) -> Result<(), AppError> {
    apply_display_settings(&config.display)?;
    let (db_path, key_path) = store_paths(&config.kiosk.data_dir);
    let store = Store::open(&db_path, &key_path, Utc::now())?;
    let enrollment = store.enrollment()?.ok_or(AppError::NotEnrolled)?;
    let settings = SyncSettings::from_config(config, enrollment.server_url.clone());
    show(config, store, enrollment, settings, db_path, key_path)
}

/// Puts `[display]` into effect before any window exists: selects the Slint
/// backend `backend` names, with the software renderer, unless
/// `$SLINT_BACKEND` is set (the systemd units set it, and it wins); and on
/// linuxkms turns the picture by `rotation` through `$SLINT_KMS_ROTATION`,
/// unless that is set already.
///
/// `hide_cursor` is put into effect once the window exists (see
/// `watch_window`). On linuxkms a touch never moves the pointer, so none is
/// drawn on a touch panel; only a plugged-in mouse shows one. Under winit,
/// rotation is cage's (`-r`, see the packaged unit).
fn apply_display_settings(display: &crate::config::DisplaySettings) -> Result<(), AppError> {
    use crate::config::{DisplayBackend, Rotation};
    let from_env = std::env::var("SLINT_BACKEND")
        .ok()
        .filter(|name| !name.is_empty());
    let (selector, on_kms) = match &from_env {
        Some(name) => (
            slint::BackendSelector::new(),
            name.to_ascii_lowercase().starts_with("linuxkms"),
        ),
        None => {
            let (backend, on_kms) = match display.backend {
                DisplayBackend::WinitSoftware => ("winit", false),
                DisplayBackend::LinuxKmsSoftware => ("linuxkms", true),
            };
            let selector = slint::BackendSelector::new()
                .backend_name(backend.into())
                .renderer_name("software".into());
            (selector, on_kms)
        }
    };
    if on_kms
        && display.rotation != Rotation::Deg0
        && std::env::var_os("SLINT_KMS_ROTATION").is_none()
    {
        // SAFETY: `run` calls this first, while the process has one thread:
        // the store, the sync worker and Slint start only after it.
        unsafe {
            std::env::set_var("SLINT_KMS_ROTATION", display.rotation.degrees().to_string());
        }
    }
    let name = from_env.unwrap_or_else(|| display.backend.as_str().to_string());
    selector.select().map_err(|e| {
        let hint = if on_kms {
            " (linuxkms needs a kiosk built with the `linuxkms` feature, and access to /dev/dri and /dev/input)"
        } else {
            ""
        };
        AppError::Window(format!("display backend {name}: {e}{hint}"))
    })
}

/// Builds the controller and the window, starts the sync worker and runs
/// the event loop.
fn show(
    config: &KioskConfig,
    store: Store,
    enrollment: Enrollment,
    settings: SyncSettings,
    db_path: PathBuf,
    key_path: PathBuf,
) -> Result<(), AppError> {
    let clinic = &enrollment.clinic;
    let (context, verifier) = kiosk_context(config, &enrollment)?;
    let mut controller = CheckInController::new(
        StoreRepository {
            store,
            kiosk_id: enrollment.kiosk_id.clone(),
        },
        context,
        Some(verifier),
        Arc::new(SystemClock),
        config.lookup_throttle(),
    );

    let window = open_window(config)?;

    // The worker reports from its own thread; the UI thread only ever
    // receives a posted status and never waits on the network.
    let weak = window.as_weak();
    let (answers_tx, answers) = std::sync::mpsc::channel();
    let on_status = move |status: SyncStatus| {
        let mark = ConnectionMark {
            online: status.online,
            waiting: status.outbox_depth,
        };
        if !status.help_answered.is_empty() {
            let _ = answers_tx.send(status.help_answered);
        }
        let _ = weak.upgrade_in_event_loop(move |w| show_connection(&w, mark));
    };
    let worker = SyncWorker::spawn(settings, db_path, key_path, on_status)?;
    let notifier = worker.notifier();
    let help_notifier = worker.notifier();
    controller.on_commit(move || notifier.notify());

    let timings = Timings {
        idle_warning: config.flow.idle_warning,
        idle_reset: config.flow.idle_reset,
        done_return: config.flow.done_return,
        help_reset: config.flow.help_reset,
        speech_idle_warning: config.speech.idle_warning,
        speech_idle_reset: config.speech.idle_reset,
        ..Timings::default()
    };
    let clinic_name = clinic.name.clone();
    let ui = Rc::new(KioskUi::connect(&window, controller, &clinic_name, timings));
    ui.set_keypad(config.keypad.clone());
    ui.follow_help_answers(answers, move |waiting| {
        help_notifier.set_help_waiting(waiting);
    });
    let _jack = start_speech(&ui, &config.speech, &clinic_name);
    watch_window(
        &window,
        config.display.hide_cursor,
        std::env::var_os("CHECKIN_KIOSK_REPORT_FIRST_FRAME").is_some(),
    );

    let watchdog = start_watchdog();

    let result = window.run().map_err(|e| AppError::Window(e.to_string()));
    drop(watchdog);
    drop(ui);
    worker.shutdown();
    result
}

/// The clinic's context for the controller, from its enrollment and the
/// kiosk's config, and the verifier of the clinic's signed passes.
fn kiosk_context(
    config: &KioskConfig,
    enrollment: &Enrollment,
) -> Result<(KioskContext, PassVerifier), AppError> {
    let clinic = &enrollment.clinic;
    let time_zone = clinic
        .time_zone
        .parse()
        .map_err(|_| AppError::BadClinic(format!("unknown time zone {:?}", clinic.time_zone)))?;
    let verifier = PassVerifier::from_base64(&enrollment.pass_public_key)
        .map_err(|e| AppError::BadClinic(e.to_string()))?;
    // The clinic's own payment settings win over the kiosk's config.
    let payment_link = clinic.payment_link.clone().or_else(|| {
        config
            .payment
            .pay_on_phone
            .as_ref()
            .map(|t| t.as_str().to_string())
    });
    let mut flow = config.flow_settings();
    flow.allow_pay_on_phone = payment_link.is_some();
    flow.allow_bill_later = clinic.allow_bill_later || config.payment.allow_bill_later;
    // The self-pay amount is in the clinic's currency, as co-pays are.
    let currency = clinic
        .currency
        .parse::<Currency>()
        .unwrap_or(config.payment.currency);
    let context = KioskContext {
        clinic_id: ClinicId(clinic.clinic_id.clone()),
        clinic_name: clinic.name.clone(),
        time_zone,
        payment_link,
        flow,
        self_pay: config
            .payment
            .self_pay_cents
            .map(|cents| Money::new(cents, currency)),
        clock_24h: config.display.clock_24h,
    };
    Ok((context, verifier))
}

/// The kiosk window, full screen or at the configured size.
fn open_window(config: &KioskConfig) -> Result<AppWindow, AppError> {
    let window = AppWindow::new().map_err(|e| AppError::Window(e.to_string()))?;
    if config.kiosk.fullscreen {
        window.window().set_fullscreen(true);
    } else {
        window.window().set_size(slint::LogicalSize::new(
            config.display.width as f32,
            config.display.height as f32,
        ));
    }
    Ok(window)
}

/// Under systemd the watchdog is pinged from the UI thread's event loop,
/// so a frozen UI stops the pings and systemd restarts the kiosk. The
/// pings stop when the returned timer is dropped.
fn start_watchdog() -> slint::Timer {
    let systemd = crate::systemd::SystemdNotifier::from_env().ok();
    let watchdog = slint::Timer::default();
    if let Some(notifier) = systemd.filter(|n| n.is_active()) {
        let _ = notifier.ready();
        watchdog.start(
            slint::TimerMode::Repeated,
            std::time::Duration::from_secs(2),
            move || {
                let _ = notifier.watchdog();
            },
        );
    }
    watchdog
}

/// Watches the headphone jack off the UI thread; stops when dropped.
struct JackWatch {
    stop: Arc<AtomicBool>,
    _poll: slint::Timer,
}

impl Drop for JackWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Starts speech output: eSpeak NG on the speaker thread, playing through
/// ALSA on the configured device (or, with `device = "null"` or
/// `"wav:DIR"`, nowhere or into WAV files at a sound card's pace), over the
/// configured route. With
/// `route = "detect"` a thread reads the headphone jack twice a second
/// and the UI follows it; a card without the jack control keeps the
/// loudspeaker. Without ALSA the kiosk runs silent, and says why in the log;
/// on a machine with no sound card at all (a demo on a server or in a
/// container) it does not open ALSA, which would print its own errors.
fn start_speech<R: crate::kiosk::CheckInRepository + 'static>(
    ui: &Rc<KioskUi<R>>,
    settings: &SpeechSettings,
    clinic_name: &str,
) -> Option<JackWatch> {
    let sink = open_sink(&settings.device)?;
    let route = match settings.route {
        ListeningRoute::Private => Route::Private,
        ListeningRoute::Loudspeaker | ListeningRoute::Detect => Route::Loudspeaker,
    };
    let engine: super::speech::speaker::EngineFactory =
        Box::new(|| Espeak::load().map(|e| Box::new(e) as Box<dyn Synthesizer>));
    let speaker = Speaker::start(engine, sink, route);
    ui.set_speech(SpeechOutput {
        voice: Box::new(speaker),
        script: Box::new(SpokenScript::for_clinic(clinic_name)),
        always_speak: settings.always_speak,
        default_volume: Volume::from_db(settings.default_volume_db),
    });
    // No sound card, so no jack to read: the route stays as configured.
    let device = settings.device.alsa()?;
    if settings.route != ListeningRoute::Detect {
        return None;
    }
    let sensor = match JackSensor::new(device, &settings.jack_control) {
        Ok(sensor) => sensor,
        Err(err) => {
            tracing::warn!(error = %err, "no headphone detection; speech uses the loudspeaker");
            return None;
        }
    };
    // 0: not read yet, 1: unplugged, 2: plugged.
    let state = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (thread_state, thread_stop) = (Arc::clone(&state), Arc::clone(&stop));
    let spawned = std::thread::Builder::new()
        .name("headphone-jack".into())
        .spawn(move || {
            while !thread_stop.load(Ordering::SeqCst) {
                match sensor.plugged() {
                    Ok(plugged) => thread_state.store(if plugged { 2 } else { 1 }, Ordering::SeqCst),
                    Err(err) => {
                        tracing::warn!(error = %err, "no headphone detection; speech uses the loudspeaker");
                        return;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "no headphone detection");
        return None;
    }
    let poll = slint::Timer::default();
    let weak = Rc::downgrade(ui);
    let mut shown = 0;
    poll.start(
        slint::TimerMode::Repeated,
        std::time::Duration::from_millis(250),
        move || {
            let now = state.load(Ordering::SeqCst);
            if now != shown && now != 0 {
                shown = now;
                if let Some(ui) = weak.upgrade() {
                    ui.headphones(now == 2);
                }
            }
        },
    );
    Some(JackWatch { stop, _poll: poll })
}

/// The audio output `device` names; `None` (speech off, with the reason in
/// the log) when it cannot be opened.
fn open_sink(device: &SpeechDevice) -> Option<Box<dyn AudioSink>> {
    let name = match device {
        SpeechDevice::Null => return Some(Box::new(Paced::new(NullSink))),
        SpeechDevice::Wav(dir) => {
            if let Err(err) = std::fs::create_dir_all(dir) {
                tracing::warn!(error = %err, dir = %dir.display(), "speech output is off: cannot create the WAV directory");
                return None;
            }
            return Some(Box::new(Paced::new(WavSink::new(dir.clone()))));
        }
        SpeechDevice::Alsa(name) => name,
    };
    if names_hardware(name) && !has_playback_device(Path::new("/dev/snd")) {
        tracing::info!("no sound card: speech output is off");
        return None;
    }
    match AlsaSink::new(name) {
        Ok(sink) => Some(Box::new(sink)),
        Err(err) => {
            tracing::warn!(error = %err, "speech output is off");
            None
        }
    }
}

/// What `kiosk demo` tells the person trying it.
#[cfg(feature = "server")]
#[derive(Debug, Clone)]
pub struct DemoInfo {
    /// Where the embedded clinic server listens.
    pub server_url: url::Url,
    /// The staff user and password for the console.
    pub staff_login: (String, String),
    /// Patients to try.
    pub samples: Vec<DemoSample>,
    /// Where the demo keeps its data.
    pub data_dir: PathBuf,
    /// Whether that directory is removed when the demo ends.
    pub removed_on_exit: bool,
}

/// One demo patient to try at the kiosk.
#[cfg(feature = "server")]
#[derive(Debug, Clone)]
pub struct DemoSample {
    /// What makes this patient interesting, for example "twins".
    pub label: String,
    /// The date of birth to type.
    pub date_of_birth: chrono::NaiveDate,
    /// The last name, whose first letters to type.
    pub last_name: String,
    /// The patient's check-in pass, to scan or type.
    pub pass: String,
}

/// The demo's data directory: a fresh one under the system temp directory,
/// removed when the demo ends however it ends (window closed, error,
/// Ctrl-C or SIGTERM), or one the user named, which is kept.
#[cfg(feature = "server")]
#[derive(Debug)]
pub struct DemoDir {
    /// The directory.
    path: PathBuf,
    /// Remove it on drop.
    remove: bool,
}

#[cfg(feature = "server")]
impl DemoDir {
    /// `given`, kept afterwards; or a new temporary one, removed afterwards.
    pub fn new(given: Option<PathBuf>) -> Self {
        match given {
            Some(path) => Self {
                path,
                remove: false,
            },
            None => Self {
                path: std::env::temp_dir()
                    .join(format!("checkin-kiosk-demo-{}", std::process::id())),
                remove: true,
            },
        }
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Creates it and `sub` inside it.
    fn create(&self, sub: &str) -> Result<PathBuf, AppError> {
        let dir = self.path.join(sub);
        std::fs::create_dir_all(&dir).map_err(|source| AppError::DataDir {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }
}

#[cfg(feature = "server")]
impl Drop for DemoDir {
    fn drop(&mut self) {
        if self.remove
            && let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("cannot remove the demo data {}: {e}", self.path.display());
        }
    }
}

/// Quits the event loop on Ctrl-C or SIGTERM, so the demo ends the way a
/// closed window ends it and cleans up after itself.
#[cfg(feature = "server")]
fn quit_on_signal() {
    let spawned = std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                return;
            };
            let signalled = runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut interrupt), Ok(mut terminate)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return false;
                };
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                true
            });
            if !signalled {
                tracing::warn!("cannot watch for Ctrl-C; the demo data stays behind on it");
                return;
            }
            let _ = slint::invoke_from_event_loop(|| {
                let _ = slint::quit_event_loop();
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch for Ctrl-C; the demo data stays behind on it");
    }
}

/// Runs the no-configuration demo: an embedded clinic server with the demo
/// clinic on a free loopback port (or `port`), a kiosk enrolled with it,
/// and the kiosk window. `announce` prints how to try it before the window
/// opens.
#[cfg(feature = "server")]
pub fn demo(
    port: u16,
    data_dir: Option<PathBuf>,
    announce: impl FnOnce(&DemoInfo),
) -> Result<(), AppError> {
    use crate::config::ServerConfig;
    use crate::server::{self, demo};
    use std::net::{Ipv4Addr, SocketAddr};

    let dir = DemoDir::new(data_dir);
    // Listen first: a busy port fails before any data is touched.
    let asked = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = std::net::TcpListener::bind(asked).map_err(|source| AppError::Listen {
        addr: asked,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| AppError::Listen {
        addr: asked,
        source,
    })?;
    let server_dir = dir.create("server")?;
    let kiosk_dir = dir.create("kiosk")?;
    // One demo per data directory: a second one fails before touching it.
    let lock =
        server::lock_data_dir(&server_dir).map_err(|e| AppError::DemoServer(e.to_string()))?;
    let config = ServerConfig::demo(server_dir, addr);
    let (db, signer) =
        server::open_data_dir(&config).map_err(|e| AppError::DemoServer(e.to_string()))?;
    let now = Utc::now();
    let login =
        demo::prepare(&db, &config, now).map_err(|e| AppError::DemoServer(e.to_string()))?;
    let clinic = config
        .clinics
        .first()
        .cloned()
        .ok_or_else(|| AppError::DemoServer("the demo has no clinic".into()))?;
    let samples = demo_samples(&signer, &clinic, now);
    listener
        .set_nonblocking(true)
        .map_err(|source| AppError::Listen { addr, source })?;
    spawn_demo_server(listener, server::AppState::new(config, db, signer))?;

    let server_url: url::Url = format!("http://{addr}/")
        .parse()
        .map_err(|e: url::ParseError| AppError::DemoServer(e.to_string()))?;
    let mut kiosk_config = KioskConfig::demo(kiosk_dir);
    kiosk_config.server.url = Some(server_url.clone());
    kiosk_config.kiosk.fullscreen = false;
    // The demo runs in a window on a desktop, where the pointer is needed.
    kiosk_config.display.hide_cursor = false;
    let settings = SyncSettings::from_config(&kiosk_config, server_url.clone());
    let (db_path, key_path) = store_paths(&kiosk_config.kiosk.data_dir);
    let mut store = Store::open(&db_path, &key_path, now)?;
    let response = sync::enroll(&settings, &login.enrollment_code, &kiosk_config.kiosk.name)?;
    let enrollment = Enrollment::from_response(server_url.clone(), &response, now);
    store.save_enrollment(&enrollment)?;

    announce(&DemoInfo {
        server_url,
        staff_login: (login.username, login.password),
        samples,
        data_dir: dir.path().to_path_buf(),
        removed_on_exit: dir.remove,
    });
    quit_on_signal();
    let result = show(
        &kiosk_config,
        store,
        enrollment,
        settings,
        db_path,
        key_path,
    );
    drop(lock);
    drop(dir);
    result
}

/// The demo's sample patients, each with a pass valid for the day.
#[cfg(feature = "server")]
fn demo_samples(
    signer: &crate::pass::PassSigner,
    clinic: &crate::config::ClinicSettings,
    now: chrono::DateTime<Utc>,
) -> Vec<DemoSample> {
    use crate::pass::PassClaims;
    let today = now.with_timezone(&clinic.time_zone).date_naive();
    crate::server::demo::SAMPLES
        .iter()
        .map(|s| DemoSample {
            label: s.label.to_string(),
            date_of_birth: s.date_of_birth(today),
            last_name: s.last_name.to_string(),
            pass: signer
                .sign(&PassClaims {
                    clinic_id: clinic.id.clone(),
                    appointment_id: crate::domain::AppointmentId(s.appointment_id.to_string()),
                    expires_at: (now + chrono::Duration::hours(16)).timestamp(),
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// Runs the demo's clinic server on its own thread and runtime until the
/// process ends. A failure is logged: the kiosk then shows itself offline.
#[cfg(feature = "server")]
fn spawn_demo_server(
    listener: std::net::TcpListener,
    state: crate::server::AppState,
) -> Result<(), AppError> {
    std::thread::Builder::new()
        .name("clinic-server".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "the demo clinic server cannot start its runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                let served = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => crate::server::serve(listener, state, std::future::pending())
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "the demo clinic server stopped");
                }
            });
        })
        .map(|_| ())
        .map_err(|e| AppError::DemoServer(e.to_string()))
}

/// Watches the window-system events of a winit window (X11, or Wayland
/// under cage), which is what the kiosk runs in unless it draws straight to
/// the screen with linuxkms:
///
/// - `hide_cursor`: hides the pointer while it is over the window, from the
///   first frame on and again whenever it enters. Some touch controllers
///   also register a mouse, and then the compositor would show an arrow.
/// - `report_first_frame`: prints the wall-clock time at which the first
///   frame with a size has been rendered and handed to the window system,
///   as `first-frame-unix-ms: N` on stderr, for the cold-start benchmark
///   (`scripts/bench-kiosk.sh`), which knows when it started the process.
///   The software renderer has no rendering notifier, so the report comes
///   from a zero-delay timer started when the first redraw arrives: winit
///   runs timers at the start of the next event-loop turn, after that
///   redraw has been painted and presented.
///
/// On other backends this does nothing, and no first frame is reported.
fn watch_window(window: &AppWindow, hide_cursor: bool, report_first_frame: bool) {
    use slint::winit_030::winit::event::WindowEvent;
    use slint::winit_030::{EventResult, WinitWindowAccessor};

    let mut first_frame_pending = true;
    let mut cursor_hidden = false;
    window.window().on_winit_window_event(move |window, event| {
        match event {
            WindowEvent::RedrawRequested => {
                if hide_cursor && !cursor_hidden {
                    cursor_hidden = window
                        .with_winit_window(|w| w.set_cursor_visible(false))
                        .is_some();
                }
                let size = window.size();
                if first_frame_pending && size.width > 0 && size.height > 0 {
                    first_frame_pending = false;
                    // Mapped and drawn: it can take the keyboard now.
                    if let Some(Err(e)) = window.with_winit_window(take_keyboard_focus) {
                        tracing::warn!(error = %e, "the kiosk window could not take the keyboard focus; a scanner may need a click first");
                    }
                    if report_first_frame {
                        slint::Timer::single_shot(std::time::Duration::ZERO, || {
                            let ms = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_millis())
                                .unwrap_or(0);
                            eprintln!("first-frame-unix-ms: {ms}");
                        });
                    }
                }
            }
            WindowEvent::CursorEntered { .. } if hide_cursor => {
                window.with_winit_window(|w| w.set_cursor_visible(false));
            }
            _ => {}
        }
        EventResult::Propagate
    });
}

/// Gives the window the X keyboard focus when nobody holds it, as on a bare
/// X server with no window manager: a keyboard-wedge scanner's keystrokes
/// then reach the kiosk without a first tap. Under a window manager (which
/// gives the focus itself), Wayland or KMS it does nothing.
fn take_keyboard_focus(window: &slint::winit_030::winit::window::Window) -> Result<(), String> {
    use slint::winit_030::winit::raw_window_handle::{HasWindowHandle, RawWindowHandle};
    use x11rb::protocol::xproto::{ConnectionExt, InputFocus};

    let handle = window.window_handle().map_err(|e| e.to_string())?;
    let id = match handle.as_raw() {
        RawWindowHandle::Xlib(h) => u32::try_from(h.window).map_err(|e| e.to_string())?,
        RawWindowHandle::Xcb(h) => h.window.get(),
        _ => return Ok(()),
    };
    let (conn, _) = x11rb::connect(None).map_err(|e| e.to_string())?;
    let focus = conn
        .get_input_focus()
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?
        .focus;
    // 0 is None, 1 is PointerRoot: no window holds the focus.
    if focus > 1 {
        return Ok(());
    }
    conn.set_input_focus(InputFocus::PARENT, id, x11rb::CURRENT_TIME)
        .map_err(|e| e.to_string())?
        .check()
        .map_err(|e| e.to_string())
}

/// Whether an ALSA device name plays on a sound card of this machine
/// ("default", "hw:…", "plughw:…"), rather than through a plugin that may
/// send the audio elsewhere.
fn names_hardware(device: &str) -> bool {
    device == "default" || device.starts_with("hw:") || device.starts_with("plughw:")
}

/// Whether `dev_snd` (normally `/dev/snd`) holds a playback device
/// (`pcmC<card>D<device>p`).
fn has_playback_device(dev_snd: &Path) -> bool {
    std::fs::read_dir(dev_snd).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("pcmC") && name.ends_with('p')
        })
    })
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_demo_dir_is_removed_and_a_given_one_kept() {
        let temp = DemoDir::new(None);
        let path = temp.path().to_path_buf();
        assert!(path.starts_with(std::env::temp_dir()));
        let server = temp.create("server").unwrap();
        std::fs::write(server.join("clinic.db"), b"x").unwrap();
        drop(temp);
        assert!(!path.exists(), "{} left behind", path.display());

        let kept = tempfile::tempdir().unwrap();
        let given = DemoDir::new(Some(kept.path().join("demo")));
        let sub = given.create("kiosk").unwrap();
        drop(given);
        assert!(sub.exists());
    }

    #[test]
    fn an_unwritable_demo_dir_is_a_data_dir_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let dir = DemoDir::new(Some(file.path().to_path_buf()));
        let err = dir.create("server").unwrap_err();
        assert!(matches!(err, AppError::DataDir { .. }), "{err}");
        assert!(err.to_string().contains("cannot create the data directory"));
    }

    #[test]
    fn speech_looks_for_a_playback_device_before_opening_alsa() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_playback_device(&dir.path().join("absent")));
        std::fs::write(dir.path().join("controlC0"), "").unwrap();
        std::fs::write(dir.path().join("pcmC0D0c"), "").unwrap();
        assert!(!has_playback_device(dir.path()), "capture only");
        std::fs::write(dir.path().join("pcmC0D0p"), "").unwrap();
        assert!(has_playback_device(dir.path()));
        assert!(names_hardware("default") && names_hardware("plughw:0,0"));
        assert!(!names_hardware("pipewire"));
    }
}
