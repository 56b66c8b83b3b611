//! Integration tests: staff sign-in limits per address and per user name,
//! concurrent password checks, sign-in alerts, session ends (password
//! reset, removal, idle timeout), the cookie's `Secure` flag, security
//! headers on every response, and `/metrics` kept off the main address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use checkin_kiosk::config::ServerConfig;
use checkin_kiosk::domain::{ClinicId, FixedClock};
use checkin_kiosk::server::login_guard::{ADDRESS_FREE_FAILURES, USER_FREE_FAILURES};
use checkin_kiosk::server::{self, AppState, staff};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::server::{PASSWORD, config, noon, send};

/// A server with staff `amy` (clinic demo) and `olga` (clinic other).
struct Login {
    app: Router,
    state: AppState,
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

impl Login {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        // The shared test config stretches the idle timeout; keep the default.
        config.server.staff_idle = ServerConfig::demo(dir.path().into(), config.server.listen)
            .server
            .staff_idle;
        change(&mut config);
        let (db, signer) = server::open_data_dir(&config).unwrap();
        db.blocking(|c| {
            staff::add_staff(c, &ClinicId("demo".into()), "amy", PASSWORD, noon()).unwrap();
            staff::add_staff(c, &ClinicId("other".into()), "olga", PASSWORD, noon()).unwrap();
            Ok(())
        })
        .unwrap();
        let clock = Arc::new(FixedClock::new(noon()));
        let state = AppState::with_clock(config, db, signer, clock.clone());
        Self {
            app: server::app(state.clone()),
            state,
            clock,
            _dir: dir,
        }
    }

