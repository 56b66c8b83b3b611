//! Integration tests: the real kiosk sync worker against the real clinic
//! server (`server::run` on 127.0.0.1:0), each kiosk enrolled through the
//! real `sync::enroll`. Faults are injected by a small HTTP proxy between
//! them (500s, slow replies, cut connections) or by stopping the server.
//!
//! Exactly-once is asserted on the server's effects: one flag row per flag
//! event, in the kiosk's order, however often a batch was replayed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use checkin_kiosk::config::{KioskConfig, ServerConfig};
use checkin_kiosk::domain::{
    AppointmentId, AppointmentStatus, ClinicId, CoPayChoice, DomainEvent, FlagRaised, KioskId,
    PhiShown, ReasonCode, Step,
};
use checkin_kiosk::protocol::{EventBatchResponse, EventStatus, HeartbeatResponse};
use checkin_kiosk::server::{self, Db, demo, schedule, staff};
use checkin_kiosk::store::{EventState, Store};
use checkin_kiosk::sync::{
    self, ServerCheck, SyncError, SyncProblem, SyncSettings, SyncStatus, SyncWorker,
};
use chrono::Utc;
use uuid::Uuid;

/// The longest any test waits for the worker; generous for a loaded
/// 2-core machine, and never a performance assertion.
pub(super) const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds or [`PATIENCE`] runs out.
pub(super) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------------ server

/// The clinic server's data directory, seeded with the demo clinic for
/// today, and a second connection to its database for checks.
pub(super) struct Clinic {
    /// The server's configuration (data dir inside `_dir`).
    pub(super) config: ServerConfig,
    /// A connection of the test's own, for seeding and for checks.
    pub(super) db: Db,
    /// The running server, when it runs.
    running: Option<Running>,
    /// Where it listens; kept across restarts.
    pub(super) addr: SocketAddr,
    /// Keeps the data directory alive.
    _dir: tempfile::TempDir,
}

/// A server started by [`Clinic::start`].
struct Running {
    /// Ends `server::run`'s graceful shutdown.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The thread running the server's runtime.
    thread: JoinHandle<()>,
}

