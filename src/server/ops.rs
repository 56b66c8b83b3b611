//! Operations: the request-id middleware (one id per request, in the
//! `x-request-id` header, on every log line of the request, and on the log
//! line of any internal error), the security headers on every response,
//! `/healthz`, `/metrics`, `/openapi.json`, and the JSON 404 and 405
//! fallbacks.
//!
//! `/metrics` answers anonymously only on `server.metrics_listen`; on the
//! main address it needs the bearer token of `server.metrics_token_file`.
//!
//! Logs carry the method, the route template (not the concrete path), the
//! status and the time taken: ids only, never PHI.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::Instrument;

use super::AppState;
use super::error::{ApiError, InternalDetail};
use super::staff_api::load_fleet;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives the request an id, logs its outcome, counts it, and logs the
/// detail of an internal error with the id.
pub async fn request_context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)".to_string(), |m| m.as_str().to_string());
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    let _enter = span.enter();
    state.metrics().requests.fetch_add(1, Ordering::Relaxed);
    if status.is_server_error() {
        state
            .metrics()
            .server_errors
            .fetch_add(1, Ordering::Relaxed);
    }
    if let Some(InternalDetail(detail)) = response.extensions_mut().remove::<InternalDetail>() {
        tracing::error!(status = status.as_u16(), detail = %detail, "internal error");
    } else {
        tracing::debug!(
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        );
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// The policy of responses that set none: no content of any kind, no
/// framing. The console's page and assets set their own.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds to every response: `X-Content-Type-Options: nosniff`, a
/// restrictive `Content-Security-Policy` with `frame-ancestors 'none'`
/// unless the handler set one, `X-Frame-Options: DENY` and
/// `Referrer-Policy: no-referrer`. Every `/api/` response, which may carry
/// patient data, gets `Cache-Control: no-store`.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `GET /metrics` on the main address: only with the configured bearer
/// token (401 without it); 404 when no token is configured.
pub async fn metrics_with_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(file) = state.config().server.metrics_token_file.clone() else {
        return Err(ApiError::NotFound(
            "metrics are served on the metrics address (server.metrics_listen)".into(),
        ));
    };
    let expected = tokio::task::spawn_blocking(move || std::fs::read_to_string(&file))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format_args!("reading the metrics token file: {e}")))?;
    let expected = expected.trim();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Compared as hashes, so the time taken says nothing about the token.
    let matches = given.is_some_and(|g| {
        !expected.is_empty() && super::db::secret_hash(g) == super::db::secret_hash(expected)
    });
    if !matches {
        return Err(ApiError::Unauthorized(
            "metrics need the bearer token of server.metrics_token_file",
        ));
    }
    metrics(State(state)).await
}

