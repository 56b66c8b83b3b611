//! Benchmarks of the kiosk UI in process, release build, software renderer
//! at 1080×1920 (the headless testing backend with its real rasterizer):
//!
//! - a full frame of every screen, rendered again and again;
//! - scan to appointment screen with 5,000 appointments cached: from the
//!   scanner's first key to the first frame that shows the match,
//!   including pass verification, the store lookup, the commit of the
//!   arrival and the render.
//!
//! Run: `cargo bench --bench kiosk_ui --no-default-features --features kiosk`

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkin_kiosk::domain::testkit::{TZ, appointment};
use checkin_kiosk::domain::{
    Appointment, AppointmentId, ClinicId, FixedClock, FlowSettings, KioskId, LocationId,
    LookupThrottle,
};
use checkin_kiosk::kiosk::adapters::{KioskUi, Timings};
use checkin_kiosk::kiosk::repository::StoreRepository;
use checkin_kiosk::kiosk::ui::{
    AppWindow, CoPayAdapter, DemographicsAdapter, DobAdapter, EditDemographicsAdapter,
    EditInsuranceAdapter, InsuranceAdapter, KioskAdapter, NameAdapter, PayPhoneAdapter, Screen,
    WelcomeAdapter,
};
use checkin_kiosk::kiosk::{CheckInController, KioskContext};
use checkin_kiosk::pass::{PassClaims, PassSigner};
use checkin_kiosk::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use i_slint_backend_testing::{TestingBackend, TestingBackendOptions};
use slint::ComponentHandle;
use slint::platform::WindowEvent;

const APPOINTMENTS: usize = 5_000;
const SCANS: usize = 300;
const FRAMES: usize = 60;

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

fn frame(window: &AppWindow) {
    let shot = window.window().take_snapshot().expect("a software frame");
    std::hint::black_box(shot);
}

fn main() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: true,
        threading: false,
        renderer_name: Some("software".into()),
    })))
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
        },
        Some(signer.verifier()),
        clock.clone(),
        LookupThrottle::standard(),
    );
    let window = AppWindow::new().expect("the window");
    window
        .window()
        .set_size(slint::PhysicalSize::new(1080, 1920));
    window.show().expect("shown");
    let _ui = KioskUi::connect(
        &window,
        controller,
        "Riverside Family Clinic",
        Timings::default(),
    );
    let screen = || window.global::<KioskAdapter>().get_screen();

    // Scan to appointment screen.
    let mut times = Vec::with_capacity(SCANS);
    for n in 0..SCANS {
        let a = &list[(n * 7919) % APPOINTMENTS];
        clock.set(a.start.with_timezone(&Utc) - chrono::Duration::minutes(5));
        let pass = signer
            .sign(&PassClaims {
                clinic_id: ClinicId("c1".into()),
                appointment_id: AppointmentId(a.id.0.clone()),
                expires_at: (a.start.with_timezone(&Utc) + chrono::Duration::hours(4)).timestamp(),
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
                .dispatch_event(WindowEvent::KeyPressed { text });
        }
        frame(&window);
        let elapsed = start.elapsed();
        assert_eq!(
            screen(),
            Screen::Demographics,
            "the scan reached the appointment"
        );
        times.push(elapsed);
        // The idle reset brings the next patient back to Welcome.
        for _ in 0..61 {
            i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(1));
        }
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

    // A full frame of every screen.
    println!("## Full software-rendered frame at 1080×1920, {FRAMES} frames per screen");
    println!();
    println!("| screen | p50 | p99 | max |");
    println!("|---|---|---|---|");
    let mut worst = (String::new(), Duration::ZERO);
    let mut measure = |name: &str| {
        let mut t: Vec<Duration> = (0..FRAMES)
            .map(|_| {
                let s = Instant::now();
                frame(&window);
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
    // Navigation goes through the adapter globals (release builds carry no
    // element debug info for label lookups).
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
    for c in checkin_kiosk::domain::normalize_name(&a.patient.last_name)
        .to_uppercase()
        .chars()
    {
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
