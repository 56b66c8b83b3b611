//! Replicas on one PostgreSQL database behave as one server: a change on
//! one reaches the staff streams of the other within a second (and once),
//! a listener that loses its connection comes back and tells its consoles
//! to refetch, the sign-in limiter counts across replicas (parallel
//! guesses included), and `/healthz` says when the database is away.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::config::DatabaseSettings;
use checkin_kiosk::domain::{ClinicId, FixedClock};
use checkin_kiosk::protocol::ChangeNotice;
use checkin_kiosk::server::login_guard::{
    ADDRESS_FREE_FAILURES, LoginGuard, LoginGuardError, USER_FREE_FAILURES,
};
use checkin_kiosk::server::storage::pg::{self, PgStore};
use checkin_kiosk::server::{self, AppState, staff};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::server::{PASSWORD, enroll_body, event, noon, send};

/// A replica on `settings`, sharing the key in `dir`, on the test clock.
async fn replica(dir: &std::path::Path, settings: &DatabaseSettings) -> AppState {
    let mut config = super::server::config(dir);
    config.forms.clear();
    config.database = Some(settings.clone());
    let store = pg::connect(settings).await.unwrap();
    let signer =
        checkin_kiosk::pass::PassSigner::load_or_create(&dir.join(server::KEY_FILE)).unwrap();
    let state =
        AppState::postgres_with_clock(config, store, signer, Arc::new(FixedClock::new(noon())))
            .unwrap();
    listening(&state).await;
    state
}

/// Waits until `state`'s change listener is listening.
async fn listening(state: &AppState) {
    let mut l = state.replica_listening().expect("a listener on PostgreSQL");
    tokio::time::timeout(StdDuration::from_secs(10), l.wait_for(|on| *on))
        .await
        .expect("the change listener listens within 10 s")
        .unwrap();
}

fn json_req(method: &str, path: &str, cookie: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-requested-with", "test");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    match body {
        Some(v) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

/// A sign-in from `ip`; returns the status and, on success, the cookie.
async fn login(app: &Router, user: &str, password: &str, ip: &str) -> (StatusCode, String) {
    let mut req = json_req(
        "POST",
        "/api/v1/staff/login",
        None,
        Some(json!({"username": user, "password": password})),
    );
    let peer = SocketAddr::new(ip.parse().unwrap(), 40_000);
    req.extensions_mut().insert(ConnectInfo(peer));
    let (status, headers, _) = send(app, req).await;
    let cookie = headers
        .get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .unwrap_or_default();
    (status, cookie)
}

/// Opens `clinic`'s staff stream with `cookie`.
async fn open_stream(app: &Router, cookie: &str) -> Body {
    let req = json_req(
        "GET",
        "/api/v1/staff/clinics/demo/stream",
        Some(cookie),
        None,
    );
    let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

/// Reads `stream` until an event's text satisfies `want`, for at most
/// `limit`; returns that event's text.
async fn wait_for_event(
    stream: &mut Body,
    limit: StdDuration,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, stream.frame())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {limit:?}"))
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            let text = String::from_utf8(data.to_vec()).unwrap();
            if want(&text) {
                return text;
            }
        }
    }
}

/// Everything `rx` received until it has been quiet for 300 ms.
async fn drain(rx: &mut broadcast::Receiver<ChangeNotice>) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while let Ok(Ok(n)) = tokio::time::timeout(StdDuration::from_millis(300), rx.recv()).await {
        out.push((n.clinic_id, n.kind, n.id));
    }
    out.sort();
    out
}

fn help_flag() -> Value {
    event(
        Uuid::new_v4(),
        None,
        json!({"type": "flag", "code": "help_requested", "step": "welcome", "text": "Help requested"}),
    )
}

/// Enrolls a kiosk through `app`; returns its id and token.
async fn enroll(app: &Router, state: &AppState) -> (String, String) {
    let (code, _) =
        staff::issue_enrollment_code(state.store(), ClinicId("demo".into()), noon(), None)
            .await
            .unwrap();
    let (s, _, b) = send(
        app,
        json_req(
            "POST",
            "/api/v1/kiosk/enroll",
            None,
            Some(enroll_body(&code)),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    (
        v["kiosk_id"].as_str().unwrap().to_string(),
        v["device_token"].as_str().unwrap().to_string(),
    )
}

async fn post_events(app: &Router, token: &str, events: Vec<Value>) {
    let req = Request::post("/api/v1/kiosk/events")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"events": events}).to_string()))
        .unwrap();
    let (s, _, b) = send(app, req).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

