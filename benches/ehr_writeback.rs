//! EHR write-back latency against the real FHIR server on loopback: the
//! time from a kiosk's `arrived` event being posted to the clinic server
//! until the EHR's `Appointment.status` reads `arrived`.
//!
//! The clinic server runs with `server::run` (so its EHR connector runs as
//! in production, woken when the ingest commits); the EHR is sekmet-fhir
//! (`scripts/install-fhir-server`, or `SEKMET_BIN`), seeded with one
//! booked appointment per sample. The time is read by polling the EHR's
//! `GET Appointment/<id>` every 2 ms, so it includes up to 2 ms of polling
//! slack. Target: ≤ 500 ms p99.
//!
//! Run: `cargo bench --bench ehr_writeback`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checkin_kiosk::config::parse_server;
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::{self, staff};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

/// Appointments seeded, one arrival each.
const SAMPLES: usize = 200;
/// The EHR is polled this often for the new status.
const POLL: Duration = Duration::from_millis(2);

/// Kills the FHIR server when the bench ends.
struct Ehr(Child);

impl Drop for Ehr {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sekmet_bin() -> PathBuf {
    std::env::var_os("SEKMET_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-fhir/bin/sekmet"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts sekmet in `dir` and waits for it; returns it and its base URL.
async fn start_ehr(dir: &Path, http: &reqwest::Client) -> (Ehr, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/fhir");
    let config = dir.join("sekmet.yaml");
    std::fs::write(
        &config,
        format!(
            "base_url: {base}\nhost: 127.0.0.1\nport: {port}\ndata_dir: {}\nsimulator: {{enabled: false}}\nown_private_key_path: {}\n",
            dir.join("data").display(),
            dir.join("own.pem").display()
        ),
    )
    .expect("sekmet config");
    let log = std::fs::File::create(dir.join("sekmet.log")).expect("log");
    let child = Command::new(sekmet_bin())
        .arg("serve")
        .env("SEKMET_CONFIG", &config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("starting sekmet (run scripts/install-fhir-server)");
    let ehr = Ehr(child);
    for _ in 0..300 {
        if http
            .get(format!("{base}/metadata"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (ehr, base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("sekmet did not start");
}

/// One booked appointment per sample today, each with its own patient.
fn seed() -> Value {
    let zone = chrono_tz::America::Chicago;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let midnight = zone
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let put = |r: Value| {
        let url = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        json!({"request": {"method": "PUT", "url": url}, "resource": r})
    };
    let mut entries = vec![put(
        json!({"resourceType": "Location", "id": "loc", "name": "North"}),
    )];
    for i in 0..SAMPLES {
        let start = midnight + chrono::Duration::minutes(5 * i as i64 + 5);
        entries.push(put(
            json!({"resourceType": "Patient", "id": format!("p{i}"), "birthDate": "1980-01-02",
            "name": [{"family": format!("Roe{i}"), "given": ["Jo"]}]}),
        ));
        entries.push(put(json!({
            "resourceType": "Appointment", "id": format!("a{i}"), "status": "booked",
            "start": start.to_rfc3339(), "end": (start + chrono::Duration::minutes(5)).to_rfc3339(),
            "participant": [
                {"actor": {"reference": format!("Patient/p{i}")}, "status": "accepted"},
                {"actor": {"reference": "Location/loc"}, "status": "accepted"}
            ]
        })));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("dir");
    let http = reqwest::Client::new();
    let (_ehr, base) = start_ehr(dir.path(), &http).await;
    let r = http
        .post(&base)
        .header("content-type", "application/fhir+json")
        .body(seed().to_string())
        .send()
        .await
        .expect("seed");
    assert!(r.status().is_success(), "seed: {}", r.status());

    let text = format!(
        "[server]\ndata_dir = \"{}\"\n[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n[clinic.fhir]\nbase_url = \"{base}\"\nlocation = \"Location/loc\"\npoll_secs = 86400\n",
        dir.path().join("server").display()
    );
    let config = parse_server(&text, &dir.path().join("clinic-server.toml")).expect("config");
    let code = {
        let (db, _) = server::open_data_dir(&config).expect("data dir");
        db.blocking(|c| staff::create_enrollment_code(c, &ClinicId::from("north"), Utc::now()))
            .expect("code")
            .0
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::run(listener, config, std::future::pending()));

    let enrolled: Value = http
        .post(format!("{server_url}/api/v1/kiosk/enroll"))
        .json(&json!({"code": code, "kiosk_name": "Bench", "app_version": "0.1.0"}))
        .send()
        .await
        .expect("enroll")
        .json()
        .await
        .expect("enroll json");
    let token = enrolled["device_token"]
        .as_str()
        .expect("token")
        .to_string();
    wait_for_first_pull(&http, &server_url, &token).await;
    let (mut answered, mut to_ehr) = measure(&http, &server_url, &base, &token).await;
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
    report("kiosk event posted → event batch answered", &mut answered);
    report(
        "kiosk event posted → EHR Appointment.status = arrived",
        &mut to_ehr,
    );
}

/// Posts one arrival per appointment and times it until the batch is
/// answered and until the EHR reads `arrived`.
async fn measure(
    http: &reqwest::Client,
    server_url: &str,
    base: &str,
    token: &str,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut to_ehr = Vec::with_capacity(SAMPLES);
    let mut answered = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let id = format!("a{i}");
        let batch = json!({"events": [{"id": uuid::Uuid::new_v4(), "occurred_at": Utc::now(), "appointment_id": id, "body": {"type": "arrived"}}]});
        let t0 = Instant::now();
        let r = http
            .post(format!("{server_url}/api/v1/kiosk/events"))
            .bearer_auth(token)
            .json(&batch)
            .send()
            .await
            .expect("events");
        assert!(r.status().is_success());
        answered.push(t0.elapsed());
        loop {
            let a: Value = http
                .get(format!("{base}/Appointment/{id}"))
                .send()
                .await
                .expect("read")
                .json()
                .await
                .expect("read json");
            if a["status"] == "arrived" {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{id} never arrived");
            tokio::time::sleep(POLL).await;
        }
        to_ehr.push(t0.elapsed());
        // Let the EHR settle between samples, as arrivals are spread out.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (answered, to_ehr)
}

/// Waits until the connector's first pull has put every appointment on
/// the kiosk schedule.
async fn wait_for_first_pull(http: &reqwest::Client, server_url: &str, token: &str) {
    // Wait for the connector's first pull.
    loop {
        let s: Value = http
            .get(format!("{server_url}/api/v1/kiosk/schedule"))
            .bearer_auth(token)
            .send()
            .await
            .expect("schedule")
            .json()
            .await
            .expect("schedule json");
        if s["upserts"].as_array().is_some_and(|u| u.len() == SAMPLES) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
