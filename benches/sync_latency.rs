//! Sync benchmarks against the real clinic server on loopback:
//!
//! 1. Commit to console: the time from a kiosk committing an `arrived`
//!    event to its local store until the staff console's event stream
//!    (`GET /api/v1/staff/clinics/{clinic}/stream`, server-sent events)
//!    shows that appointment's change. The kiosk runs the real sync worker
//!    with the default settings; the UI's notification is what wakes it.
//!    Target: ≤ 1 s.
//! 2. The size of a delta schedule pull when nothing changed, as the worker
//!    sends it. Target: ≤ 1 KiB.
//!
//! Run: `cargo bench --bench sync_latency`

use std::time::{Duration, Instant};

use checkin_kiosk::config::{KioskConfig, ServerConfig};
use checkin_kiosk::domain::{AppointmentId, AppointmentStatus, DomainEvent};
use checkin_kiosk::protocol::{ChangeNotice, ScheduleResponse};
use checkin_kiosk::server::{self, demo};
use checkin_kiosk::store::Store;
use checkin_kiosk::sync::{self, SyncSettings, SyncWorker};
use chrono::Utc;

/// Rounds over every booked demo appointment.
const ROUNDS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig::demo(dir.path().join("server"), "127.0.0.1:0".parse().unwrap());
    let (db, _) = server::open_data_dir(&config).expect("server data dir");
    let login = demo::prepare(&db, &config, Utc::now()).expect("demo clinic");
    let clinic_id = config.clinics[0].id.to_string();

    // The server, on its own runtime and thread.
    let (ready, bound) = std::sync::mpsc::channel();
    let server_config = config.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ready.send(listener.local_addr().unwrap()).unwrap();
            server::run(listener, server_config, std::future::pending())
                .await
                .expect("server");
        });
    });
    let addr = bound.recv().expect("server address");
    let base = format!("http://{addr}");

    // The kiosk: enrolled through the real code path, default settings.
    let kiosk_dir = tempfile::tempdir().expect("kiosk dir");
    let kiosk_cfg = KioskConfig::demo(kiosk_dir.path().to_path_buf());
    let settings = SyncSettings::from_config(&kiosk_cfg, format!("{base}/").parse().unwrap());
    let enrollment = sync::enroll_kiosk(
        &settings,
        kiosk_dir.path(),
        &login.enrollment_code,
        "Bench kiosk",
        false,
    )
    .expect("enroll");
    let (db_path, key_path) = sync::store_paths(kiosk_dir.path());
    let mut store = Store::open(&db_path, &key_path, Utc::now()).expect("kiosk store");
    let worker = SyncWorker::spawn(settings.clone(), db_path, key_path, |_| {}).expect("worker");
    let notifier = worker.notifier();

    let rt = tokio::runtime::Runtime::new().expect("bench runtime");
    let http = reqwest::Client::new();

    // The staff console's live stream.
    let cookie = rt.block_on(async {
        let resp = http
            .post(format!("{base}/api/v1/staff/login"))
            .header("x-requested-with", "bench")
            .json(&serde_json::json!({"username": login.username, "password": login.password}))
            .send()
            .await
            .expect("login");
        assert!(resp.status().is_success(), "login: {}", resp.status());
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
        set.split(';').next().unwrap().to_string()
    });
    let (notices_tx, notices) = std::sync::mpsc::channel::<(String, Instant)>();
    let stream_url = format!("{base}/api/v1/staff/clinics/{clinic_id}/stream");
    let stream_http = http.clone();
    rt.spawn(async move {
        let mut resp = stream_http
            .get(stream_url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("stream");
        let mut buf = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(n) = serde_json::from_str::<ChangeNotice>(data.trim())
                        && n.kind == "appointment"
                    {
                        let _ = notices_tx.send((n.id, Instant::now()));
                    }
                }
            }
        }
    });

    // Wait for the first schedule pull.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.appointment_count().unwrap() == 0 {
        assert!(Instant::now() < deadline, "no schedule pulled");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300)); // let the stream connect
    let booked: Vec<AppointmentId> = (1..=42)
        .map(|i| AppointmentId(format!("demo-{i:03}")))
        .filter(|id| {
            store
                .appointment_by_id(id)
                .unwrap()
                .is_some_and(|a| a.status == AppointmentStatus::Booked)
        })
        .collect();

    let mut from_commit_start = Vec::new();
    let mut from_commit_done = Vec::new();
    for round in 0..ROUNDS {
        if round > 0 {
            // Put the day back to "booked" on the server, so each arrival
            // changes the appointment (and is announced) again.
            let ids: Vec<String> = booked.iter().map(|a| a.0.clone()).collect();
            db.blocking(move |c| {
                for id in &ids {
                    c.execute(
                        "UPDATE appointments SET status = 'booked' WHERE appointment_id = ?1",
                        [id],
                    )?;
                }
                Ok(())
            })
            .expect("reset");
        }
        while notices.try_recv().is_ok() {}
        for id in &booked {
            let start = Instant::now();
            store
                .record_step(
                    &enrollment.kiosk_id,
                    &[DomainEvent::Arrived {
                        appointment_id: id.clone(),
                        at: Utc::now(),
                    }],
                    Utc::now(),
                )
                .expect("commit");
            let committed = Instant::now();
            notifier.notify();
            loop {
                let (seen, at) = notices
                    .recv_timeout(Duration::from_secs(10))
                    .expect("the arrival on the staff stream");
                if seen == id.0 {
                    from_commit_start.push(at - start);
                    from_commit_done.push(at - committed);
                    break;
                }
            }
        }
    }

    // A delta pull when nothing changed, exactly as the worker sends it.
    let token = store.enrollment().unwrap().unwrap().device_token;
    let (body_bytes, header_bytes, request_bytes, full, changes) = rt.block_on(async {
        let pull = |since: Option<String>| {
            let mut req = http
                .get(format!("{base}/api/v1/kiosk/schedule"))
                .bearer_auth(&token);
            if let Some(s) = since {
                req = req.query(&[("since", s)]);
            }
            req
        };
        // Catch up first, so the measured pull has nothing to send.
        let caught_up: ScheduleResponse = pull(Some(store.cursor().unwrap()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let req = pull(Some(caught_up.cursor.clone())).build().unwrap();
        let request_line = format!(
            "GET {}?{} HTTP/1.1\r\n",
            req.url().path(),
            req.url().query().unwrap_or("")
        );
        let request_bytes = request_line.len()
            + header_block(req.headers())
            + format!("host: {addr}\r\n").len()
            + 2;
        let resp = http.execute(req).await.unwrap();
        let header_bytes = "HTTP/1.1 200 OK\r\n".len() + header_block(resp.headers()) + 2;
        let body = resp.bytes().await.unwrap();
        let parsed: ScheduleResponse = serde_json::from_slice(&body).unwrap();
        (
            body.len(),
            header_bytes,
            request_bytes,
            parsed.full,
            parsed.upserts.len() + parsed.removals.len(),
        )
    });
    worker.shutdown();

    let report = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            v.len(),
            p(0.5).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3
        );
    };
    println!("| measure | samples | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    report(
        "record_step start → arrival on the staff stream",
        &mut from_commit_start,
    );
    report(
        "commit returned → arrival on the staff stream",
        &mut from_commit_done,
    );
    println!();
    println!(
        "empty delta pull: full={full}, changes={changes}; response body {body_bytes} B, \
         response status line + headers {header_bytes} B, total response {} B; \
         request line + headers {request_bytes} B",
        body_bytes + header_bytes
    );
}

/// The bytes of `name: value\r\n` lines.
fn header_block(headers: &reqwest::header::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.as_bytes().len() + 2)
        .sum()
}