async fn open_flag_ids(app: &Router, cookie: &str) -> Vec<i64> {
    let (s, _, b) = send(
        app,
        json_req(
            "GET",
            "/api/v1/staff/clinics/demo/flags",
            Some(cookie),
            None,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn changes_on_one_replica_reach_the_other_replicas_streams_once_within_a_second() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &settings).await;
    let b = replica(dir.path(), &settings).await;
    let (app_a, app_b) = (server::app(a.clone()), server::app(b.clone()));
    staff::add_staff_to(a.store(), &ClinicId("demo".into()), "amy", PASSWORD, noon())
        .await
        .unwrap();
    let mut heard_a = a.subscribe();
    let mut heard_b = b.subscribe();
    let (s, cookie) = login(&app_b, "amy", PASSWORD, "192.0.2.10").await;
    assert_eq!(s, StatusCode::OK);
    let mut stream_b = open_stream(&app_b, &cookie).await;
    let mut stream_a = open_stream(&app_a, &cookie).await;

    // A kiosk's event lands on A; B's console sees it.
    let (kiosk, token) = enroll(&app_a, &a).await;
    post_events(&app_a, &token, vec![help_flag(), help_flag()]).await;
    let posted = Instant::now();
    let flags = open_flag_ids(&app_b, &cookie).await;
    assert_eq!(flags.len(), 2);
    let last = format!("\"id\":\"{}\"", flags[1]);
    let text = wait_for_event(&mut stream_b, StdDuration::from_secs(1), |t| {
        t.contains("event: change") && t.contains("\"kind\":\"flag\"") && t.contains(&last)
    })
    .await;
    assert!(text.contains("\"clinic_id\":\"demo\""), "{text}");
    eprintln!("A's event reached B's stream after {:?}", posted.elapsed());

    // A staff decision on B reaches A's console.
    let resolve = json_req(
        "POST",
        &format!("/api/v1/staff/clinics/demo/flags/{}/resolve", flags[0]),
        Some(&cookie),
        Some(json!({"note": "Helped at the desk"})),
    );
    let (s, _, _) = send(&app_b, resolve).await;
    assert_eq!(s, StatusCode::OK);
    let decided = Instant::now();
    let first = format!("\"id\":\"{}\"", flags[0]);
    wait_for_event(&mut stream_a, StdDuration::from_secs(1), |t| {
        t.contains("\"kind\":\"flag\"") && t.contains(&first)
    })
    .await;
    eprintln!(
        "B's decision reached A's stream after {:?}",
        decided.elapsed()
    );

    // Failed sign-ins on A raise alerts that B's console hears too.
    for _ in 0..USER_FREE_FAILURES {
        let (s, _) = login(&app_a, "amy", "wrong password", "198.51.100.7").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    // Each replica heard every notice exactly once: its own in process,
    // the other's through PostgreSQL.
    let n =
        |clinic: &str, kind: &str, id: &str| (clinic.to_string(), kind.to_string(), id.to_string());
    let mut want = vec![
        n("demo", "kiosk", &kiosk),
        n("demo", "flag", &flags[0].to_string()),
        n("demo", "flag", &flags[0].to_string()),
        n("demo", "flag", &flags[1].to_string()),
        n("demo", "login_alert", "user amy"),
        n("demo", "login_alert", "address 198.51.100.7"),
        n("other", "login_alert", "address 198.51.100.7"),
    ];
    want.sort();
    assert_eq!(drain(&mut heard_a).await, want, "on A");
    assert_eq!(drain(&mut heard_b).await, want, "on B");
}

/// A TCP relay in front of PostgreSQL that a test can cut.
struct Relay {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// The relayed connections, to cut; and sockets held unanswered.
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Relay to the database.
    Forward,
    /// Close new connections at once.
    Refuse,
    /// Accept new connections and never answer.
    Hang,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let open = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (m, o, h) = (mode.clone(), open.clone(), held.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mode = *m.lock().unwrap();
                match mode {
                    Mode::Refuse => drop(inbound),
                    Mode::Hang => h.lock().unwrap().push(inbound),
                    Mode::Forward => {
                        let relay = tokio::spawn(async move {
                            if let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            }
                        });
                        o.lock().unwrap().push(relay.abort_handle());
                    }
                }
            }
        });
        Self {
            addr,
            mode,
            open,
            held,
            task,
        }
    }

    /// Cuts every open connection and treats new ones as `mode` says.
    fn cut(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        for c in self.open.lock().unwrap().drain(..) {
            c.abort();
        }
        self.held.lock().unwrap().clear();
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// `settings` pointed at the relay.
    fn settings(&self, settings: &DatabaseSettings) -> DatabaseSettings {
        let mut s = settings.clone();
        s.url.set_port(Some(self.addr.port())).unwrap();
        s
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        self.cut(Mode::Refuse);
    }
}

