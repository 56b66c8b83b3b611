//! `serve` with a PostgreSQL `[database]`: it serves over a socket, two
//! replicas share one data directory (the key), a replica with an EHR
//! connector serves, and what still runs on SQLite only (intake forms,
//! the SQLite-only commands) is refused with a clear error.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::config::{DatabaseSettings, DbTls, ServerConfig};
use checkin_kiosk::server;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

fn postgres_config(dir: &std::path::Path, settings: DatabaseSettings) -> ServerConfig {
    let mut config = super::server::config(dir);
    config.database = Some(settings);
    // No intake forms, but for the one test that puts them back.
    config.forms.clear();
    config
}

fn unreachable_database() -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://checkin@127.0.0.1:1/checkin".parse().unwrap(),
        tls: DbTls::Disable,
        ca_file: None,
        password_file: None,
        pool_size: 2,
    }
}

async fn get(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("http://{addr}{path}"))
        .header(header::HOST, addr.to_string())
        .body(Body::empty())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Starts `serve` on `config`; returns its address and the sender that
/// stops it, and the task.
async fn start(
    config: ServerConfig,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), server::ServerError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Waits until `addr` answers `/healthz`, or the server task ends.
async fn healthy(
    addr: SocketAddr,
    task: &tokio::task::JoinHandle<Result<(), server::ServerError>>,
) -> bool {
    for _ in 0..100 {
        if task.is_finished() {
            return false;
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let (status, _) = get(addr, "/healthz").await;
            return status == StatusCode::OK;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn two_replicas_serve_one_database_from_one_data_directory() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, stop_a, task_a) = start(postgres_config(dir.path(), settings.clone())).await;
    let (b, stop_b, task_b) = start(postgres_config(dir.path(), settings)).await;
    assert!(healthy(a, &task_a).await, "replica A serves");
    assert!(healthy(b, &task_b).await, "replica B serves beside it");
    assert!(
        !dir.path().join(server::DB_FILE).exists(),
        "no SQLite database is made beside PostgreSQL"
    );
    assert!(
        dir.path().join(server::KEY_FILE).exists(),
        "the pass-signing key is the shared file"
    );
    let _ = stop_a.send(());
    let _ = stop_b.send(());
    task_a.await.unwrap().unwrap();
    task_b.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_unreachable_database_stops_serve_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = postgres_config(dir.path(), unreachable_database());
    let err = server::run(listener, config, async {}).await.unwrap_err();
    assert!(err.to_string().contains("postgres"), "{err}");
}

#[tokio::test]
async fn a_replica_with_an_ehr_connector_serves() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = postgres_config(dir.path(), settings);
    let toml = "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n\
                [clinic.fhir]\nbase_url = \"http://127.0.0.1:9/fhir\"\nlocation = \"Location/loc\"\n";
    let parsed = checkin_kiosk::config::parse_server(toml, &dir.path().join("clinic-server.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    config.clinics[1].fhir = parsed.clinics[0].fhir.clone();
    let (addr, stop, task) = start(config).await;
    assert!(healthy(addr, &task).await, "the replica serves");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn intake_forms_on_postgres_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = postgres_config(dir.path(), unreachable_database());
    config.forms = super::server::config(dir.path()).forms;
    assert!(!config.forms.is_empty(), "the test server offers forms");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Not refused: the server goes on to the database, which is not there.
    let err = server::run(listener, config, async {}).await.unwrap_err();
    assert!(
        !matches!(err, server::ServerError::PostgresUnsupported { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("postgres"), "{err}");
}

#[test]
fn sqlite_only_commands_refuse_a_postgres_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path(), unreachable_database());
    let err = server::open_data_dir(&config).unwrap_err();
    assert!(
        matches!(err, server::ServerError::PostgresUnsupported { .. }),
        "{err}"
    );
    assert!(
        !dir.path().join(server::DB_FILE).exists(),
        "no SQLite database is made in its place"
    );
}
