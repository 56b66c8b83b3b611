//! Replica kills under a live kiosk: two `clinic-server serve` processes on
//! one PostgreSQL database, behind the nginx upstream of `docs/DEPLOY.md`
//! (TLS with a private CA, as in `tls_proxy.rs`), and the real kiosk sync
//! worker, with its encrypted store, syncing through it.
//!
//! The kiosk records check-ins without pause (each an arrival and a help
//! flag, in one `record_step` as the app commits a step), while replica B
//! is killed with SIGKILL [`KILLS`] times, each time just after it has
//! taken a batch of the running burst, and started again. Replica A
//! survives; a staff member signed in on it keeps its live stream open
//! throughout.
//!
//! At the end every event the kiosk recorded is acknowledged in its
//! outbox, is in PostgreSQL once with one flag per flag event, and A's
//! stream carried every arrival and every flag, with no resync.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use checkin_kiosk::config::{self, DatabaseSettings};
use checkin_kiosk::domain::{AppointmentId, DomainEvent, FlagRaised, KioskId, ReasonCode, Step};
use checkin_kiosk::server::storage::pg;
use checkin_kiosk::server::{self, import, staff};
use checkin_kiosk::store::{EventState, Store};
use checkin_kiosk::sync::{self, SyncProblem, SyncStatus, SyncWorker};
use chrono::Utc;
use uuid::Uuid;

use super::server::PASSWORD;
use super::sync::{PATIENCE, fast_settings};
use super::tls_proxy::{Nginx, Pki, deploy_guide_nginx_block, free_port, replaced_in_block};

/// How many times replica B is killed.
const KILLS: usize = 20;
/// The clinic both replicas serve.
const CLINIC: &str = "north";
/// Appointments on today's schedule: one per check-in, so every arrival
/// changes an appointment and is announced.
const APPOINTMENTS: usize = 2_000;
/// The pause between two check-ins the kiosk records.
const SESSION_EVERY: Duration = Duration::from_millis(40);
/// The longest the kiosk may take to drain its outbox once the kills end:
/// an assertion that it gets there, not a performance target.
const DRAIN_PATIENCE: Duration = Duration::from_secs(90);
/// The staff member on replica A.
const STAFF: &str = "amy";

/// Whether `name` is installed; outside CI a missing tool skips the test.
fn installed(name: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(name).is_file());
    if !found {
        let how = format!("`{name}` is not installed (scripts/test installs it)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{how}, and CI=true: the replica test needs it"
        );
        eprintln!("skipping the replica test: {how}");
    }
    found
}

/// A plain HTTP/1.1 GET with a short timeout; the status and body, or
/// `None` when nothing answered.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

// ---------------------------------------------------------------- replicas

/// One `clinic-server serve` child process, killed when dropped.
struct Replica {
    name: &'static str,
    config: PathBuf,
    log: PathBuf,
    addr: SocketAddr,
    metrics: SocketAddr,
    child: Option<Child>,
}

impl Replica {
    /// Writes the replica's config (sharing `data_dir` and `database`) and
    /// starts it; returns once it answers `/healthz`.
    fn start(name: &'static str, dir: &Path, database: &str) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = dir.join(format!("{name}.toml"));
        let toml = format!(
            "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"{metrics}\"\n\
             data_dir = \"{}\"\ntrusted_proxies = [\"127.0.0.1\"]\n\n{database}\n\
             [[clinic]]\nid = \"{CLINIC}\"\nname = \"North Clinic\"\n\
             time_zone = \"America/Chicago\"\n",
            dir.join("data").display()
        );
        std::fs::write(&config, toml).unwrap();
        let mut replica = Replica {
            name,
            log: dir.join(format!("{name}.log")),
            config,
            addr,
            metrics,
            child: None,
        };
        replica.restart();
        replica
    }