/// Rows in the change outbox.
async fn staged(store: &PgStore) -> i64 {
    let client = store.client().await.unwrap();
    let row = client
        .query_one("SELECT COUNT(*) FROM change_outbox", &[])
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn notices_a_replica_committed_but_did_not_send_reach_the_others_from_the_sweep() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &settings).await;
    let app_a = server::app(a.clone());
    staff::add_staff_to(a.store(), &ClinicId("demo".into()), "amy", PASSWORD, noon())
        .await
        .unwrap();
    let (s, cookie) = login(&app_a, "amy", PASSWORD, "192.0.2.10").await;
    assert_eq!(s, StatusCode::OK);
    let mut stream_a = open_stream(&app_a, &cookie).await;

    // A replica that commits a batch's notices with it, then dies before
    // it sends them.
    let dead = pg::connect(&settings).await.unwrap();
    let mut client = dead.client().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let lost = ChangeNotice {
        clinic_id: "demo".into(),
        kind: "flag".into(),
        id: "424242".into(),
    };
    let ids = dead.stage_in(&tx, &[lost]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 1);
    drop(client);
    drop(dead);

    // A's sweep sends it once it is two seconds old, and removes it.
    let text = wait_for_event(&mut stream_a, StdDuration::from_secs(10), |t| {
        t.contains("\"id\":\"424242\"")
    })
    .await;
    assert!(text.contains("\"kind\":\"flag\""), "{text}");
    let store = pg::connect(&settings).await.unwrap();
    assert_eq!(staged(&store).await, 0, "the sweep removed what it sent");

    // A batch a live replica takes leaves nothing staged once answered.
    let (_, token) = enroll(&app_a, &a).await;
    post_events(&app_a, &token, vec![help_flag()]).await;
    assert_eq!(staged(&store).await, 0, "the batch's own replica sent it");
}

fn upstream(settings: &DatabaseSettings) -> SocketAddr {
    let host = settings.url.host_str().unwrap();
    let port = settings.url.port().unwrap_or(5432);
    format!("{host}:{port}").parse().unwrap()
}

#[tokio::test]
async fn a_listener_that_lost_its_connection_comes_back_and_asks_consoles_to_refetch() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(upstream(&settings)).await;
    let a = replica(dir.path(), &relay.settings(&settings)).await;
    let b = replica(dir.path(), &settings).await;
    let (app_a, app_b) = (server::app(a.clone()), server::app(b.clone()));
    staff::add_staff_to(b.store(), &ClinicId("demo".into()), "amy", PASSWORD, noon())
        .await
        .unwrap();
    let (s, cookie) = login(&app_b, "amy", PASSWORD, "192.0.2.10").await;
    assert_eq!(s, StatusCode::OK);
    let mut stream_a = open_stream(&app_a, &cookie).await;

    // While A's connections are down nothing reaches A; it reconnects and
    // tells its console to refetch, then hears B again.
    let mut on = a.replica_listening().unwrap();
    relay.cut(Mode::Refuse);
    tokio::time::timeout(StdDuration::from_secs(20), on.wait_for(|l| !*l))
        .await
        .expect("the listener notices the cut")
        .unwrap();
    relay.set(Mode::Forward);
    let text = wait_for_event(&mut stream_a, StdDuration::from_secs(10), |t| {
        t.contains("event: resync")
    })
    .await;
    assert!(text.contains("data: {}"), "{text}");
    listening(&a).await;
    let (_, token) = enroll(&app_b, &b).await;
    post_events(&app_b, &token, vec![help_flag()]).await;
    wait_for_event(&mut stream_a, StdDuration::from_secs(1), |t| {
        t.contains("\"kind\":\"flag\"")
    })
    .await;
}