impl Clinic {
    /// A seeded server, started on a free port.
    pub(super) fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// The same, with its configuration changed by `adjust` first.
    pub(super) fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            ServerConfig::demo(dir.path().join("server"), "127.0.0.1:0".parse().unwrap());
        adjust(&mut config);
        let (db, _) = server::open_data_dir(&config).unwrap();
        let clinic = &config.clinics[0];
        let today = Utc::now().with_timezone(&clinic.time_zone).date_naive();
        demo::seed(&db, clinic, today, Utc::now()).unwrap();
        let mut c = Clinic {
            config,
            db,
            running: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            _dir: dir,
        };
        c.run();
        c
    }

    /// Starts `server::run` on `self.addr` (port 0 the first time).
    pub(super) fn run(&mut self) {
        assert!(self.running.is_none());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let config = self.config.clone();
        let addr = self.addr;
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                server::run(listener, config, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        self.addr = bound.recv().unwrap();
        self.running = Some(Running { stop, thread });
    }

    /// Stops the server; the port and the data stay.
    pub(super) fn stop(&mut self) {
        let running = self.running.take().unwrap();
        running.stop.send(()).unwrap();
        running.thread.join().unwrap();
    }

    fn url(&self) -> url::Url {
        format!("http://{}/", self.addr).parse().unwrap()
    }

    pub(super) fn clinic_id(&self) -> ClinicId {
        self.config.clinics[0].id.clone()
    }

    /// A fresh one-time enrollment code.
    pub(super) fn code(&self) -> String {
        let clinic = self.clinic_id();
        self.db
            .blocking(|c| staff::create_enrollment_code(c, &clinic, Utc::now()))
            .unwrap()
            .0
    }

    pub(super) fn count(&self, sql: &str, kiosk: &str) -> i64 {
        let sql = sql.to_string();
        let kiosk = kiosk.to_string();
        self.db
            .blocking(move |c| Ok(c.query_row(&sql, [kiosk], |r| r.get(0))?))
            .unwrap()
    }

    /// The texts of the kiosk's flags, in the order the server stored them.
    fn flag_texts(&self, kiosk: &str) -> Vec<String> {
        let kiosk = kiosk.to_string();
        self.db
            .blocking(move |c| {
                let mut stmt =
                    c.prepare("SELECT text FROM flags WHERE kiosk_id = ?1 ORDER BY flag_id")?;
                let rows = stmt.query_map([kiosk], |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })
            .unwrap()
    }

    /// The event ids the server stored from any kiosk, in arrival order.
    fn event_ids(&self) -> Vec<Uuid> {
        self.db
            .blocking(|c| {
                let mut stmt = c.prepare("SELECT event_id FROM events ORDER BY rowid")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
            .iter()
            .map(|s| s.parse().unwrap())
            .collect()
    }
}

impl Drop for Clinic {
    fn drop(&mut self) {
        if self.running.is_some() {
            self.stop();
        }
    }
}

// ------------------------------------------------------------------ proxy

/// What the proxy does to the next requests.
#[derive(Debug, Default)]
struct Plan {
    /// Answer this many more requests with 500, without forwarding them.
    fail: u32,
    /// Forward this many more event batches, then hold each reply this long.
    slow_events: u32,
    /// How long a slow reply is held.
    slow_by: Duration,
    /// Forward this many more event batches, then cut the connection
    /// instead of replying: a lost acknowledgement.
    cut_events: u32,
    /// Move heartbeat replies' `server_time` this far ahead: to the kiosk,
    /// its own clock then looks that much slow.
    server_clock_ahead: chrono::Duration,
}

/// What the proxy saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every request's path, in order.
    paths: Vec<String>,
    /// The server's verdict on every event it was sent, in order, whether
    /// or not the reply reached the kiosk.
    verdicts: Vec<(Uuid, EventStatus)>,
}

/// The proxy's shared state.
struct ProxyState {
    /// The real server's base URL.
    upstream: String,
    /// Forwards requests.
    client: reqwest::Client,
    /// The faults to inject.
    plan: Mutex<Plan>,
    /// What went through.
    seen: Mutex<Seen>,
}

/// An HTTP proxy in front of the server, on its own thread.
struct Proxy {
    /// Where kiosks connect.
    addr: SocketAddr,
    /// Shared with the handler.
    state: Arc<ProxyState>,
    /// Stops the proxy.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The proxy's thread.
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: SocketAddr, plan: Plan) -> Self {
        let state = Arc::new(ProxyState {
            upstream: format!("http://{upstream}"),
            client: reqwest::Client::new(),
            plan: Mutex::new(plan),
            seen: Mutex::new(Seen::default()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Proxy {
            addr: bound.recv().unwrap(),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> url::Url {
        format!("http://{}/", self.addr).parse().unwrap()
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.state
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn requests(&self) -> usize {
        self.seen().paths.len()
    }

    fn requests_to(&self, path: &str) -> usize {
        self.seen()
            .paths
            .iter()
            .filter(|p| p.starts_with(path))
            .count()
    }

    fn verdicts(&self) -> Vec<(Uuid, EventStatus)> {
        self.seen().verdicts.clone()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A held (slow) reply may keep the proxy busy; do not wait for it.
        drop(self.thread.take());
    }
}

/// The proxy's one handler: count, maybe fail, forward, maybe delay or cut.
async fn forward(State(p): State<Arc<ProxyState>>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    p.seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .paths
        .push(path.clone());
    let is_events = path.starts_with("/api/v1/kiosk/events");
    let clock_ahead = p
        .plan
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .server_clock_ahead;
    let (fail, slow, cut) = {
        let mut plan = p.plan.lock().unwrap_or_else(PoisonError::into_inner);
        if plan.fail > 0 {
            plan.fail -= 1;
            (true, None, false)
        } else if is_events && plan.slow_events > 0 {
            plan.slow_events -= 1;
            (false, Some(plan.slow_by), false)
        } else if is_events && plan.cut_events > 0 {
            plan.cut_events -= 1;
            (false, None, true)
        } else {
            (false, None, false)
        }
    };
    if fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut out = p
        .client
        .request(method, format!("{}{path}", p.upstream))
        .body(body);
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(v) = headers.get(&name) {
            out = out.header(name, v.clone());
        }
    }
    let Ok(resp) = out.send().await else {
        return (StatusCode::BAD_GATEWAY, "upstream down").into_response();
    };
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let mut bytes = resp.bytes().await.unwrap_or_default();
    if path.starts_with("/api/v1/kiosk/heartbeat")
        && let Ok(mut r) = serde_json::from_slice::<HeartbeatResponse>(&bytes)
    {
        r.server_time += clock_ahead;
        bytes = serde_json::to_vec(&r).unwrap().into();
    }
    if is_events && let Ok(r) = serde_json::from_slice::<EventBatchResponse>(&bytes) {
        p.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .verdicts
            .extend(r.results.iter().map(|r| (r.id, r.status)));
    }
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    if cut {
        // Headers go out, then the body fails: hyper drops the connection
        // mid-reply, after the server has committed.
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("cut"))
        });
        return (StatusCode::OK, Body::from_stream(broken)).into_response();
    }
    let mut reply = (status, bytes).into_response();
    if let Some(ct) = content_type {
        reply.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    reply
}

// ------------------------------------------------------------------ kiosk

/// A kiosk: its data directory, its settings, its own store connection
/// (the "UI thread's") and, once started, its worker.
pub(super) struct Kiosk {
    /// The kiosk's data directory.
    dir: tempfile::TempDir,
    /// The worker's settings.
    settings: SyncSettings,
    /// The UI side's store connection.
    store: Store,
    /// This kiosk's id.
    pub(super) id: KioskId,
    /// Every status the worker published, in order.
    statuses: Arc<Mutex<Vec<SyncStatus>>>,
    /// The worker, once started.
    worker: Option<SyncWorker>,
}

/// Settings with test-sized timings.
pub(super) fn fast_settings(url: url::Url, data_dir: &Path) -> SyncSettings {
    let cfg = KioskConfig::demo(data_dir.to_path_buf());
    let mut s = SyncSettings::from_config(&cfg, url);
    s.connect_timeout = Duration::from_secs(1);
    s.request_timeout = Duration::from_secs(3);
    s.schedule_pull_every = Duration::from_millis(200);
    s.heartbeat_every = Duration::from_millis(300);
    s.push_every = Duration::from_millis(500);
    s.backoff_initial = Duration::from_millis(20);
    s.backoff_max = Duration::from_millis(250);
    s
}

impl Kiosk {
    /// A kiosk enrolled with `clinic` through `url` (the server or a proxy).
    fn enrolled(clinic: &Clinic, url: url::Url) -> Self {
        Self::enrolled_with(clinic, url, |_| {})
    }

    /// The same, with its sync settings changed by `adjust` first.
    pub(super) fn enrolled_with(
        clinic: &Clinic,
        url: url::Url,
        adjust: impl FnOnce(&mut SyncSettings),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = fast_settings(url, dir.path());
        adjust(&mut settings);
        let enrollment =
            sync::enroll_kiosk(&settings, dir.path(), &clinic.code(), "Lobby test", false).unwrap();
        let (db, key) = sync::store_paths(dir.path());
        let store = Store::open(&db, &key, Utc::now()).unwrap();
        Kiosk {
            dir,
            settings,
            store,
            id: enrollment.kiosk_id,
            statuses: Arc::new(Mutex::new(Vec::new())),
            worker: None,
        }
    }

    pub(super) fn start(&mut self) {
        let (db, key) = sync::store_paths(self.dir.path());
        let statuses = Arc::clone(&self.statuses);
        let worker = SyncWorker::spawn(self.settings.clone(), db, key, move |s| {
            statuses
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(s);
        })
        .unwrap();
        self.worker = Some(worker);
    }

    fn notify(&self) {
        if let Some(w) = &self.worker {
            w.notifier().notify();
        }
    }

    fn status(&self) -> Option<SyncStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    fn saw(&self, pred: impl Fn(&SyncStatus) -> bool) -> bool {
        self.statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(pred)
    }

    /// Commits one step locally and wakes the worker, as the UI does.
    fn record(&mut self, events: &[DomainEvent]) -> Vec<Uuid> {
        let ids = self
            .store
            .record_step(&self.id, events, Utc::now())
            .unwrap();
        self.notify();
        ids
    }

    /// A small check-in: the patient arrived and asked for help.
    pub(super) fn help_step(&mut self, appointment: &str, text: &str) -> Vec<Uuid> {
        let now = Utc::now();
        self.record(&[
            DomainEvent::Arrived {
                appointment_id: AppointmentId::from(appointment),
                at: now,
            },
            flag(ReasonCode::HelpRequested, appointment, text),
        ])
    }

    pub(super) fn wait_delivered(&self) {
        wait_for("the outbox to drain", || {
            self.store.stats(Utc::now()).unwrap().depth == 0
        });
    }

    pub(super) fn wait_schedule(&self) {
        wait_for("the first schedule pull", || {
            self.store.appointment_count().unwrap() > 0
        });
    }
}

fn flag(code: ReasonCode, appointment: &str, text: &str) -> DomainEvent {
    DomainEvent::Flag(FlagRaised {
        code,
        appointment_id: Some(AppointmentId::from(appointment)),
        step: Step::Welcome,
        at: Utc::now(),
        text: text.to_string(),
    })
}

/// `demo-001` … `demo-042`.
fn demo_id(i: usize) -> String {
    format!("demo-{:03}", i % 42 + 1)
}

// ------------------------------------------------------------------ tests

#[test]
fn a_check_in_arrives_on_the_server_with_its_flag_and_co_pay() {
    let clinic = Clinic::start();
    let mut kiosk = Kiosk::enrolled(&clinic, clinic.url());
    kiosk.start();
    kiosk.wait_schedule();
    assert_eq!(kiosk.store.appointment_count().unwrap(), 42);

    let appt = kiosk
        .store
        .appointment_by_id(&AppointmentId::from("demo-003"))
        .unwrap()
        .expect("the pull cached demo-003");
    assert_eq!(appt.status, AppointmentStatus::Booked);
    assert!(appt.expected_copay.cents > 0);
    let now = Utc::now();
    let ids = kiosk.record(&[
        DomainEvent::PhiShown {
            appointment_id: appt.id.clone(),
            what: PhiShown::Identity,
            at: now,
        },
        DomainEvent::Arrived {
            appointment_id: appt.id.clone(),
            at: now,
        },
        flag(ReasonCode::Late, "demo-003", "Patient arrived late"),
        DomainEvent::CoPayChosen {
            appointment_id: appt.id.clone(),
            choice: CoPayChoice::FrontDesk,
            amount: appt.expected_copay,
            at: now,
        },
        DomainEvent::CheckedIn {
            appointment_id: appt.id.clone(),
            at: now,
        },
    ]);
    kiosk.wait_delivered();

    let k = kiosk.id.as_str();
    assert_eq!(
        clinic.count("SELECT count(*) FROM events WHERE kiosk_id = ?1", k),
        5
    );
    assert_eq!(
        clinic.count(
            "SELECT count(*) FROM flags WHERE kiosk_id = ?1 AND code = 'late' \
             AND appointment_id = 'demo-003'",
            k
        ),
        1
    );
    let copay: (i64, String, String) = clinic
        .db
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT amount_cents, currency, status FROM copay_items \
                 WHERE appointment_id = 'demo-003'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!(
        copay,
        (
            appt.expected_copay.cents,
            appt.expected_copay.currency.code().to_string(),
            "pending".to_string()
        )
    );
    let status: String = clinic
        .db
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT status FROM appointments WHERE appointment_id = 'demo-003'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(status, "checked_in");
    for id in ids {
        assert!(matches!(
            kiosk.store.event_state(id).unwrap(),
            Some(EventState::Delivered(_))
        ));
    }

    // The heartbeat told the fleet view who and how this kiosk is.
    wait_for("a heartbeat with the last sync", || {
        clinic.count(
            "SELECT count(*) FROM kiosks WHERE kiosk_id = ?1 AND last_sync_ms IS NOT NULL \
             AND outbox_depth = 0 AND reported_online = 1",
            k,
        ) == 1
    });
    wait_for("an online status with a last sync", || {
        kiosk.status().is_some_and(|s| {
            s.online && s.last_sync.is_some() && s.outbox_depth == 0 && s.problem.is_none()
        })
    });
}

#[test]
fn a_hundred_check_ins_made_while_the_server_is_down_arrive_once_in_order() {
    let mut clinic = Clinic::start();
    let mut kiosk = Kiosk::enrolled(&clinic, clinic.url());
    kiosk.start();
    kiosk.wait_schedule();
    wait_for("online", || kiosk.status().is_some_and(|s| s.online));

    clinic.stop();
    let mut recorded = Vec::new();
    for i in 0..100 {
        recorded.extend(kiosk.help_step(&demo_id(i), &format!("check-in {i}")));
    }
    wait_for("the offline mark with 200 waiting", || {
        kiosk.status().is_some_and(|s| {
            !s.online
                && s.outbox_depth == 200
                && s.outbox_oldest_age.is_some()
                && matches!(s.problem, Some(SyncProblem::ServerUnreachable(_)))
        })
    });

    clinic.run();
    kiosk.wait_delivered();
    let k = kiosk.id.as_str();
    let expected: Vec<String> = (0..100).map(|i| format!("check-in {i}")).collect();
    assert_eq!(clinic.flag_texts(k), expected, "each flag once, in order");
    assert_eq!(
        clinic.count("SELECT count(*) FROM events WHERE kiosk_id = ?1", k),
        200
    );
    let stored: Vec<Uuid> = clinic
        .event_ids()
        .into_iter()
        .filter(|id| recorded.contains(id))
        .collect();
    assert_eq!(stored, recorded, "events stored in the kiosk's order");
    wait_for("back online", || {
        kiosk
            .status()
            .is_some_and(|s| s.online && s.problem.is_none())
    });
}

#[test]
fn server_errors_for_a_while_lose_and_duplicate_nothing() {
    let clinic = Clinic::start();
    let proxy = Proxy::start(clinic.addr, Plan::default());
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.start();
    kiosk.wait_schedule();

    proxy.plan().fail = 12;
    let mut recorded = Vec::new();
    for i in 0..20 {
        recorded.extend(kiosk.help_step(&demo_id(i), &format!("step {i}")));
        std::thread::sleep(Duration::from_millis(10));
    }
    kiosk.wait_delivered();
    assert_eq!(proxy.plan().fail, 0, "every injected 500 was met");
    assert!(
        kiosk.saw(|s| !s.online && s.problem == Some(SyncProblem::ServerFailed(500))),
        "the 500s showed in the status"
    );
    let k = kiosk.id.as_str();
    let expected: Vec<String> = (0..20).map(|i| format!("step {i}")).collect();
    assert_eq!(clinic.flag_texts(k), expected);
    let stored: Vec<Uuid> = clinic
        .event_ids()
        .into_iter()
        .filter(|id| recorded.contains(id))
        .collect();
    assert_eq!(stored, recorded);
    wait_for("recovered", || kiosk.status().is_some_and(|s| s.online));
}

#[test]
fn a_slow_server_is_retried_and_each_event_has_one_effect() {
    let clinic = Clinic::start();
    let proxy = Proxy::start(clinic.addr, Plan::default());
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.settings.request_timeout = Duration::from_millis(400);
    kiosk.start();
    kiosk.wait_schedule();

    {
        let mut plan = proxy.plan();
        plan.slow_events = 2;
        plan.slow_by = Duration::from_millis(1500);
    }
    let mut recorded = Vec::new();
    for i in 0..10 {
        recorded.extend(kiosk.help_step(&demo_id(i), &format!("slow {i}")));
    }
    kiosk.wait_delivered();
    assert_eq!(proxy.plan().slow_events, 0, "both slow replies happened");
    assert!(kiosk.saw(|s| matches!(s.problem, Some(SyncProblem::ServerUnreachable(_)))));
    let verdicts = proxy.verdicts();
    assert!(
        verdicts.iter().any(|(_, v)| *v == EventStatus::Duplicate),
        "a timed-out batch had been committed and was replayed: {verdicts:?}"
    );
    let k = kiosk.id.as_str();
    let expected: Vec<String> = (0..10).map(|i| format!("slow {i}")).collect();
    assert_eq!(clinic.flag_texts(k), expected);
    assert_eq!(
        clinic.count("SELECT count(*) FROM events WHERE kiosk_id = ?1", k),
        20
    );
    for id in recorded {
        assert!(matches!(
            kiosk.store.event_state(id).unwrap(),
            Some(EventState::Delivered(_))
        ));
    }
}

#[test]
fn a_lost_acknowledgement_is_replayed_as_a_duplicate_and_marked_delivered() {
    let clinic = Clinic::start();
    let proxy = Proxy::start(clinic.addr, Plan::default());
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.start();
    kiosk.wait_schedule();

    proxy.plan().cut_events = 1;
    let ids = kiosk.help_step("demo-010", "lost ack");
    kiosk.wait_delivered();
    assert_eq!(proxy.plan().cut_events, 0, "the reply was cut");

    let verdicts = proxy.verdicts();
    let first: Vec<(Uuid, EventStatus)> =
        ids.iter().map(|id| (*id, EventStatus::Accepted)).collect();
    let replay: Vec<(Uuid, EventStatus)> =
        ids.iter().map(|id| (*id, EventStatus::Duplicate)).collect();
    assert_eq!(
        verdicts,
        [first, replay].concat(),
        "the server applied the batch, then saw the replay as duplicates"
    );
    for id in &ids {
        assert!(matches!(
            kiosk.store.event_state(*id).unwrap(),
            Some(EventState::Delivered(_))
        ));
    }
    assert_eq!(clinic.flag_texts(kiosk.id.as_str()), ["lost ack"]);
}

#[test]
fn a_schedule_change_on_the_server_reaches_the_kiosk_within_one_pull() {
    let clinic = Clinic::start();
    let proxy = Proxy::start(clinic.addr, Plan::default());
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.start();
    kiosk.wait_schedule();
    let before = kiosk
        .store
        .appointment_by_id(&AppointmentId::from("demo-003"))
        .unwrap()
        .unwrap();

    // What an import does: add one, move one, cancel one.
    let settings = &clinic.config.clinics[0];
    let today = Utc::now().with_timezone(&settings.time_zone).date_naive();
    let demo = demo::appointments(settings, today);
    let by_id = |id: &str| demo.iter().find(|a| a.id.as_str() == id).unwrap().clone();
    let mut added = by_id("demo-002");
    added.id = AppointmentId::from("walk-in-1");
    let mut moved = by_id("demo-003");
    moved.start += chrono::Duration::minutes(20);
    moved.end += chrono::Duration::minutes(20);
    let mut cancelled = by_id("demo-004");
    cancelled.status = AppointmentStatus::Cancelled;
    let pulls_before = proxy.requests_to("/api/v1/kiosk/schedule");
    let clinic_id = clinic.clinic_id();
    let changes = vec![added, moved.clone(), cancelled];
    clinic
        .db
        .blocking(move |c| schedule::upsert(c, &clinic_id, &changes, false))
        .unwrap();

    wait_for("the change on the kiosk", || {
        let get = |id: &str| {
            kiosk
                .store
                .appointment_by_id(&AppointmentId::from(id))
                .unwrap()
        };
        get("walk-in-1").is_some()
            && get("demo-003").is_some_and(|a| a.start == moved.start && a.start != before.start)
            && get("demo-004").is_some_and(|a| a.status == AppointmentStatus::Cancelled)
    });
    let pulls = proxy.requests_to("/api/v1/kiosk/schedule") - pulls_before;
    assert!(
        pulls <= 2,
        "one pull after the change (plus one in flight): {pulls}"
    );
    assert_eq!(kiosk.store.appointment_count().unwrap(), 43);
}

#[test]
fn a_revoked_token_shows_in_the_status_and_the_server_is_left_alone() {
    let clinic = Clinic::start();
    let proxy = Proxy::start(clinic.addr, Plan::default());
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.start();
    kiosk.wait_schedule();
    wait_for("online", || kiosk.status().is_some_and(|s| s.online));

    // What the staff console's "revoke" does.
    let kid = kiosk.id.to_string();
    clinic
        .db
        .blocking(move |c| {
            c.execute(
                "UPDATE kiosks SET revoked_ms = 1 WHERE kiosk_id = ?1",
                [kid],
            )?;
            Ok(())
        })
        .unwrap();
    kiosk.help_step("demo-011", "after revoke");
    wait_for("the revoked-token status", || {
        kiosk
            .status()
            .is_some_and(|s| !s.online && s.problem == Some(SyncProblem::TokenRevoked))
    });

    // Check-ins go on; the worker sends nothing for them. Each commit wakes
    // the worker; while blocked it only republishes its status, so the
    // status counting every kept event shows it has seen them all.
    let requests = proxy.requests();
    for i in 0..15 {
        kiosk.help_step(&demo_id(i), &format!("blocked {i}"));
    }
    wait_for("the blocked worker to count every kept event", || {
        kiosk.status().is_some_and(|s| {
            s.outbox_depth == 32 && s.problem == Some(SyncProblem::TokenRevoked) && !s.online
        })
    });
    assert_eq!(proxy.requests(), requests, "no request while blocked");

    // Re-enrolling with a new code ends the block without a restart, and the
    // kept events go out under the new identity.
    let enrollment = sync::enroll_kiosk(
        &kiosk.settings,
        kiosk.dir.path(),
        &clinic.code(),
        "Lobby test",
        true,
    )
    .unwrap();
    assert_ne!(enrollment.kiosk_id, kiosk.id);
    kiosk.wait_delivered();
    assert_eq!(clinic.flag_texts(enrollment.kiosk_id.as_str()).len(), 16);
    wait_for("online again", || {
        kiosk
            .status()
            .is_some_and(|s| s.online && s.problem.is_none())
    });
}

#[test]
fn enrollment_failures_are_clear_and_change_nothing() {
    let clinic = Clinic::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = fast_settings(clinic.url(), dir.path());

    let err = sync::enroll(&settings, "NOT-A-CODE", "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::CodeNotAccepted { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("the enrollment code was not accepted: "),
        "{err}"
    );

    // A used code is refused too.
    let code = clinic.code();
    sync::enroll(&settings, &code, "Lobby").unwrap();
    let err = sync::enroll(&settings, &code, "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::CodeNotAccepted { .. }), "{err}");

    // Nothing listens on this port any more.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let down = fast_settings(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        dir.path(),
    );
    let err = sync::enroll(&down, &clinic.code(), "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach the clinic server"));

    // https:// to a server that speaks plain HTTP: the TLS handshake fails.
    let tls = fast_settings(
        format!("https://{}", clinic.addr).parse().unwrap(),
        dir.path(),
    );
    let err = sync::enroll(&tls, &clinic.code(), "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::Tls { .. }), "{err}");

    // Plain http off loopback is refused before anything is sent.
    let insecure = fast_settings("http://10.9.8.7:8080".parse().unwrap(), dir.path());
    let err = sync::enroll(&insecure, &clinic.code(), "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::InsecureHttp { .. }), "{err}");

    // A CA file that is not PEM.
    let mut pinned = settings.clone();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    pinned.ca_file = Some(ca);
    let err = sync::enroll(&pinned, &clinic.code(), "Lobby").unwrap_err();
    assert!(matches!(err, SyncError::CaFile { .. }), "{err}");

    // No enrollment was stored by any of that.
    let kiosk_dir = tempfile::tempdir().unwrap();
    let err = sync::enroll_kiosk(&down, kiosk_dir.path(), "X", "Lobby", false).unwrap_err();
    assert!(matches!(err, SyncError::Unreachable { .. }), "{err}");
    let (db, key) = sync::store_paths(kiosk_dir.path());
    assert!(
        Store::open(&db, &key, Utc::now())
            .unwrap()
            .enrollment()
            .unwrap()
            .is_none()
    );

    // Enrolled once; a second enroll without --force leaves the code unused.
    sync::enroll_kiosk(&settings, kiosk_dir.path(), &clinic.code(), "Lobby", false).unwrap();
    let code = clinic.code();
    let err = sync::enroll_kiosk(&settings, kiosk_dir.path(), &code, "Lobby", false).unwrap_err();
    assert!(matches!(err, SyncError::AlreadyEnrolled { .. }), "{err}");
    assert!(err.to_string().contains("--force"));
    sync::enroll(&settings, &code, "Another").expect("the code still works");
}

#[test]
fn a_kiosk_with_a_slow_clock_is_shown_so_in_the_fleet() {
    let clinic = Clinic::start();
    // The server's heartbeat replies say it is 10 minutes later than the
    // kiosk thinks.
    let proxy = Proxy::start(
        clinic.addr,
        Plan {
            server_clock_ahead: chrono::Duration::minutes(10),
            ..Plan::default()
        },
    );
    let mut kiosk = Kiosk::enrolled(&clinic, proxy.url());
    kiosk.start();

    // The worker measures its clock from one heartbeat reply and reports
    // the skew in the next.
    let skew = || {
        let kiosk_id = kiosk.id.as_str().to_string();
        clinic
            .db
            .blocking(move |c| {
                Ok(c.query_row(
                    "SELECT clock_skew_secs FROM kiosks WHERE kiosk_id = ?1",
                    [kiosk_id],
                    |r| r.get::<_, Option<i64>>(0),
                )?)
            })
            .unwrap()
    };
    wait_for("the fleet to show the kiosk's clock", || skew().is_some());
    let reported = skew().unwrap();
    assert!(
        (-601..=-599).contains(&reported),
        "a kiosk 10 minutes slow reported {reported} s"
    );
}

#[test]
fn the_status_report_shows_enrollment_outbox_and_the_server_without_secrets() {
    let mut clinic = Clinic::start();
    let mut kiosk = Kiosk::enrolled(&clinic, clinic.url());
    kiosk.help_step("demo-012", "queued");
    let mut cfg = KioskConfig::demo(kiosk.dir.path().to_path_buf());
    cfg.server.connect_timeout = Duration::from_secs(1);

    let report = sync::status_report(&cfg).unwrap();
    let enrolled = report.enrollment.clone().unwrap();
    assert_eq!(enrolled.kiosk_id, kiosk.id.as_str());
    assert_eq!(enrolled.clinic_id, clinic.clinic_id().as_str());
    assert_eq!(report.outbox.depth, 2);
    // Same machine, same clock: in step within a second.
    assert!(
        matches!(report.server, ServerCheck::Answered { clock_skew_secs: Some(s), .. } if s.abs() <= 1),
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("clock:          in step with the server"),
        "{text}"
    );
    let token = kiosk.store.enrollment().unwrap().unwrap().device_token;
    assert!(!text.contains(&token), "the token is never printed");
    assert!(
        text.contains(kiosk.id.as_str()) && text.contains("2 waiting"),
        "{text}"
    );

    clinic.stop();
    let report = sync::status_report(&cfg).unwrap();
    assert!(matches!(report.server, ServerCheck::Failed(_)), "{report}");
    assert!(report.to_string().contains("offline"));

    // A kiosk that never enrolled has no store, and the report creates none.
    let empty = tempfile::tempdir().unwrap();
    let report = sync::status_report(&KioskConfig::demo(empty.path().to_path_buf())).unwrap();
    assert!(report.enrollment.is_none());
    assert_eq!(report.server, ServerCheck::NoServer);
    assert!(!empty.path().join(sync::DB_FILE).exists());
}

#[test]
fn staff_resolving_a_help_request_reaches_the_kiosk_waiting_for_help() {
    let clinic = Clinic::start();
    // The regular heartbeat is an hour away: only the help poll can bring
    // the answer.
    let mut kiosk = Kiosk::enrolled_with(&clinic, clinic.url(), |s| {
        s.heartbeat_every = Duration::from_secs(3600);
    });
    kiosk.start();
    let ids = kiosk.record(&[flag(
        ReasonCode::HelpRequested,
        "demo-003",
        "Patient asked for help",
    )]);
    kiosk.wait_delivered();
    let k = kiosk.id.as_str().to_string();
    wait_for("the first heartbeat", || {
        clinic.count(
            "SELECT count(*) FROM kiosks WHERE kiosk_id = ?1 AND last_seen_ms IS NOT NULL",
            &k,
        ) == 1
    });
    let event_id = ids[0].to_string();
    let flag_id: i64 = clinic
        .db
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT flag_id FROM flags WHERE event_id = ?1",
                [&event_id],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let clinic_id = clinic.clinic_id();
    clinic
        .db
        .blocking(|c| {
            server::storage::staff::resolve_flag(
                c,
                &clinic_id,
                flag_id,
                "amy",
                "At the desk",
                Utc::now(),
            )
        })
        .unwrap();
    assert!(!kiosk.saw(|s| !s.help_answered.is_empty()));
    kiosk
        .worker
        .as_ref()
        .unwrap()
        .notifier()
        .set_help_waiting(true);
    wait_for("the answered help request", || {
        kiosk.saw(|s| s.help_answered == ids)
    });
}