    /// Starts the process (again) on the same ports and waits for it.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start clinic-server");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while http_get(self.addr, "/healthz").is_none_or(|(s, _)| s != 200) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("{} exited with {status}:\n{}", self.name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become healthy:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and the process reaped.
    fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Events this process has accepted since it started, from its
    /// `/metrics`.
    fn accepted(&self) -> u64 {
        let Some((200, text)) = http_get(self.metrics, "/metrics") else {
            return 0;
        };
        text.lines()
            .find_map(|l| l.strip_prefix("clinic_events_ingested_total{status=\"accepted\"} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// The `[database]` table of both replicas.
fn database_toml(settings: &DatabaseSettings) -> String {
    let mut toml = format!("[database]\nurl = \"{}\"\npool_size = 4\n", settings.url);
    if let Some(file) = &settings.password_file {
        toml.push_str(&format!("password_file = \"{}\"\n", file.display()));
    }
    toml
}

/// Today's schedule for the clinic, as the import CSV.
fn schedule_csv(day: chrono::NaiveDate) -> String {
    let mut csv = String::from(
        "appointment_id,patient_id,first_name,last_name,date_of_birth,start,duration_minutes,clinician,expected_copay_cents\n",
    );
    for i in 0..APPOINTMENTS {
        let minute = i * 700 / APPOINTMENTS;
        csv.push_str(&format!(
            "r-{i:05},p-{i:05},Ana,García,1970-01-{:02},{day} {:02}:{:02},20,Dr. Patel,0\n",
            i % 28 + 1,
            7 + minute / 60,
            minute % 60,
        ));
    }
    csv
}

/// Imports the schedule, adds the staff member and issues an enrollment
/// code, through the storage the replicas use (migrating it first).
fn seed(config_path: &Path, dir: &Path) -> String {
    let config = config::load_server(config_path).unwrap_or_else(|e| panic!("{e}"));
    let clinic = config.clinics[0].clone();
    let today = Utc::now().with_timezone(&clinic.time_zone).date_naive();
    let csv = dir.join("schedule.csv");
    std::fs::write(&csv, schedule_csv(today)).unwrap();
    let (store, runtime) = server::open_store(&config).unwrap();
    runtime.block_on(async {
        let summary = import::import_into(&store, &clinic, &csv).await.unwrap();
        assert_eq!(summary.upserted, APPOINTMENTS);
        staff::add_staff_to(&store, &clinic.id, STAFF, PASSWORD, Utc::now())
            .await
            .unwrap();
        staff::issue_enrollment_code(&store, clinic.id.clone(), Utc::now(), None)
            .await
            .unwrap()
            .0
    })
}

/// nginx with the guide's replica upstream over `a` and `b`, on TLS with
/// `pki`'s certificate. Only addresses, files and the passive health
/// check's `fail_timeout` (10 s, so a revived replica would sit out most
/// of a kill cycle) differ from the guide.
fn nginx_over(pki: &Pki, a: SocketAddr, b: SocketAddr) -> (Nginx, url::Url) {
    let port = free_port();
    let block = deploy_guide_nginx_block("upstream clinic_server");
    let upstream = |guide: &str, addr: SocketAddr| {
        (
            format!("server {guide} max_fails=3 fail_timeout=10s;"),
            format!("server {addr} max_fails=3 fail_timeout=1s;"),
        )
    };
    let block = replaced_in_block(
        block,
        [
            upstream("127.0.0.1:8081", a),
            upstream("127.0.0.1:8082", b),
            (
                "listen 443 ssl;".into(),
                format!("listen 127.0.0.1:{port} ssl;"),
            ),
            (
                "/etc/ssl/checkin/fullchain.pem;".into(),
                format!("{};", pki.file("server.pem")),
            ),
            (
                "/etc/ssl/checkin/privkey.pem;".into(),
                format!("{};", pki.file("server.key")),
            ),
        ],
    );
    let nginx = Nginx::start(&block, port);
    (nginx, format!("https://127.0.0.1:{port}/").parse().unwrap())
}

// ------------------------------------------------------------------- kiosk

/// The kiosk: its data directory, its worker and the statuses it saw.
struct Kiosk {
    dir: tempfile::TempDir,
    id: KioskId,
    worker: Option<SyncWorker>,
    statuses: Arc<Mutex<Vec<SyncStatus>>>,
}

impl Kiosk {
    /// Enrolled through `url` with `pki`'s CA pinned, its worker running.
    fn enrolled(url: url::Url, pki: &Pki, code: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = fast_settings(url, dir.path());
        settings.ca_file = Some(pki.ca());
        let enrollment =
            sync::enroll_kiosk(&settings, dir.path(), code, "Lobby replicas", false).unwrap();
        let (db, key) = sync::store_paths(dir.path());
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&statuses);
        let worker = SyncWorker::spawn(settings, db, key, move |s| {
            seen.lock().unwrap_or_else(PoisonError::into_inner).push(s);
        })
        .unwrap();
        Kiosk {
            dir,
            id: enrollment.kiosk_id,
            worker: Some(worker),
            statuses,
        }
    }

    /// The store as the kiosk app opens it (encrypted, its own connection).
    fn open_store(&self) -> Store {
        let (db, key) = sync::store_paths(self.dir.path());
        Store::open(&db, &key, Utc::now()).unwrap()
    }

    /// Rounds that ended with nginx's 502: a batch cut off by a kill.
    fn cut_batches(&self) -> usize {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.problem == Some(SyncProblem::ServerFailed(502)))
            .count()
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown();
        }
    }
}

/// One check-in the kiosk recorded.
struct Session {
    appointment: String,
    arrived: Uuid,
    flag: Uuid,
}

/// The lobby: records a check-in every [`SESSION_EVERY`] on the kiosk's
/// UI-side store until stopped, waking the worker after each commit.
struct Lobby {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Store, Vec<Session>)>>,
}

