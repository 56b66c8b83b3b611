//! Benchmarks of the kiosk UI in process, release build, Slint's software
//! renderer drawing 1080×1920 RGB frames into memory. The window never
//! repaints partially, so every frame is a whole-screen repaint with warm
//! glyph caches, as the kiosk's first paint of each screen is:
//!
//! - a full frame of every screen, drawn again and again;
//! - scan to appointment screen with 5,000 appointments cached: from the
//!   scanner's first key to the end of the first frame that shows the
//!   match, including pass verification, the store lookup, the commit of
//!   the arrival and the render.
//!
//! Run: `cargo bench --bench kiosk_ui --no-default-features --features kiosk`
//!
//! Nothing here runs the idle or Done timers: each scanned patient finishes
//! check-in to bring the kiosk back to Welcome.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkin_kiosk::domain::testkit::{TZ, appointment};
use checkin_kiosk::domain::{
    Appointment, AppointmentId, ClinicId, FixedClock, FlowSettings, KioskId, LocationId,
    LookupThrottle, normalize_name,
};
use checkin_kiosk::kiosk::adapters::{KioskUi, Timings};
use checkin_kiosk::kiosk::repository::StoreRepository;
use checkin_kiosk::kiosk::ui::{
    AppWindow, CoPayAdapter, DemographicsAdapter, DobAdapter, DoneAdapter, EditDemographicsAdapter,
    EditInsuranceAdapter, InsuranceAdapter, KioskAdapter, NameAdapter, PayPhoneAdapter, Screen,
    WelcomeAdapter,
};
use checkin_kiosk::kiosk::{CheckInController, KioskContext};
use checkin_kiosk::pass::{PassClaims, PassSigner};
use checkin_kiosk::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use slint::ComponentHandle;
use slint::Rgb8Pixel;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter, WindowEvent};

const APPOINTMENTS: usize = 5_000;
const SCANS: usize = 300;
const FRAMES: usize = 60;
const WIDTH: u32 = 1080;
const HEIGHT: u32 = 1920;

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

thread_local! {
    static PIXELS: RefCell<Vec<Rgb8Pixel>> =
        RefCell::new(vec![Rgb8Pixel::default(); (WIDTH * HEIGHT) as usize]);
}

/// Draws one full frame of whatever the window shows now.
fn frame(surface: &MinimalSoftwareWindow) {
    slint::platform::update_timers_and_animations();
    surface.request_redraw();
    let drawn = surface.draw_if_needed(|renderer| {
        PIXELS.with(|pixels| {
            renderer.render(pixels.borrow_mut().as_mut_slice(), WIDTH as usize);
        });
    });
    assert!(drawn, "a frame was drawn");
}

