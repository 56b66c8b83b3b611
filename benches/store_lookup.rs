//! Benchmark of the kiosk store's lookups with 5,000 cached appointments in
//! an encrypted database on disk: by appointment id (a scanned pass) and by
//! date of birth plus last-name prefix (the keypad), with p50, p99 and mean.
//! Also times opening the store (key, cipher check, integrity check,
//! migrations, purge) and recording one check-in step (a synced commit).
//!
//! Run: `cargo bench --bench store_lookup --no-default-features --features kiosk`

use std::time::{Duration, Instant};

use checkin_kiosk::domain::testkit::appointment;
use checkin_kiosk::domain::{
    Appointment, DomainEvent, KioskId, LookupQuery, PhiShown, normalize_name,
};
use checkin_kiosk::store::Store;
use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const APPOINTMENTS: usize = 5_000;
const LOOKUPS: usize = 20_000;
const OPENS: usize = 50;
const STEPS: usize = 300;

const LAST_NAMES: [&str; 24] = [
    "García",
    "Smith",
    "Nguyen",
    "Johnson",
    "Núñez-Ortega",
    "Williams",
    "O'Brien",
    "Brown",
    "Rodríguez",
    "Jones",
    "Martínez",
    "Miller",
    "Hernández",
    "Davis",
    "López",
    "Wilson",
    "González",
    "Anderson",
    "Pérez",
    "Thomas",
    "Sánchez",
    "Taylor",
    "Ramírez",
    "Moore",
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap()
}

/// A deterministic day of 5,000 appointments with spread-out birthdays.
fn schedule(rng: &mut StdRng) -> Vec<Appointment> {
    (0..APPOINTMENTS)
        .map(|i| {
            let last = format!(
                "{}{}",
                LAST_NAMES[i % LAST_NAMES.len()],
                ["", "son", "ez"][i % 3]
            );
            let dob = (
                rng.gen_range(1930..2020),
                rng.gen_range(1..=12),
                rng.gen_range(1..=28),
            );
            let hour = 7 + u32::try_from(i % 12).unwrap();
            let minute = 5 * u32::try_from(i % 12).unwrap();
            appointment(&format!("appt-{i:05}"), "Pat", &last, dob, hour, minute)
        })
        .collect()
}

/// Times `op` `n` times and returns the sorted durations.
fn measure(n: usize, mut op: impl FnMut(usize)) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let start = Instant::now();
            op(i);
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(name: &str, times: &[Duration]) {
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
    println!(
        "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
        times.len(),
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("kiosk.db");
    let key = dir.path().join("kiosk.key");
    let mut rng = StdRng::seed_from_u64(20260302);
    let list = schedule(&mut rng);

    let mut store = Store::open(&db, &key, now()).expect("the store opens");
    let fill = Instant::now();
    store
        .apply_schedule(true, &list, &[], "bench", now())
        .expect("the schedule applies");
    let fill = fill.elapsed();
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("kiosk.db-wal")).map_or(0, |m| m.len());
    println!(
        "{APPOINTMENTS} appointments applied in one full schedule update in {:.0} ms; \
         database and WAL {:.1} MiB",
        fill.as_secs_f64() * 1e3,
        size as f64 / (1024.0 * 1024.0)
    );
    println!();
    println!("| operation | iterations | p50 | p99 | mean |");
    println!("|---|---|---|---|---|");

    let picks: Vec<usize> = (0..LOOKUPS)
        .map(|_| rng.gen_range(0..APPOINTMENTS))
        .collect();
    let by_id = measure(LOOKUPS, |i| {
        let a = &list[picks[i]];
        let found = store.appointment_by_id(&a.id).expect("lookup by id");
        assert!(found.is_some());
    });
    report("lookup by appointment id (pass)", &by_id);

    let queries: Vec<LookupQuery> = picks
        .iter()
        .map(|&p| LookupQuery {
            date_of_birth: list[p].patient.date_of_birth,
            // The first three letters, as typed on the kiosk's keyboard.
            last_name_prefix: normalize_name(&list[p].patient.last_name)
                .chars()
                .take(3)
                .collect(),
        })
        .collect();
    let by_dob = measure(LOOKUPS, |i| {
        let found = store
            .lookup(&queries[i], 3)
            .expect("lookup by date of birth");
        assert!(!found.is_empty());
    });
    report("lookup by DOB + 3-letter prefix", &by_dob);

    let kiosk = KioskId::from("k-bench");
    let steps = measure(STEPS, |i| {
        let a = &list[picks[i]];
        let events = [
            DomainEvent::PhiShown {
                appointment_id: a.id.clone(),
                what: PhiShown::Identity,
                at: now(),
            },
            DomainEvent::Arrived {
                appointment_id: a.id.clone(),
                at: now(),
            },
        ];
        store
            .record_step(&kiosk, &events, now())
            .expect("the step is recorded");
    });
    report("record_step, 2 events (synced commit)", &steps);
    drop(store);

    let opens = measure(OPENS, |_| {
        let store = Store::open(&db, &key, now()).expect("the store reopens");
        drop(store);
    });
    report("open (key, cipher, quick_check, migrate, purge)", &opens);
}
