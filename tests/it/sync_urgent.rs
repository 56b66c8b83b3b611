//! The urgent round trip, end to end: the real kiosk sync worker against
//! the real clinic server (`server::run` on SQLite, on 127.0.0.1:0), with a
//! staff member's live stream open over the socket.
//!
//! - Online: a PHQ-9 with item 9 above 0, recorded in the kiosk's store
//!   and outbox as the app records it, shows up on the staff stream as the
//!   `screening_positive` flag. The assertion is a generous timeout; the
//!   latency is measured and printed (BENCHMARKS.md keeps the figure).
//! - Offline: events recorded while the server is down are delivered when
//!   it is back, the urgent form before the ordinary events recorded
//!   earlier, and its flag is stored before theirs.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use checkin_kiosk::config::KioskConfig;
use checkin_kiosk::domain::forms_session::{CompletedForm, DueForm};
use checkin_kiosk::domain::screening::{Instrument, score_response};
use checkin_kiosk::domain::{
    AppointmentId, DomainEvent, FlagRaised, KioskId, Language, PatientId, ReasonCode, Step,
};
use checkin_kiosk::server::{demo, staff};
use checkin_kiosk::store::Store;
use checkin_kiosk::sync::{self, SyncSettings, SyncWorker};
use chrono::Utc;
use uuid::Uuid;

use super::server::PASSWORD;
use super::server_forms::answers;
use super::sync::{Clinic, PATIENCE, fast_settings, wait_for};

/// The visit whose patient has the PHQ-2 due, with the PHQ-9 to step up to.
const VISIT: &str = "demo-003";

/// How many urgent forms the online test sends, one at a time, to measure
/// the latency of each.
const ROUNDS: usize = 20;

/// The most the online test waits for one notice: an assertion that it
/// arrives, not a performance target.
const NOTICE_PATIENCE: Duration = Duration::from_secs(10);

/// A kiosk with its own store connection (the UI side's) and its worker.
struct Kiosk {
    dir: tempfile::TempDir,
    settings: SyncSettings,
    store: Store,
    id: KioskId,
    worker: Option<SyncWorker>,
}

impl Kiosk {
    /// Enrolled with `clinic` through the real enrollment, with the sync
    /// settings `settings` makes for its data directory.
    fn enrolled(clinic: &Clinic, settings: impl FnOnce(&std::path::Path) -> SyncSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let code = clinic.code();
        let enrollment =
            sync::enroll_kiosk(&settings, dir.path(), &code, "Lobby urgent", false).unwrap();
        let (db, key) = sync::store_paths(dir.path());
        let store = Store::open(&db, &key, Utc::now()).unwrap();
        Self {
            dir,
            settings,
            store,
            id: enrollment.kiosk_id,
            worker: None,
        }
    }

    fn start(&mut self) {
        let (db, key) = sync::store_paths(self.dir.path());
        self.worker = Some(SyncWorker::spawn(self.settings.clone(), db, key, |_| {}).unwrap());
    }

    /// Commits one step locally and wakes the worker, as the UI does.
    fn record(&mut self, events: &[DomainEvent]) -> Vec<Uuid> {
        let ids = self
            .store
            .record_step(&self.id, events, Utc::now())
            .unwrap();
        if let Some(w) = &self.worker {
            w.notifier().notify();
        }
        ids
    }

    /// The PHQ-9 the kiosk cached from its schedule pull for [`VISIT`]:
    /// the step-up of the PHQ-2 due there.
    fn cached_phq9(&self) -> DueForm {
        wait_for("the schedule with its forms", || {
            self.store
                .forms_for(&AppointmentId::from(VISIT))
                .is_ok_and(|s| s.step_up.is_some())
        });
        let set = self.store.forms_for(&AppointmentId::from(VISIT)).unwrap();
        assert_eq!(set.due.first().map(|d| d.id.as_str()), Some("phq-2"));
        set.step_up.unwrap()
    }

    fn wait_delivered(&self) {
        wait_for("the outbox to drain", || {
            self.store.stats(Utc::now()).unwrap().depth == 0
        });
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown();
        }
    }
}

/// The patient of [`VISIT`] on the demo day.
fn patient(clinic: &Clinic) -> PatientId {
    let c = &clinic.config.clinics[0];
    let today = Utc::now().with_timezone(&c.time_zone).date_naive();
    demo::appointments(c, today)
        .into_iter()
        .find(|a| a.id.as_str() == VISIT)
        .unwrap()
        .patient
        .id
}

/// A PHQ-9 completed with a low total but item 9 above 0, as the forms
/// session hands it to the store: urgent by the same rule.
fn urgent_phq9(phq9: &DueForm, patient: &PatientId) -> DomainEvent {
    let mut weights: Vec<(String, i32)> = (1..=8).map(|i| (format!("phq9-{i}"), 0)).collect();
    weights.push(("phq9-9".into(), 1));
    let weights: Vec<(&str, i32)> = weights.iter().map(|(k, w)| (k.as_str(), *w)).collect();
    let response = answers(&phq9.form, &weights);
    let urgent = Instrument::for_form(&phq9.id) == Some(Instrument::Phq9)
        && score_response(Instrument::Phq9, &phq9.form, &response)
            .is_ok_and(|s| s.urgent().is_some());
    assert!(urgent, "item 9 above 0 is urgent");
    DomainEvent::FormCompleted {
        appointment_id: AppointmentId::from(VISIT),
        patient_id: patient.clone(),
        completed: Box::new(CompletedForm {
            form: phq9.clone(),
            response,
            language: Language::Es,
            signature_png: None,
            signature_name: None,
            urgent,
        }),
        at: Utc::now(),
    }
}