/// How long `/healthz` waits for the database.
pub const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz`: 200 when the database answers within
/// [`HEALTH_TIMEOUT`], else 503; the body names the database either way,
/// so a load balancer takes a replica out while its database is away.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let database = match state.store() {
        super::storage::backend::Store::Sqlite(_) => "sqlite",
        super::storage::backend::Store::Postgres(_) => "postgres",
    };
    let ok = match tokio::time::timeout(HEALTH_TIMEOUT, state.store().reachable()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(database, error = %e, "health check: the database failed");
            false
        }
        Err(_) => {
            tracing::warn!(
                database,
                secs = HEALTH_TIMEOUT.as_secs(),
                "health check: the database did not answer in time"
            );
            false
        }
    };
    let status = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = crate::protocol::Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        database: database.into(),
        database_ok: ok,
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let per_clinic = clinic_gauges(&state).await?;
    let mut s = server_families(&state, &per_clinic);
    s.push_str(&super::fhir::status::prometheus(&state).await?);
    pool_families(&state, &mut s);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s,
    )
        .into_response())
}

/// The PostgreSQL pool's gauges; nothing on SQLite, which has no pool.
fn pool_families(state: &AppState, s: &mut String) {
    let super::storage::backend::Store::Postgres(pg) = state.store() else {
        return;
    };
    let p = pg.pool_status();
    for (name, help, value) in [
        (
            "clinic_db_pool_max",
            "The largest the database connection pool may grow.",
            p.max_size,
        ),
        (
            "clinic_db_pool_connections",
            "Database connections open in the pool.",
            p.size,
        ),
        (
            "clinic_db_pool_idle",
            "Open database connections not in use.",
            p.available,
        ),
        (
            "clinic_db_pool_waiting",
            "Requests waiting for a database connection.",
            p.waiting,
        ),
    ] {
        metric_family(s, name, "gauge", help, [(String::new(), value)]);
    }
    if let Some(listening) = state.replica_listening() {
        metric_family(
            s,
            "clinic_db_change_listener_up",
            "gauge",
            "1 while this replica listens for the other replicas' change notices.",
            [(String::new(), u8::from(*listening.borrow()))],
        );
    }
}

/// Each clinic's open flags, kiosks online and kiosks with a skewed clock.
async fn clinic_gauges(state: &AppState) -> Result<Vec<(String, i64, usize, usize)>, ApiError> {
    let mut out = Vec::new();
    for clinic in &state.config().clinics {
        let open = state.store().open_flag_count(clinic.id.clone()).await?;
        let fleet = load_fleet(state, &clinic.id).await?;
        let online = fleet.iter().filter(|k| k.online).count();
        let skewed = fleet
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .filter(|k| k.clock_skew_secs.is_some_and(crate::protocol::clock_is_off))
            .count();
        out.push((clinic.id.as_str().to_string(), open, online, skewed));
    }
    Ok(out)
}

/// The server's own metric families: requests, ingest and the clinic gauges.
fn server_families(state: &AppState, per_clinic: &[(String, i64, usize, usize)]) -> String {
    let m = state.metrics();
    let count = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    let mut s = String::new();
    metric_family(
        &mut s,
        "clinic_http_requests_total",
        "counter",
        "HTTP requests answered.",
        [(String::new(), count(&m.requests))],
    );
    metric_family(
        &mut s,
        "clinic_http_server_errors_total",
        "counter",
        "HTTP requests answered with a 5xx.",
        [(String::new(), count(&m.server_errors))],
    );
    metric_family(
        &mut s,
        "clinic_events_ingested_total",
        "counter",
        "Kiosk events by outcome.",
        [
            ("accepted", &m.events_accepted),
            ("duplicate", &m.events_duplicate),
            ("rejected", &m.events_rejected),
        ]
        .map(|(status, v)| (format!("status=\"{status}\""), count(v))),
    );
    metric_family(
        &mut s,
        "clinic_open_flags",
        "gauge",
        "Unresolved flags in the staff queue.",
        per_clinic
            .iter()
            .map(|(clinic, open, _, _)| (clinic_label(clinic), open)),
    );
    metric_family(
        &mut s,
        "clinic_kiosks_online",
        "gauge",
        "Kiosks heard from within the offline threshold.",
        per_clinic
            .iter()
            .map(|(clinic, _, online, _)| (clinic_label(clinic), online)),
    );
    metric_family(
        &mut s,
        "clinic_kiosks_clock_skewed",
        "gauge",
        "Kiosks whose last reported clock is 2 minutes or more off the server's.",
        per_clinic
            .iter()
            .map(|(clinic, _, _, skewed)| (clinic_label(clinic), skewed)),
    );
    s
}

/// Writes one Prometheus metric family: its `HELP` and `TYPE` lines, then
/// one sample for each `(labels, value)`, where `labels` is empty or a
/// ready `name="value"` list (see `clinic_label`).
pub(crate) fn metric_family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The `clinic="…"` label for a clinic id, escaped for Prometheus.
pub(crate) fn clinic_label(clinic_id: &str) -> String {
    let escaped = clinic_id
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("clinic=\"{escaped}\"")
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> Json<Value> {
    Json(super::routes::openapi())
}

/// JSON 404 for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// JSON 405 for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_type_and_one_line_per_sample() {
        let mut out = String::new();
        metric_family(
            &mut out,
            "clinic_open_flags",
            "gauge",
            "Unresolved flags.",
            [(clinic_label("north"), 3), (clinic_label("a\"b\\c\nd"), 0)],
        );
        metric_family(&mut out, "clinic_up", "gauge", "Up.", [(String::new(), 1)]);
        assert_eq!(
            out,
            "# HELP clinic_open_flags Unresolved flags.\n\
             # TYPE clinic_open_flags gauge\n\
             clinic_open_flags{clinic=\"north\"} 3\n\
             clinic_open_flags{clinic=\"a\\\"b\\\\c\\nd\"} 0\n\
             # HELP clinic_up Up.\n\
             # TYPE clinic_up gauge\n\
             clinic_up 1\n"
        );
    }
}