#[tokio::test]
async fn healthz_names_the_database_and_answers_503_while_it_is_away() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(upstream(&settings)).await;
    let a = replica(dir.path(), &relay.settings(&settings)).await;
    let app = server::app(a.clone());
    let health = || async {
        let started = Instant::now();
        let (s, _, b) = send(&app, json_req("GET", "/healthz", None, None)).await;
        let v: Value = serde_json::from_slice(&b).unwrap();
        (s, v, started.elapsed())
    };
    let (s, v, _) = health().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"status": "ok", "database": "postgres", "database_ok": true})
    );
    let listener_up = |up: u8| {
        let app = server::metrics_app(a.clone());
        async move {
            let (s, _, b) = send(&app, json_req("GET", "/metrics", None, None)).await;
            assert_eq!(s, StatusCode::OK);
            let text = String::from_utf8(b.to_vec()).unwrap();
            text.contains(&format!("\nclinic_db_change_listener_up {up}\n"))
        }
    };
    assert!(listener_up(1).await);

    // Refused: the answer is quick.
    relay.cut(Mode::Refuse);
    let (s, v, took) = health().await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(
        v,
        json!({"status": "unavailable", "database": "postgres", "database_ok": false})
    );
    assert!(took < StdDuration::from_secs(3), "{took:?}");

    // Silent: the check gives up after its time limit.
    relay.set(Mode::Hang);
    let (s, v, took) = health().await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        took >= server::ops::HEALTH_TIMEOUT
            && took < server::ops::HEALTH_TIMEOUT + StdDuration::from_secs(2),
        "{took:?}"
    );
    // The listener notices within its 10 s check (sooner when the cut
    // reaches it as a closed connection).
    let mut on = a.replica_listening().unwrap();
    tokio::time::timeout(StdDuration::from_secs(20), on.wait_for(|l| !*l))
        .await
        .expect("the listener notices the database is away")
        .unwrap();

    // Back: healthy again, and listening.
    relay.cut(Mode::Forward);
    let (s, v, _) = health().await;
    assert_eq!(s, StatusCode::OK, "{v}");
    listening(&a).await;
    assert!(listener_up(1).await);
}

#[tokio::test]
async fn healthz_on_sqlite_names_sqlite() {
    let h = super::server::Harness::new().await;
    let (s, _, b) = send(&h.app, json_req("GET", "/healthz", None, None)).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v,
        json!({"status": "ok", "database": "sqlite", "database_ok": true})
    );
}

/// Two replicas' limiters on one database.
async fn two_guards(settings: &DatabaseSettings) -> (LoginGuard, LoginGuard, PgStore) {
    let one = pg::connect(settings).await.unwrap();
    let two = pg::connect(settings).await.unwrap();
    (
        LoginGuard::shared(one.clone()),
        LoginGuard::shared(two),
        one,
    )
}

#[tokio::test]
async fn parallel_guesses_on_two_replicas_cannot_pass_the_limit() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let (one, two, _) = two_guards(&settings).await;
    let now = noon();
    let ip = Some("203.0.113.9".parse().unwrap());
    let tries = (0..40).map(|i| {
        let g = if i % 2 == 0 { &one } else { &two };
        g.begin("amy", ip, now)
    });
    let results = futures_util::future::join_all(tries).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, ADDRESS_FREE_FAILURES as usize, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, LoginGuardError::Delayed(1))),
        "{results:?}"
    );
    assert!(matches!(
        two.begin("bob", ip, now).await,
        Err(LoginGuardError::Delayed(_))
    ));
}