impl Lobby {
    fn open(kiosk: &Kiosk) -> Self {
        let mut store = kiosk.open_store();
        let id = kiosk.id.clone();
        let notifier = kiosk.worker.as_ref().unwrap().notifier();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut sessions = Vec::new();
            while !stopping.load(Ordering::SeqCst) {
                let i = sessions.len();
                assert!(
                    i < APPOINTMENTS,
                    "the kills took so long that the schedule ran out of appointments"
                );
                sessions.push(check_in(&mut store, &id, &format!("r-{i:05}")));
                notifier.notify();
                std::thread::sleep(SESSION_EVERY);
            }
            (store, sessions)
        });
        Lobby {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops recording; the store and every check-in recorded.
    fn close(mut self) -> (Store, Vec<Session>) {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().unwrap();
        thread.join().expect("the lobby thread")
    }
}

impl Drop for Lobby {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A patient of `appointment` arrives and asks for help: one step.
fn check_in(store: &mut Store, kiosk: &KioskId, appointment: &str) -> Session {
    let now = Utc::now();
    let ids = store
        .record_step(
            kiosk,
            &[
                DomainEvent::Arrived {
                    appointment_id: AppointmentId::from(appointment),
                    at: now,
                },
                DomainEvent::Flag(FlagRaised {
                    code: ReasonCode::HelpRequested,
                    appointment_id: Some(AppointmentId::from(appointment)),
                    step: Step::Welcome,
                    at: now,
                    text: "Needs a hand".into(),
                }),
            ],
            now,
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    Session {
        appointment: appointment.to_string(),
        arrived: ids[0],
        flag: ids[1],
    }
}

// ------------------------------------------------------------ staff stream

/// What the staff stream carried: change notices by kind, and resyncs.
#[derive(Default)]
struct Seen {
    changes: HashMap<String, HashSet<String>>,
    resyncs: usize,
    ended: bool,
}

/// A staff member's live stream on one replica, read on its own thread.
struct StaffStream {
    seen: Arc<Mutex<Seen>>,
}

impl StaffStream {
    /// Signs in on `addr` and opens the clinic's stream; returns once the
    /// server has answered, so the stream is subscribed.
    fn open(addr: SocketAddr) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let into = Arc::clone(&seen);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(read_stream(addr, ready_tx, Arc::clone(&into)));
            into.lock().unwrap_or_else(PoisonError::into_inner).ended = true;
        });
        ready
            .recv_timeout(PATIENCE)
            .expect("the staff stream opens");
        StaffStream { seen }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Of `ids`, those the stream has not carried as a `kind` change.
    fn missing(&self, kind: &str, ids: &[String]) -> Vec<String> {
        let seen = self.seen();
        let got = seen.changes.get(kind);
        ids.iter()
            .filter(|id| !got.is_some_and(|g| g.contains(*id)))
            .cloned()
            .collect()
    }
}

