//! Integration tests: the clinic server over a real socket on
//! 127.0.0.1:0, with a plain hyper HTTP/1 client, and pass PNGs read back
//! by `zbarimg` when it is installed.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::server::{self, AppState};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{Harness, enroll_body, event};

async fn request(addr: SocketAddr, req: Request<Body>) -> (StatusCode, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: Value) -> Request<Body> {
    let mut r = Request::post(format!("http://{addr}{path}"))
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn get(addr: SocketAddr, path: &str, token: &str) -> Request<Body> {
    Request::get(format!("http://{addr}{path}"))
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn start(
    state: AppState,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, tx, task)
}

#[tokio::test]
async fn a_kiosk_round_trip_over_a_real_socket() {
    let h = Harness::new().await;
    let (addr, stop, task) = start(h.state.clone()).await;

    let code = h.code("demo");
    let (s, b) = request(
        addr,
        post(addr, "/api/v1/kiosk/enroll", None, enroll_body(&code)),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let enrolled: Value = serde_json::from_slice(&b).unwrap();
    let token = enrolled["device_token"].as_str().unwrap().to_string();

    let (s, b) = request(addr, get(addr, "/api/v1/kiosk/schedule", &token)).await;
    assert_eq!(s, StatusCode::OK);
    let full: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(full["upserts"].as_array().unwrap().len(), 42);

    // Many kiosks at once: each event lands exactly once.
    let mut tasks = Vec::new();
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for chunk in ids.chunks(4) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|id| {
                event(
                    *id,
                    Some("demo-030"),
                    json!({"type": "phi_viewed", "what": "identity"}),
                )
            })
            .collect();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"events": batch});
            let a = request(
                addr,
                post(addr, "/api/v1/kiosk/events", Some(&token), body.clone()),
            )
            .await;
            let b = request(addr, post(addr, "/api/v1/kiosk/events", Some(&token), body)).await;
            (a.0, b.0)
        }));
    }
    for t in tasks {
        let (a, b) = t.await.unwrap();
        assert_eq!((a, b), (StatusCode::OK, StatusCode::OK));
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM events WHERE kind = 'phi_viewed'"),
        20
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit WHERE action = 'phi_viewed'"),
        20
    );

    let hb = json!({"app_version": "0.1.0", "outbox_depth": 0, "online": true});
    let (s, _) = request(
        addr,
        post(addr, "/api/v1/kiosk/heartbeat", Some(&token), hb),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = request(
        addr,
        post(
            addr,
            "/api/v1/kiosk/events",
            Some(&token),
            json!({"events": 1}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(err["error"], "invalid_json");

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("graceful shutdown")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the socket is closed"
    );
}

#[tokio::test]
async fn run_refuses_tls_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = super::server::config(dir.path());
    config.tls = Some(checkin_kiosk::config::TlsFiles {
        cert_file: dir.path().join("cert.pem"),
        key_file: dir.path().join("key.pem"),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server::run(listener, config, async {}).await.unwrap_err();
    assert!(matches!(err, server::ServerError::TlsUnsupported), "{err}");
}

#[tokio::test]
async fn zbarimg_reads_the_pass_png_back_to_the_same_text() {
    let available = std::process::Command::new("zbarimg")
        .arg("--version")
        .output()
        .is_ok();
    if !available {
        println!("zbarimg is not on PATH; skipping the zbar check (CI installs zbar-tools)");
        return;
    }
    let h = Harness::new().await;
    let (_, b) = h
        .staff_json(
            axum::http::Method::GET,
            "/api/v1/staff/clinics/demo/appointments/demo-016/pass",
            None,
        )
        .await;
    let text = b["pass"].as_str().unwrap().to_string();
    let (_, _, png) = h
        .staff(
            axum::http::Method::GET,
            "/api/v1/staff/clinics/demo/appointments/demo-016/pass.png",
            None,
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pass.png");
    std::fs::write(&path, &png).unwrap();
    let out = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "zbarimg exit {:?}", out.status.code());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), text);
}