#[tokio::test]
async fn the_limits_hold_across_replicas_as_they_do_in_one_process() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let (one, two, store) = two_guards(&settings).await;
    let mut now = noon();
    // A user name's failures from several addresses, on both replicas:
    // the fifth alerts once, those addresses wait, a new one passes.
    for i in 0..USER_FREE_FAILURES {
        let g = if i % 2 == 0 { &one } else { &two };
        let a = g
            .begin("amy", Some(format!("198.51.100.{i}").parse().unwrap()), now)
            .await
            .unwrap();
        let alerts = g.failed(&a).await.unwrap();
        assert_eq!(
            alerts.len(),
            usize::from(i + 1 == USER_FREE_FAILURES),
            "{alerts:?}"
        );
    }
    let again = one
        .failed(
            &two.begin("amy", Some("192.0.2.50".parse().unwrap()), now)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "one alert per run of failures: {again:?}");
    assert!(matches!(
        two.begin("amy", Some("198.51.100.0".parse().unwrap()), now)
            .await,
        Err(LoginGuardError::Delayed(_))
    ));
    let a = one
        .begin("amy", Some("192.0.2.1".parse().unwrap()), now)
        .await
        .unwrap();
    two.succeeded(a).await.unwrap();
    let a = two
        .begin("amy", Some("198.51.100.0".parse().unwrap()), now)
        .await
        .unwrap();
    one.abandon(a).await.unwrap();

    // One address's failures: the delay doubles, whichever replica asks,
    // and an hour of quiet forgets them.
    let from = Some("203.0.113.77".parse().unwrap());
    let mut waits = Vec::new();
    for n in 0..12 {
        let g = if n % 2 == 0 { &one } else { &two };
        match g.begin(&format!("user{n}"), from, now).await {
            Ok(a) => {
                g.failed(&a).await.unwrap();
            }
            Err(LoginGuardError::Delayed(wait)) => {
                waits.push(wait);
                now += chrono::Duration::seconds(i64::try_from(wait).unwrap());
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(waits, [1, 2, 4, 8]);
    let later =
        now + chrono::Duration::seconds(checkin_kiosk::server::login_guard::FORGET_AFTER_SECS + 1);
    assert!(one.begin("someone", from, later).await.is_ok());
    // Quiet rows are dropped; rows still counting stay.
    let dropped = store
        .login_prune(later + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert!(dropped > 0);
    let left: i64 = store
        .client()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM login_strikes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn racing_wrong_passwords_over_http_on_two_replicas_meet_one_limit() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &settings).await;
    let b = replica(dir.path(), &settings).await;
    staff::add_staff_to(a.store(), &ClinicId("demo".into()), "amy", PASSWORD, noon())
        .await
        .unwrap();
    let apps = [server::app(a), server::app(b)];
    let guesses = (0..16).map(|i| {
        let app = apps[i % 2].clone();
        tokio::spawn(async move { login(&app, "amy", "wrong password", "203.0.113.5").await.0 })
    });
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| [
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{statuses:?}"
    );
    // Attempts the server was too busy to check are taken back, so keep
    // guessing one at a time until the address must wait: exactly five
    // wrong passwords are ever checked, however they were spread.
    let mut checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    for i in 0..2 * ADDRESS_FREE_FAILURES as usize {
        let (s, _) = login(&apps[i % 2], "amy", "wrong password", "203.0.113.5").await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        checked += 1;
    }
    assert_eq!(checked, ADDRESS_FREE_FAILURES as usize, "{statuses:?}");
    // Both replicas make that address wait, even with the right password.
    for app in &apps {
        let (s, _) = login(app, "amy", PASSWORD, "203.0.113.5").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    }
}

/// The test cluster's CA file, when it takes TLS (`scripts/pg-cluster`
/// makes one when openssl is installed).
fn cluster_ca() -> Option<std::path::PathBuf> {
    let ca = std::env::var_os("CHECKIN_TEST_PG_CA_FILE").map(std::path::PathBuf::from);
    if ca.is_none() {
        let why = "CHECKIN_TEST_PG_CA_FILE is not set: the test cluster has no TLS (is openssl installed?)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipping a PostgreSQL TLS test: {why}");
    }
    ca
}

#[tokio::test]
async fn tls_to_the_database_is_verified_and_carries_the_pool_and_the_listener() {
    let Some(plain) = super::pg_support::fresh_database().await else {
        return;
    };
    let Some(ca) = cluster_ca() else {
        return;
    };
    let mut settings = plain.clone();
    settings.tls = checkin_kiosk::config::DbTls::Verify;
    settings.ca_file = Some(ca);
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &settings).await;
    let b = replica(dir.path(), &plain).await;
    let server::storage::backend::Store::Postgres(pg) = a.store() else {
        panic!("a PostgreSQL store");
    };
    let on_tls: bool = pg
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(on_tls, "the pool's connection is TLS");
    // The listener is on TLS too: it hears B.
    let mut heard = a.subscribe();
    let app_b = server::app(b.clone());
    let (kiosk, _) = enroll(&app_b, &b).await;
    let n = tokio::time::timeout(StdDuration::from_secs(1), heard.recv())
        .await
        .expect("B's enrollment reaches A within 1 s")
        .unwrap();
    assert_eq!((n.kind.as_str(), n.id.as_str()), ("kiosk", kiosk.as_str()));
    let tls_sessions: i64 = pg
        .client()
        .await
        .unwrap()
        .query_one(
            // Its last statement is its LISTEN or its sweep, which no
            // other connection runs.
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.datname = current_database() AND a.pid <> pg_backend_pid()
               AND (a.query ILIKE 'LISTEN%' OR a.query ILIKE '%change_outbox c USING due%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tls_sessions, 1, "the listener's connection is TLS");

    // A certificate from a CA the server does not trust is refused.
    settings.ca_file = None;
    let err = pg::connect(&settings).await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