async fn read_stream(addr: SocketAddr, ready: std::sync::mpsc::Sender<()>, seen: Arc<Mutex<Seen>>) {
    let client = reqwest::Client::new();
    let login = client
        .post(format!("http://{addr}/api/v1/staff/login"))
        .header("x-requested-with", "test")
        .json(&serde_json::json!({"username": STAFF, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the staff sign-in on replica A");
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let mut stream = client
        .get(format!(
            "http://{addr}/api/v1/staff/clinics/{CLINIC}/stream"
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200, "the staff stream on replica A");
    ready.send(()).unwrap();
    let mut text = String::new();
    while let Ok(Some(chunk)) = stream.chunk().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            note(
                &block,
                &mut seen.lock().unwrap_or_else(PoisonError::into_inner),
            );
        }
    }
}

/// Files one server-sent event (`event:` and `data:` lines) in `seen`.
fn note(block: &str, seen: &mut Seen) {
    let field = |name: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    match field("event:") {
        Some("resync") => seen.resyncs += 1,
        Some("change") => {
            let Some(v) =
                field("data:").and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            else {
                return;
            };
            if let (Some(kind), Some(id)) = (v["kind"].as_str(), v["id"].as_str()) {
                seen.changes
                    .entry(kind.to_string())
                    .or_default()
                    .insert(id.to_string());
            }
        }
        _ => {}
    }
}

// ----------------------------------------------------------------- checks

/// The kiosk's events in PostgreSQL (event id to kind), and its flag rows
/// (flag id and the event that raised it).
async fn stored(
    settings: &DatabaseSettings,
    kiosk: &str,
) -> (HashMap<Uuid, String>, Vec<(i64, Uuid)>) {
    let store = pg::connect(settings).await.unwrap();
    let client = store.client().await.unwrap();
    let events = client
        .query(
            "SELECT event_id, kind FROM events WHERE clinic_id = $1 AND kiosk_id = $2",
            &[&CLINIC, &kiosk],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let flags = client
        .query(
            "SELECT flag_id, event_id FROM flags WHERE clinic_id = $1 AND kiosk_id = $2",
            &[&CLINIC, &kiosk],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (events, flags)
}

/// Every recorded event acknowledged in the outbox, none left pending.
fn assert_all_acknowledged(store: &Store, sessions: &[Session]) {
    assert_eq!(store.stats(Utc::now()).unwrap().depth, 0);
    for id in sessions.iter().flat_map(|s| [s.arrived, s.flag]) {
        let state = store.event_state(id).unwrap();
        assert!(
            matches!(state, Some(EventState::Delivered(_))),
            "event {id} is {state:?}, not acknowledged"
        );
    }
}

/// Each recorded event stored once and nothing else from the kiosk; one
/// flag row per flag event. Returns the flag ids.
fn assert_stored_once(
    events: &HashMap<Uuid, String>,
    flags: &[(i64, Uuid)],
    sessions: &[Session],
) -> Vec<String> {
    for s in sessions {
        assert_eq!(
            events.get(&s.arrived).map(String::as_str),
            Some("arrived"),
            "{}",
            s.arrived
        );
        assert_eq!(
            events.get(&s.flag).map(String::as_str),
            Some("flag"),
            "{}",
            s.flag
        );
    }
    // The key is (clinic, event id), so a second copy could only be a
    // stray event: the count catches one.
    assert_eq!(
        events.len(),
        2 * sessions.len(),
        "events stored for the kiosk"
    );
    let mut per_event: HashMap<Uuid, usize> = HashMap::new();
    for (_, event) in flags {
        *per_event.entry(*event).or_default() += 1;
    }
    for s in sessions {
        assert_eq!(
            per_event.get(&s.flag),
            Some(&1),
            "flag rows for event {}",
            s.flag
        );
    }
    assert_eq!(flags.len(), sessions.len(), "flag rows for the kiosk");
    flags.iter().map(|(id, _)| id.to_string()).collect()
}

/// A's stream carried every arrival (an appointment change) and every
/// flag, and never asked its console to refetch instead.
fn assert_stream_saw(stream: &StaffStream, sessions: &[Session], flag_ids: &[String]) {
    let arrivals: Vec<String> = sessions.iter().map(|s| s.appointment.clone()).collect();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline
        && !(stream.missing("appointment", &arrivals).is_empty()
            && stream.missing("flag", flag_ids).is_empty())
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let missing_arrivals = stream.missing("appointment", &arrivals);
    let missing_flags = stream.missing("flag", flag_ids);
    assert!(
        missing_arrivals.is_empty() && missing_flags.is_empty(),
        "A's stream missed {} of {} arrivals (first {:?}) and {} of {} flags (first {:?})",
        missing_arrivals.len(),
        arrivals.len(),
        missing_arrivals.first(),
        missing_flags.len(),
        flag_ids.len(),
        missing_flags.first()
    );
    let seen = stream.seen();
    assert_eq!(seen.resyncs, 0, "A's stream asked for a resync");
    assert!(!seen.ended, "A's stream ended");
}

// ------------------------------------------------------------------- test

/// Kills `b` [`KILLS`] times, each just after it took a batch; returns
/// the events it had accepted at its deaths.
fn kill_repeatedly(b: &mut Replica) -> u64 {
    let mut taken = 0;
    for k in 0..KILLS {
        // B is in the burst: it has committed a batch since it started.
        let deadline = Instant::now() + PATIENCE;
        let mut accepted = b.accepted();
        while accepted == 0 {
            assert!(Instant::now() < deadline, "kill {k}: B took no batch");
            std::thread::sleep(Duration::from_millis(10));
            accepted = b.accepted();
        }
        // Vary the moment, and how long B stays down.
        std::thread::sleep(Duration::from_millis((k as u64 * 7) % 30));
        b.kill_hard();
        taken += accepted;
        std::thread::sleep(Duration::from_millis(100 + (k as u64 * 37) % 200));
        b.restart();
    }
    taken
}

#[test]
fn killing_a_replica_twenty_times_mid_sync_loses_and_doubles_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let Some(settings) = rt.block_on(super::pg_support::fresh_database()) else {
        return;
    };
    if !installed("nginx") || !installed("openssl") {
        return;
    }
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let database = database_toml(&settings);
    let mut a = Replica::start("replica-a", dir.path(), &database);
    let code = seed(&a.config, dir.path());
    let mut b = Replica::start("replica-b", dir.path(), &database);
    let pki = Pki::with_server_certificate("Clinic-Test-CA");
    let (nginx, url) = nginx_over(&pki, a.addr, b.addr);
    let stream = StaffStream::open(a.addr);
    let kiosk = Kiosk::enrolled(url, &pki, &code);

    let lobby = Lobby::open(&kiosk);
    let kills_began = Instant::now();
    let taken_by_b = kill_repeatedly(&mut b);
    let kill_secs = kills_began.elapsed().as_secs_f64();
    let (store, sessions) = lobby.close();

    let deadline = Instant::now() + DRAIN_PATIENCE;
    while store.stats(Utc::now()).unwrap().depth > 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain; nginx:\n{}\nA:\n{}\nB:\n{}",
            nginx.log(),
            a.log_tail(),
            b.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_all_acknowledged(&store, &sessions);
    let (events, flags) = rt.block_on(stored(&settings, kiosk.id.as_str()));
    let flag_ids = assert_stored_once(&events, &flags, &sessions);
    assert_stream_saw(&stream, &sessions, &flag_ids);
    eprintln!(
        "replica kills: {KILLS} SIGKILLs of B over {kill_secs:.1} s; {} check-ins, {} events, \
         all stored once; B accepted {taken_by_b} events in its lives; {} kiosk rounds ended \
         with a 502 (a batch cut off); test {:.1} s",
        sessions.len(),
        2 * sessions.len(),
        kiosk.cut_batches(),
        began.elapsed().as_secs_f64()
    );
    drop(kiosk);
    a.kill_hard();
}