    /// Signs in from `from` (an IP address; `None` for a request with no
    /// socket address): status, headers, body.
    async fn login(
        &self,
        user: &str,
        password: &str,
        from: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let req = login_request(user, password, from, &[]);
        let (s, h, b) = send(&self.app, req).await;
        (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// A signed-in `Cookie` header value for `user`.
    async fn cookie(&self, user: &str) -> String {
        let (s, h, b) = self.login(user, PASSWORD, Some("192.0.2.200")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let set = h[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_string()
    }

    async fn me(&self, cookie: &str) -> StatusCode {
        let req = Request::get("/api/v1/staff/me")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        send(&self.app, req).await.0
    }

    fn count(&self, sql: &str) -> i64 {
        self.state
            .db()
            .blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap()
    }
}

fn login_request(
    user: &str,
    password: &str,
    from: Option<&str>,
    extra: &[(&str, &str)],
) -> Request<Body> {
    let mut req = Request::post("/api/v1/staff/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-requested-with", "test");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let mut req = req
        .body(Body::from(
            json!({"username": user, "password": password}).to_string(),
        ))
        .unwrap();
    if let Some(ip) = from {
        let peer = SocketAddr::new(ip.parse().unwrap(), 40_000);
        req.extensions_mut().insert(ConnectInfo(peer));
    }
    req
}

// ---------------------------------------------------------------- the limits

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_wrong_guesses_cannot_pass_the_limit() {
    let h = Login::new();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let app = h.app.clone();
            tokio::spawn(async move {
                let req =
                    login_request("amy", &format!("wrong guess {i}"), Some("203.0.113.9"), &[]);
                send(&app, req).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        wrong <= ADDRESS_FREE_FAILURES as usize,
        "{wrong} guesses were checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(
            *s,
            StatusCode::UNAUTHORIZED
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
        )),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn password_checks_beyond_the_permits_get_503_and_do_not_count() {
    let h = Login::new();
    let checks = h.state.login_guard().checks().clone();
    let all = u32::try_from(checks.available_permits()).unwrap();
    assert!(all >= 1);
    let held = checks.try_acquire_many(all).unwrap();
    for _ in 0..10 {
        let (s, headers, b) = h.login("amy", "wrong password!", Some("203.0.113.9")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
        assert_eq!(b["error"], "busy");
        assert!(headers.contains_key(header::RETRY_AFTER));
    }
    drop(held);
    // None of the refused attempts counted against the address or the user.
    let (s, _, b) = h.login("amy", PASSWORD, Some("203.0.113.9")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn guessing_from_elsewhere_does_not_lock_a_known_user_out() {
    let h = Login::new();
    // An attacker on many addresses, each under its own limit.
    for i in 0..3 * USER_FREE_FAILURES {
        let from = format!("198.51.100.{i}");
        let _ = h.login("amy", "wrong password!", Some(&from)).await;
    }
    // The addresses that guessed wait, even with the right password...
    let (s, headers, _) = h.login("amy", PASSWORD, Some("198.51.100.0")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    // ...but amy, at her own desk, signs in.
    let (s, _, b) = h.login("amy", PASSWORD, Some("192.0.2.10")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // And her success forgave the user name.
    let (s, _, _) = h.login("amy", PASSWORD, Some("198.51.100.0")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn one_address_is_limited_across_user_names_with_a_growing_delay() {
    let h = Login::new();
    let from = Some("203.0.113.9");
    for i in 0..ADDRESS_FREE_FAILURES {
        let (s, _, _) = h.login(&format!("guess{i}"), "wrong password!", from).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let mut waits = Vec::new();
    for i in 0..4 {
        let (s, headers, b) = h.login(&format!("next{i}"), "wrong password!", from).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert_eq!(b["error"], "too_many_requests");
        let wait: i64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        waits.push(wait);
        h.clock.advance(chrono::Duration::seconds(wait));
        let (s, _, _) = h.login(&format!("next{i}"), "wrong password!", from).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(waits, [1, 2, 4, 8]);
    // Another address is not affected.
    let (s, _, _) = h.login("amy", PASSWORD, Some("192.0.2.10")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let guess = |h: &Login, client: &'static str| {
        let app = h.app.clone();
        async move {
            let forwarded = [("x-forwarded-for", client)];
            let req = login_request("amy", "wrong password!", Some("127.0.0.1"), &forwarded);
            send(&app, req).await.0
        }
    };
    // Untrusted: a client cannot escape its limit by naming other addresses.
    let h = Login::new();
    let clients = [
        "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6",
    ];
    let mut statuses = Vec::new();
    for c in clients {
        statuses.push(guess(&h, c).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    // Behind a trusted proxy each client has its own limit, and a new
    // client with the right password gets in.
    let h = Login::with(|c| c.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]);
    for c in clients {
        assert_eq!(guess(&h, c).await, StatusCode::UNAUTHORIZED);
    }
    let forwarded = [("x-forwarded-for", "10.0.0.99")];
    let req = login_request("amy", PASSWORD, Some("127.0.0.1"), &forwarded);
    assert_eq!(send(&h.app, req).await.0, StatusCode::OK);
}

// ---------------------------------------------------------------- alerts

#[tokio::test]
async fn repeated_failures_alert_the_users_console_and_the_audit() {
    let h = Login::new();
    let cookie = h.cookie("amy").await;
    let req = Request::get("/api/v1/staff/clinics/demo/stream")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    for i in 0..USER_FREE_FAILURES {
        let from = format!("198.51.100.{i}");
        let (s, _, _) = h.login("amy", "wrong password!", Some(&from)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let mut seen = String::new();
    let read = async {
        while !seen
            .find("event: alert")
            .is_some_and(|i| seen[i..].contains("\n\n"))
        {
            let frame = body.frame().await.unwrap().unwrap();
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("an alert event on the stream");
    assert!(seen.contains("\"kind\":\"login_alert\""), "{seen}");
    assert!(seen.contains("user amy"), "{seen}");
    assert!(!seen.contains("wrong password"), "{seen}");
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM audit WHERE action = 'login_alert' AND clinic_id = 'demo' AND detail = 'user amy'"
        ),
        1
    );
    // Olga's clinic hears nothing about amy.
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit WHERE action = 'login_alert' AND clinic_id = 'other'"),
        0
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit WHERE detail LIKE '%wrong password%'"),
        0
    );
}

// ---------------------------------------------------------------- sessions

#[tokio::test]
async fn a_password_reset_ends_the_users_sessions() {
    let h = Login::new();
    let amy = h.cookie("amy").await;
    let olga = h.cookie("olga").await;
    assert_eq!(h.me(&amy).await, StatusCode::OK);
    h.state
        .db()
        .blocking(|c| {
            staff::add_staff(
                c,
                &ClinicId("demo".into()),
                "amy",
                "a brand new password",
                noon(),
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
    assert_eq!(h.me(&amy).await, StatusCode::UNAUTHORIZED);
    assert_eq!(h.me(&olga).await, StatusCode::OK, "other users keep theirs");
}

#[tokio::test]
async fn removing_a_user_ends_their_sessions() {
    let h = Login::new();
    let amy = h.cookie("amy").await;
    let removed = h
        .state
        .db()
        .blocking(|c| Ok(staff::remove_staff(c, Some(&ClinicId("demo".into())), "amy").unwrap()))
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(h.me(&amy).await, StatusCode::UNAUTHORIZED);
    let (s, _, _) = h.login("amy", PASSWORD, Some("192.0.2.10")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let again = h
        .state
        .db()
        .blocking(|c| Ok(staff::remove_staff(c, None, "amy").unwrap()))
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_timeout() {
    let h = Login::new();
    let idle = h.state.config().server.staff_idle;
    assert_eq!(idle, chrono::Duration::minutes(30), "the default");
    let amy = h.cookie("amy").await;
    // Used every 20 minutes, it lives on...
    for _ in 0..4 {
        h.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(h.me(&amy).await, StatusCode::OK);
    }
    // ...left alone for the idle timeout, it ends.
    h.clock.advance(idle);
    let req = Request::get("/api/v1/staff/me")
        .header(header::COOKIE, &amy)
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(b["error"], "unauthorized");
    assert_eq!(h.me(&amy).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_idle_timeout_is_configurable() {
    let h = Login::with(|c| c.server.staff_idle = chrono::Duration::minutes(5));
    let amy = h.cookie("amy").await;
    h.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(h.me(&amy).await, StatusCode::UNAUTHORIZED);
}

#[test]
fn remove_staff_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("server.toml");
    std::fs::write(
        &toml,
        "[server]\ndata_dir = \"data\"\n[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_clinic-server");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(&toml)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(
        &["add-staff", "--clinic", "north", "--user", "alice"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{out}");
    let (ok, out) = run(
        &["remove-staff", "--clinic", "north", "--user", "alice"],
        "",
    );
    assert!(ok, "{out}");
    assert!(out.contains("removed alice from clinic north"), "{out}");
    let (ok, out) = run(&["remove-staff", "--user", "alice"], "");
    assert!(!ok, "{out}");
    assert!(out.contains("alice is not a staff user"), "{out}");
    let (ok, out) = run(
        &["remove-staff", "--clinic", "south", "--user", "alice"],
        "",
    );
    assert!(!ok, "{out}");
    assert!(out.contains("south"), "{out}");
}

// ---------------------------------------------------------------- cookie

#[tokio::test]
async fn the_cookie_is_secure_unless_on_plain_loopback() {
    let set_cookie = |h: Login| async move {
        let (s, headers, _) = h.login("amy", PASSWORD, Some("192.0.2.10")).await;
        assert_eq!(s, StatusCode::OK);
        headers[header::SET_COOKIE].to_str().unwrap().to_string()
    };
    let loopback = set_cookie(Login::new()).await;
    assert!(!loopback.contains("Secure"), "{loopback}");
    let lan = set_cookie(Login::with(|c| {
        c.server.listen = "0.0.0.0:8080".parse().unwrap()
    }))
    .await;
    assert!(lan.contains("; Secure"), "{lan}");
    let proxied = set_cookie(Login::with(|c| {
        c.server.public_url = Some("https://checkin.example.org".parse().unwrap());
    }))
    .await;
    assert!(proxied.contains("; Secure"), "{proxied}");
}

// ---------------------------------------------------------------- headers

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let h = Login::new();
    let cookie = h.cookie("amy").await;
    let get = |path: &str| {
        Request::get(path)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap()
    };
    let requests = [
        get("/"),
        get("/console.js"),
        get("/healthz"),
        get("/openapi.json"),
        get("/no/such/path"),
        get("/api/v1/staff/me"),
        get("/api/v1/staff/clinics/demo/appointments"),
        get("/api/v1/staff/clinics/other/appointments"),
        get("/api/v1/kiosk/schedule"),
        login_request("amy", "wrong password!", Some("192.0.2.77"), &[]),
    ];
    for req in requests {
        let path = req.uri().path().to_string();
        let (status, headers, _) = send(&h.app, req).await;
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            header("x-content-type-options"),
            "nosniff",
            "{path} {status}"
        );
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        if path.starts_with("/api/") {
            assert_eq!(header("cache-control"), "no-store", "{path} {status}");
        }
    }
}

#[tokio::test]
async fn the_login_form_posts_so_a_password_never_lands_in_a_url() {
    let h = Login::new();
    let (s, _, page) = send(&h.app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let page = String::from_utf8(page.to_vec()).unwrap();
    let form = page
        .lines()
        .find(|l| l.contains("id=\"login-form\""))
        .unwrap();
    assert!(form.contains("method=\"post\""), "{form}");
}

// ---------------------------------------------------------------- metrics

#[tokio::test]
async fn metrics_are_not_served_anonymously_on_the_main_address() {
    let metrics = |h: &Login, token: Option<&str>| {
        let mut req = Request::get("/metrics");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let app = h.app.clone();
        let req = req.body(Body::empty()).unwrap();
        async move { send(&app, req).await.0 }
    };
    let h = Login::new();
    assert_eq!(metrics(&h, None).await, StatusCode::NOT_FOUND);
    assert_eq!(metrics(&h, Some("guess")).await, StatusCode::NOT_FOUND);
    // The metrics address answers without credentials.
    let (s, _, b) = send(
        &server::metrics_app(h.state.clone()),
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&b).contains("clinic_http_requests_total"));
    let (s, _, _) = send(
        &server::metrics_app(h.state.clone()),
        Request::get("/api/v1/staff/me")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing else is served there");

    // With a token file, the main address answers the token only.
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("metrics-token");
    std::fs::write(&token_file, "s3cret-metrics-token\n").unwrap();
    let h = Login::with(|c| c.server.metrics_token_file = Some(token_file.clone()));
    assert_eq!(metrics(&h, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(metrics(&h, Some("guess")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        metrics(&h, Some("s3cret-metrics-token")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn run_serves_metrics_on_its_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap();
    drop(free);
    let mut config = config(dir.path());
    config.server.metrics_listen = Some(metrics_addr);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let main_addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let get = |addr: SocketAddr| async move {
        for _ in 0..200 {
            if let Ok(s) = raw_get(addr, "/metrics").await {
                return s;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{addr} never answered");
    };
    let on_metrics = get(metrics_addr).await;
    assert!(on_metrics.starts_with("HTTP/1.1 200"), "{on_metrics}");
    let on_main = get(main_addr).await;
    assert!(on_main.starts_with("HTTP/1.1 404"), "{on_main}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A plain HTTP/1.1 GET over a socket; the whole response as text.
async fn raw_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).to_string())
}

#[tokio::test]
async fn the_staff_api_still_works_with_every_header_in_place() {
    let h = Login::new();
    let cookie = h.cookie("amy").await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/staff/logout")
        .header(header::COOKIE, &cookie)
        .header("x-requested-with", "test")
        .body(Body::empty())
        .unwrap();
    let (s, headers, _) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

#[test]
fn the_configuration_and_its_summary_carry_the_new_keys() {
    use checkin_kiosk::config::parse_server;
    let path = std::path::Path::new("/etc/clinic-server/clinic-server.toml");
    let clinic = "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n";
    let defaults = parse_server(clinic, path).unwrap();
    assert_eq!(defaults.server.staff_idle, chrono::Duration::minutes(30));
    assert_eq!(
        defaults.server.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert!(defaults.server.trusted_proxies.is_empty());
    assert_eq!(defaults.server.metrics_token_file, None);
    let summary = defaults.summary();
    assert!(summary.contains("metrics on 127.0.0.1:9464"), "{summary}");
    assert!(summary.contains("30 min idle"), "{summary}");

    let set = format!(
        "[server]\nstaff_idle_minutes = 10\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\nmetrics_listen = \"\"\nmetrics_token_file = \"metrics-token\"\n{clinic}"
    );
    let c = parse_server(&set, path).unwrap();
    assert_eq!(c.server.staff_idle, chrono::Duration::minutes(10));
    assert_eq!(c.server.trusted_proxies.len(), 2);
    assert_eq!(c.server.metrics_listen, None);
    assert_eq!(
        c.server.metrics_token_file.as_deref(),
        Some(std::path::Path::new("/etc/clinic-server/metrics-token"))
    );
    assert!(c.summary().contains("trusted proxies 127.0.0.1, ::1"));

    for (bad, key) in [
        ("staff_idle_minutes = 0", "server.staff_idle_minutes"),
        (
            "trusted_proxies = [\"proxy.local\"]",
            "server.trusted_proxies[0]",
        ),
        (
            "metrics_listen = \"localhost:9464\"",
            "server.metrics_listen",
        ),
    ] {
        let err = parse_server(&format!("[server]\n{bad}\n{clinic}"), path)
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}