/// A staff member's live stream, read on its own thread: each change
/// notice, with the instant it arrived.
struct StaffStream {
    notices: mpsc::Receiver<(serde_json::Value, Instant)>,
}

impl StaffStream {
    /// Signs `user` in over the socket and opens the clinic's stream;
    /// returns once the server has answered, so the stream is subscribed.
    fn open(addr: std::net::SocketAddr, user: &str) -> Self {
        let (tx, notices) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let user = user.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(read_stream(addr, user, ready_tx, tx));
        });
        ready
            .recv_timeout(PATIENCE)
            .expect("the staff stream opens");
        Self { notices }
    }

    /// The next `flag` notice, and when it arrived; panics after `patience`.
    fn next_flag(&self, patience: Duration) -> (serde_json::Value, Instant) {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (notice, at) = self
                .notices
                .recv_timeout(left)
                .expect("the flag's notice on the staff stream in time");
            if notice["kind"] == "flag" {
                return (notice, at);
            }
        }
    }
}

async fn read_stream(
    addr: std::net::SocketAddr,
    user: String,
    ready: mpsc::Sender<()>,
    notices: mpsc::Sender<(serde_json::Value, Instant)>,
) {
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let login = client
        .post(format!("{base}/api/v1/staff/login"))
        .header("x-requested-with", "test")
        .json(&serde_json::json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut stream = client
        .get(format!("{base}/api/v1/staff/clinics/demo/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    ready.send(()).unwrap();
    let mut text = String::new();
    while let Ok(Some(chunk)) = stream.chunk().await {
        let at = Instant::now();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(v) = serde_json::from_str(data.trim())
                    && notices.send((v, at)).is_err()
                {
                    return;
                }
            }
        }
    }
}

/// The code and appointment of the flag with `id`, as the server stored it.
fn stored_flag(clinic: &Clinic, id: i64) -> (String, String) {
    clinic
        .db
        .blocking(move |c| {
            Ok(c.query_row(
                "SELECT code, appointment_id FROM flags WHERE flag_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap()
}

fn add_staff(clinic: &Clinic, user: &str) {
    let id = clinic.clinic_id();
    let user = user.to_string();
    clinic
        .db
        .blocking(move |c| {
            staff::add_staff(c, &id, &user, PASSWORD, Utc::now()).unwrap();
            Ok(())
        })
        .unwrap();
}

#[test]
fn an_urgent_phq9_reaches_the_staff_stream_online() {
    let clinic = Clinic::start();
    add_staff(&clinic, "amy");
    let url: url::Url = format!("http://{}/", clinic.addr).parse().unwrap();
    // The kiosk's production sync settings: the push is woken by the step.
    let mut kiosk = Kiosk::enrolled(&clinic, |dir| {
        SyncSettings::from_config(&KioskConfig::demo(dir.to_path_buf()), url.clone())
    });
    kiosk.start();
    let phq9 = kiosk.cached_phq9();
    let patient = patient(&clinic);
    let stream = StaffStream::open(clinic.addr, "amy");

    let mut latencies = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let answered = Instant::now();
        kiosk.record(&[urgent_phq9(&phq9, &patient)]);
        let (notice, arrived) = stream.next_flag(NOTICE_PATIENCE);
        latencies.push(arrived - answered);
        let id: i64 = notice["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            stored_flag(&clinic, id),
            ("screening_positive".to_string(), VISIT.to_string())
        );
    }
    kiosk.wait_delivered();
    let forms = clinic.count(
        "SELECT COUNT(*) FROM form_responses WHERE kiosk_id = ?1 AND urgent = 1",
        kiosk.id.as_str(),
    );
    assert_eq!(forms, ROUNDS as i64, "each form stored once");
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "urgent round trip, answer committed to staff stream notice, {ROUNDS} rounds: \
         min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(latencies[0]),
        ms(latencies[ROUNDS / 2]),
        ms(latencies[ROUNDS * 95 / 100 - 1]),
        ms(latencies[ROUNDS - 1]),
    );
}

#[test]
fn offline_the_urgent_form_is_delivered_before_earlier_events() {
    let mut clinic = Clinic::start();
    let url: url::Url = format!("http://{}/", clinic.addr).parse().unwrap();
    let mut kiosk = Kiosk::enrolled(&clinic, |dir| fast_settings(url.clone(), dir));
    kiosk.start();
    let phq9 = kiosk.cached_phq9();
    let patient = patient(&clinic);

    // The server goes away; the kiosk keeps checking patients in.
    clinic.stop();
    let appointment = AppointmentId::from(VISIT);
    let earlier = kiosk.record(&[
        DomainEvent::Arrived {
            appointment_id: appointment.clone(),
            at: Utc::now(),
        },
        DomainEvent::Flag(FlagRaised {
            code: ReasonCode::HelpRequested,
            appointment_id: Some(appointment.clone()),
            step: Step::Welcome,
            at: Utc::now(),
            text: "Needs a hand".into(),
        }),
    ]);
    let urgent = kiosk.record(&[urgent_phq9(&phq9, &patient)]);
    // Let the worker fail at least once against the closed port.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(kiosk.store.stats(Utc::now()).unwrap().depth, 3);

    // Back online: the urgent form leads.
    clinic.run();
    kiosk.wait_delivered();
    let arrived: Vec<Uuid> = clinic
        .db
        .blocking(|c| {
            let mut stmt = c.prepare("SELECT event_id FROM events ORDER BY rowid")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(arrived, [urgent[0], earlier[0], earlier[1]]);
    let codes: Vec<String> = clinic
        .db
        .blocking(|c| {
            let mut stmt =
                c.prepare("SELECT code FROM flags WHERE kiosk_id != 'demo-seed' ORDER BY flag_id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    assert_eq!(codes, ["screening_positive", "help_requested"]);
}
