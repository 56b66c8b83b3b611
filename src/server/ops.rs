//! Operations: the request-id middleware (one id per request, in the
//! `x-request-id` header, on every log line of the request, and on the log
//! line of any internal error), `/healthz`, `/metrics`, `/openapi.json`,
//! and the JSON 404 and 405 fallbacks.
//!
//! Logs carry the method, the route template (not the concrete path), the
//! status and the time taken: ids only, never PHI.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
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

/// `GET /healthz`: 200 when the database answers.
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .db()
        .call(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await?;
    Ok(Json(json!({"status": "ok"})))
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let st = state.clone();
    let per_clinic = state
        .db()
        .call(move |c| {
            let mut out = Vec::new();
            for clinic in &st.config().clinics {
                let open: i64 = c.query_row(
                    "SELECT COUNT(*) FROM flags WHERE clinic_id = ?1 AND resolved_ms IS NULL",
                    [clinic.id.as_str()],
                    |r| r.get(0),
                )?;
                let online = load_fleet(c, &st, &clinic.id)?
                    .iter()
                    .filter(|k| k.online)
                    .count();
                out.push((clinic.id.as_str().to_string(), open, online));
            }
            Ok(out)
        })
        .await?;
    let m = state.metrics();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# HELP clinic_http_requests_total HTTP requests answered."
    );
    let _ = writeln!(s, "# TYPE clinic_http_requests_total counter");
    let _ = writeln!(
        s,
        "clinic_http_requests_total {}",
        m.requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP clinic_http_server_errors_total HTTP requests answered with a 5xx."
    );
    let _ = writeln!(s, "# TYPE clinic_http_server_errors_total counter");
    let _ = writeln!(
        s,
        "clinic_http_server_errors_total {}",
        m.server_errors.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP clinic_events_ingested_total Kiosk events by outcome."
    );
    let _ = writeln!(s, "# TYPE clinic_events_ingested_total counter");
    for (label, v) in [
        ("accepted", &m.events_accepted),
        ("duplicate", &m.events_duplicate),
        ("rejected", &m.events_rejected),
    ] {
        let _ = writeln!(
            s,
            "clinic_events_ingested_total{{status=\"{label}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        s,
        "# HELP clinic_open_flags Unresolved flags in the staff queue."
    );
    let _ = writeln!(s, "# TYPE clinic_open_flags gauge");
    for (clinic, open, _) in &per_clinic {
        let _ = writeln!(
            s,
            "clinic_open_flags{{clinic=\"{}\"}} {open}",
            label(clinic)
        );
    }
    let _ = writeln!(
        s,
        "# HELP clinic_kiosks_online Kiosks heard from within the offline threshold."
    );
    let _ = writeln!(s, "# TYPE clinic_kiosks_online gauge");
    for (clinic, _, online) in &per_clinic {
        let _ = writeln!(
            s,
            "clinic_kiosks_online{{clinic=\"{}\"}} {online}",
            label(clinic)
        );
    }
    s.push_str(&super::fhir::status::prometheus(&state).await?);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s,
    )
        .into_response())
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