fn day_start() -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2026, 3, 2, 7, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn schedule() -> Vec<Appointment> {
    let names = [
        "García",
        "Nguyen",
        "Núñez-Ortega",
        "O'Brien",
        "Smith",
        "Okafor",
    ];
    (0..APPOINTMENTS)
        .map(|i| {
            let dob = (
                1930 + i32::try_from(i % 90).unwrap(),
                1 + u32::try_from(i % 12).unwrap(),
                1 + u32::try_from(i % 28).unwrap(),
            );
            let hour = 7 + u32::try_from(i % 10).unwrap();
            let minute = 5 * u32::try_from(i % 12).unwrap();
            let last = format!("{}{}", names[i % names.len()], i / names.len());
            appointment(&format!("appt-{i:05}"), "Pat", &last, dob, hour, minute)
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let surface = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    surface.set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    slint::platform::set_platform(Box::new(BenchPlatform {
        window: surface.clone(),
        start: Instant::now(),
    }))
    .expect("the platform is set once");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let list = schedule();
    let mut store = Store::open(
        &dir.path().join("kiosk.db"),
        &dir.path().join("kiosk.key"),
        day_start(),
    )
    .expect("the store opens");
    store
        .apply_schedule(true, &list, &[], "bench", day_start())
        .expect("the schedule applies");
    let signer = PassSigner::generate();
    let clock = Arc::new(FixedClock::new(day_start()));
    let controller = CheckInController::new(
        StoreRepository {
            store,
            kiosk_id: KioskId("bench".into()),
        },
        KioskContext {
            clinic_id: ClinicId("c1".into()),
            clinic_name: "Riverside Family Clinic".into(),
            time_zone: TZ,
            payment_link: Some("https://pay.example.org/p/{reference}".into()),
            flow: FlowSettings::with_location(LocationId("main".into())),
            self_pay: None,
            clock_24h: false,
        },
        Some(signer.verifier()),
        clock.clone(),
        LookupThrottle::standard(),
    );
    let window = AppWindow::new().expect("the window");
    window.show().expect("shown");
    let _ui = KioskUi::connect(
        &window,
        controller,
        "Riverside Family Clinic",
        Timings::default(),
    );
    frame(&surface);
    let screen = || window.global::<KioskAdapter>().get_screen();

    // Scan to appointment screen.
    let mut times = Vec::with_capacity(SCANS);
    for n in 0..SCANS {
        let a = &list[(n * 7919) % APPOINTMENTS];
        let start_utc = a.start.with_timezone(&Utc);
        clock.set(start_utc - chrono::Duration::minutes(5));
        let pass = signer
            .sign(&PassClaims {
                clinic_id: ClinicId("c1".into()),
                appointment_id: AppointmentId(a.id.0.clone()),
                expires_at: (start_utc + chrono::Duration::hours(4)).timestamp(),
            })
            .expect("signed");
        let keys: Vec<slint::SharedString> = pass
            .chars()
            .chain(std::iter::once('\n'))
            .map(|c| c.to_string().into())
            .collect();
        let start = Instant::now();
        for text in keys {
            window
                .window()
                .dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            window
                .window()
                .dispatch_event(WindowEvent::KeyReleased { text });
        }
        frame(&surface);
        let elapsed = start.elapsed();
        assert_eq!(screen(), Screen::Demographics, "the scan reached the match");
        times.push(elapsed);
        window.global::<DemographicsAdapter>().invoke_correct();
        window.global::<InsuranceAdapter>().invoke_still_correct();
        window.global::<CoPayAdapter>().invoke_front_desk();
        window.global::<DoneAdapter>().invoke_finish();
        assert_eq!(screen(), Screen::Welcome);
    }
    times.sort();
    println!("## Scan to appointment screen, {APPOINTMENTS} appointments cached, {SCANS} scans");
    println!();
    println!("| p50 | p99 | max |");
    println!("|---|---|---|");
    println!(
        "| {} | {} | {} |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().expect("measured"))
    );
    println!();

    // A full frame of every screen; navigation goes through the adapter
    // globals, as release builds carry no element debug info.
    println!("## Full software-rendered frame at 1080×1920, {FRAMES} frames per screen");
    println!();
    println!("| screen | p50 | p99 | max |");
    println!("|---|---|---|---|");
    let mut worst = (String::new(), Duration::ZERO);
    let mut measure = |name: &str| {
        let mut t: Vec<Duration> = (0..FRAMES)
            .map(|_| {
                let s = Instant::now();
                frame(&surface);
                s.elapsed()
            })
            .collect();
        t.sort();
        let p99 = percentile(&t, 0.99);
        if p99 > worst.1 {
            worst = (name.to_string(), p99);
        }
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(&t, 0.5)),
            ms(p99),
            ms(*t.last().expect("measured"))
        );
    };
    let a = &list[42];
    clock.set(a.start.with_timezone(&Utc) - chrono::Duration::minutes(5));
    measure("welcome");
    window.global::<WelcomeAdapter>().invoke_use_dob();
    for d in a.patient.date_of_birth.format("%m%d%Y").to_string().chars() {
        window
            .global::<DobAdapter>()
            .invoke_typed(d.to_string().into());
    }
    measure("date of birth");
    window.global::<DobAdapter>().invoke_submit();
    // The whole name, so exactly one appointment matches.
    for c in normalize_name(&a.patient.last_name).to_uppercase().chars() {
        window
            .global::<NameAdapter>()
            .invoke_typed(c.to_string().into());
    }
    measure("last name");
    window.global::<NameAdapter>().invoke_submit();
    assert_eq!(screen(), Screen::Demographics);
    measure("demographics");
    window.global::<DemographicsAdapter>().invoke_update();
    measure("edit demographics");
    window.global::<EditDemographicsAdapter>().invoke_back();
    window.global::<DemographicsAdapter>().invoke_correct();
    measure("insurance");
    window.global::<InsuranceAdapter>().invoke_changed();
    measure("edit insurance");
    window.global::<EditInsuranceAdapter>().invoke_back();
    window.global::<InsuranceAdapter>().invoke_still_correct();
    measure("co-pay");
    window.global::<CoPayAdapter>().invoke_phone();
    measure("pay on phone");
    window.global::<PayPhoneAdapter>().invoke_done();
    measure("done");
    window.global::<KioskAdapter>().invoke_help();
    assert_eq!(screen(), Screen::Help);
    measure("help");
    println!();
    println!("worst screen: {} at {} p99", worst.0, ms(worst.1));
}
