//! Staff read latency while kiosks commit: the console's list requests
//! (`GET .../flags`, the session check included) against a server whose
//! writer is busy with group-committed event batches, each commit an fsync
//! under `synchronous=FULL`. Since staff reads use the read-only
//! connection, they should not queue behind those commits.
//!
//! In process: the real router (`server::app`) over a file database in a
//! temporary directory (on the machine's disk), the demo clinic seeded.
//! `BENCH_KIOSKS` enrolled kiosks each post batches of `BENCH_BATCH`
//! `phi_viewed` events in a closed loop while one staff client lists the
//! flags back to back. Two phases of `BENCH_SECS` each: idle (no kiosks)
//! and under load. Reported: staff list p50, p99 and max, the number of
//! lists, and the events committed per second under load.
//!
//! Run: `cargo bench --bench staff_reads`
//! Knobs (environment): `BENCH_KIOSKS` (20), `BENCH_BATCH` (20),
//! `BENCH_SECS` (10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::config::ServerConfig;
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::protocol::{EnrollResponse, EventBatch, EventBody, EventEnvelope};
use checkin_kiosk::server::{self, AppState, demo, staff};
use chrono::Utc;
use http_body_util::BodyExt;
use tower::ServiceExt;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Vec<u8>, Option<String>) {
    let resp = app.clone().oneshot(req).await.expect("the router answers");
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    let body = resp.into_body().collect().await.expect("a body").to_bytes();
    (status, body.to_vec(), cookie)
}

fn json_post(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-requested-with", "bench")
        .body(Body::from(body))
        .expect("a request")
}

async fn enroll(app: &Router, state: &AppState, n: usize) -> String {
    let now = Utc::now();
    let code = state
        .db()
        .blocking(|c| staff::create_enrollment_code(c, &ClinicId::from("demo"), now))
        .expect("a code")
        .0;
    let body = serde_json::json!({
        "code": code, "kiosk_name": format!("Bench {n}"), "app_version": "bench"
    });
    let (s, b, _) = send(app, json_post("/api/v1/kiosk/enroll", body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let e: EnrollResponse = serde_json::from_slice(&b).expect("an enrollment");
    e.device_token
}

fn batch(size: usize, n: u64) -> String {
    let now = Utc::now();
    let events = (0..size)
        .map(|i| EventEnvelope {
            id: Uuid::new_v4(),
            occurred_at: now,
            appointment_id: Some(format!("demo-{:03}", (n as usize + i) % 42 + 1)),
            body: EventBody::PhiViewed {
                what: "identity".into(),
            },
        })
        .collect();
    serde_json::to_string(&EventBatch { events }).expect("JSON")
}

/// Lists the flags back to back until `stop`; the latencies, sorted.
async fn staff_lists(app: Router, cookie: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let req = Request::get("/api/v1/staff/clinics/demo/flags")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("a request");
        let t = Instant::now();
        let (s, _, _) = send(&app, req).await;
        out.push(t.elapsed());
        assert_eq!(s, StatusCode::OK);
    }
    out.sort();
    out
}

fn report(phase: &str, lists: &[Duration]) {
    let p = |q: f64| lists[((lists.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{phase:>10}: {} lists, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lists.len(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        lists.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let kiosks = env_or("BENCH_KIOSKS", 20) as usize;
    let batch_size = env_or("BENCH_BATCH", 20) as usize;
    let secs = Duration::from_secs(env_or("BENCH_SECS", 10));
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = ServerConfig::demo(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    );
    let (db, signer) = server::open_data_dir(&config).expect("the data dir");
    let clinic = config.clinics[0].clone();
    let day = Utc::now().with_timezone(&clinic.time_zone).date_naive();
    demo::seed(&db, &clinic, day, Utc::now()).expect("seeded");
    db.blocking(|c| {
        staff::add_staff(c, &clinic.id, "bench", PASSWORD, Utc::now()).expect("staff");
        Ok(())
    })
    .expect("staff");
    let state = AppState::new(config, db, signer);
    let app = server::app(state.clone());
    let login = serde_json::json!({"username": "bench", "password": PASSWORD}).to_string();
    let (s, _, cookie) = send(&app, json_post("/api/v1/staff/login", login)).await;
    assert_eq!(s, StatusCode::OK);
    let cookie = cookie.expect("a session cookie");
    let mut tokens = Vec::new();
    for n in 0..kiosks {
        tokens.push(enroll(&app, &state, n).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(staff_lists(app.clone(), cookie.clone(), stop.clone()));
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    report("idle", &reader.await.expect("the lister"));

    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for token in tokens {
        let (app, stop, events) = (app.clone(), stop.clone(), events.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let req = Request::post("/api/v1/kiosk/events")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::from(batch(batch_size, n)))
                    .expect("a request");
                let (s, b, _) = send(&app, req).await;
                assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
                events.fetch_add(batch_size as u64, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let started = Instant::now();
    let reader = tokio::spawn(staff_lists(app.clone(), cookie, stop.clone()));
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let lists = reader.await.expect("the lister");
    for l in load {
        l.await.expect("a kiosk");
    }
    let rate = events.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    report("under load", &lists);
    println!("{kiosks} kiosks x {batch_size} events: {rate:.0} events/s committed");
}
