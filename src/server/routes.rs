//! The one table of routes. [`router`] builds the axum router from it and
//! [`openapi`] builds `/openapi.json` from it, so the document lists
//! exactly the endpoints that exist, with their auth and their errors.
//!
//! Why not utoipa: its macros go on every handler as well, and the spec is
//! still assembled from a second list of paths that can fall out of step
//! with the router. One table that *is* the router cannot drift. Each
//! request and response body is named by its Rust type, and its JSON Schema
//! is derived with schemars (server builds only) from the same serde
//! attributes that produce the JSON, so the schemas cannot drift either.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value, json};

use super::{AppState, console, fhir, kiosk_api, ops, staff_api};
use crate::protocol::{
    ChangeDecision, ChangeNotice, CopayDecision, CopayItem, EnrollRequest, EnrollResponse,
    EnrollmentCodeResponse, EventBatch, EventBatchResponse, FleetKiosk, Health, Heartbeat,
    HeartbeatResponse, PassResponse, ProposedChange, ResolveFlagRequest, ScheduleResponse,
    StaffAppointments, StaffFlag, StaffLoginRequest, StaffMe,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// A kiosk, with `Authorization: Bearer <device token>`.
    Kiosk,
    /// A signed-in staff user, with the session cookie; state-changing
    /// methods also need the `X-Requested-With` header.
    Staff,
    /// Anyone, but the `X-Requested-With` header is required (staff login).
    PublicCsrf,
    /// `Authorization: Bearer <token>` with `server.metrics_token_file`'s
    /// token; without one configured the route answers 404 here and is
    /// served on `server.metrics_listen` instead.
    MetricsToken,
}

/// One endpoint: everything the router and the OpenAPI document need.
pub struct RouteSpec {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, in axum's and OpenAPI's shared `{param}` syntax.
    pub path: &'static str,
    /// One line for the document.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// The request body's schema, if it takes one (always JSON).
    pub request: Option<SchemaFn>,
    /// The success status.
    pub status: u16,
    /// The success body: media type and what it holds.
    pub response: (&'static str, Body),
    /// The error statuses it can answer with, each with an `ErrorBody`.
    pub errors: &'static [u16],
    /// Builds the handler.
    handler: fn() -> MethodRouter<AppState>,
}

/// Adds a type's schema to the document's components and returns the
/// reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a success response holds.
#[derive(Clone, Copy)]
pub enum Body {
    /// JSON (or, for an event stream, each event's data) of this schema.
    Json(SchemaFn),
    /// Text: a page, a stylesheet, a script, SVG or Prometheus metrics.
    Text,
    /// Bytes, such as a PNG.
    Binary,
    /// Nothing (204).
    Empty,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// A JSON body of type `T`.
fn json<T: JsonSchema>() -> Body {
    Body::Json(schema::<T>)
}

/// A JSON request body of type `T`.
fn takes<T: JsonSchema>() -> Option<SchemaFn> {
    Some(schema::<T>)
}

const JSON: &str = "application/json";
/// Errors of a JSON-body endpoint besides auth.
const BODY_ERRORS: [u16; 4] = [400, 413, 415, 422];

macro_rules! route {
    ($method:ident $path:literal, $summary:literal, $auth:ident, $request:expr, $status:literal => $media:expr, $body:expr, [$($err:literal),*], $handler:path) => {
        RouteSpec {
            method: route!(@name $method),
            path: $path,
            summary: $summary,
            auth: Auth::$auth,
            request: $request,
            status: $status,
            response: ($media, $body),
            errors: &[$($err),*],
            handler: || $method($handler),
        }
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
}

/// Every endpoint the server has.
pub fn table() -> Vec<RouteSpec> {
    vec![
        route!(get "/", "The staff console page", Public, None, 200 => "text/html; charset=utf-8", Body::Text, [], console::index),
        route!(get "/console.css", "The staff console's stylesheet", Public, None, 200 => "text/css; charset=utf-8", Body::Text, [], console::stylesheet),
        route!(get "/console.js", "The staff console's script", Public, None, 200 => "text/javascript; charset=utf-8", Body::Text, [], console::script),
        route!(get "/healthz", "Liveness and database check", Public, None, 200 => JSON, json::<Health>(), [503], ops::healthz),
        route!(get "/metrics", "Prometheus metrics; anonymous only on the metrics address", MetricsToken, None, 200 => "text/plain; version=0.0.4", Body::Text, [401, 404, 500], ops::metrics_with_token),
        route!(get "/openapi.json", "This document", Public, None, 200 => JSON, json::<Value>(), [], ops::openapi_json),
        route!(post "/api/v1/kiosk/enroll", "Exchange a one-time enrollment code for a device token", Public, takes::<EnrollRequest>(), 200 => JSON, json::<EnrollResponse>(), [400, 401, 403, 413, 415, 422], kiosk_api::enroll),
        route!(get "/api/v1/kiosk/schedule", "Today's schedule: a snapshot, or a delta since the cursor `since`", Kiosk, None, 200 => JSON, json::<ScheduleResponse>(), [400, 401, 403], kiosk_api::schedule),
        route!(post "/api/v1/kiosk/events", "Ingest an idempotent batch of events", Kiosk, takes::<EventBatch>(), 200 => JSON, json::<EventBatchResponse>(), [400, 401, 403, 413, 415, 422], kiosk_api::events),
        route!(post "/api/v1/kiosk/heartbeat", "Report version, outbox and sync state", Kiosk, takes::<Heartbeat>(), 200 => JSON, json::<HeartbeatResponse>(), [400, 401, 403, 413, 415, 422], kiosk_api::heartbeat),
        route!(post "/api/v1/staff/login", "Sign in; sets the session cookie", PublicCsrf, takes::<StaffLoginRequest>(), 200 => JSON, json::<StaffMe>(), [400, 401, 403, 413, 415, 422, 429, 503], staff_api::login),
        route!(post "/api/v1/staff/logout", "Sign out; clears the session cookie", Staff, None, 204 => JSON, Body::Empty, [401, 403], staff_api::logout),
        route!(get "/api/v1/staff/me", "Who is signed in, and their clinics", Staff, None, 200 => JSON, json::<StaffMe>(), [401], staff_api::whoami),
        route!(get "/api/v1/staff/clinics/{clinic}/appointments", "Today's appointments with their check-in state", Staff, None, 200 => JSON, json::<StaffAppointments>(), [401, 403, 404], staff_api::appointments),
        route!(get "/api/v1/staff/clinics/{clinic}/flags", "Open flags, urgent first, then oldest first", Staff, None, 200 => JSON, json::<Vec<StaffFlag>>(), [401, 403, 404], staff_api::flags),
        route!(get "/api/v1/staff/clinics/{clinic}/forms", "Today's completed intake forms with their scores", Staff, None, 200 => JSON, json::<super::intake::StaffCompletedForms>(), [401, 403, 404], staff_api::forms),
        route!(post "/api/v1/staff/clinics/{clinic}/flags/{id}/resolve", "Resolve a flag with a note", Staff, takes::<ResolveFlagRequest>(), 200 => JSON, json::<StaffFlag>(), [400, 401, 403, 404, 409, 413, 415, 422], staff_api::resolve_flag),
        route!(get "/api/v1/staff/clinics/{clinic}/copays", "The co-pay queue (`status`: pending, collected or waived)", Staff, None, 200 => JSON, json::<Vec<CopayItem>>(), [400, 401, 403, 404], staff_api::copays),
        route!(post "/api/v1/staff/clinics/{clinic}/copays/{id}", "Mark a co-pay collected or waived", Staff, takes::<CopayDecision>(), 200 => JSON, json::<CopayItem>(), [400, 401, 403, 404, 409, 413, 415, 422], staff_api::decide_copay),
        route!(get "/api/v1/staff/clinics/{clinic}/changes", "Pending proposed demographics and coverage changes", Staff, None, 200 => JSON, json::<Vec<ProposedChange>>(), [401, 403, 404], staff_api::changes),
        route!(post "/api/v1/staff/clinics/{clinic}/changes/{id}/approve", "Approve a proposed change and apply it to the patient record", Staff, takes::<ChangeDecision>(), 200 => JSON, json::<ProposedChange>(), [400, 401, 403, 404, 409, 413, 415, 422], staff_api::approve_change),
        route!(post "/api/v1/staff/clinics/{clinic}/changes/{id}/reject", "Reject a proposed change", Staff, takes::<ChangeDecision>(), 200 => JSON, json::<ProposedChange>(), [400, 401, 403, 404, 409, 413, 415, 422], staff_api::reject_change),
        route!(get "/api/v1/staff/clinics/{clinic}/kiosks", "The kiosk fleet", Staff, None, 200 => JSON, json::<Vec<FleetKiosk>>(), [401, 403, 404], staff_api::kiosks),
        route!(post "/api/v1/staff/clinics/{clinic}/kiosks/{id}/revoke", "Revoke a kiosk's device token", Staff, None, 200 => JSON, json::<FleetKiosk>(), [401, 403, 404], staff_api::revoke_kiosk),
        route!(post "/api/v1/staff/clinics/{clinic}/enrollment-codes", "Create a one-time kiosk enrollment code (24 h)", Staff, None, 201 => JSON, json::<EnrollmentCodeResponse>(), [401, 403, 404], staff_api::create_enrollment_code),
        route!(get "/api/v1/staff/clinics/{clinic}/appointments/{id}/pass", "The appointment's signed QR pass as text", Staff, None, 200 => JSON, json::<PassResponse>(), [401, 403, 404, 422], staff_api::pass_json),
        route!(get "/api/v1/staff/clinics/{clinic}/appointments/{id}/pass.png", "The pass as a PNG QR code", Staff, None, 200 => "image/png", Body::Binary, [401, 403, 404, 422], staff_api::pass_png),
        route!(get "/api/v1/staff/clinics/{clinic}/appointments/{id}/pass.svg", "The pass as an SVG QR code", Staff, None, 200 => "image/svg+xml", Body::Text, [401, 403, 404, 422], staff_api::pass_svg),
        route!(get "/api/v1/staff/clinics/{clinic}/ehr", "The EHR connector: last pull, last errors, write-back queue depth", Staff, None, 200 => JSON, json::<fhir::status::EhrStatus>(), [401, 403, 404], fhir::status::ehr_status),
        route!(post "/api/v1/staff/clinics/{clinic}/ehr/held-removals/confirm", "Make the appointment removals a pull held back, and clear the EHR alert", Staff, None, 200 => JSON, json::<fhir::status::EhrStatus>(), [401, 403, 404, 409], fhir::status::confirm_held_removals),
        route!(post "/api/v1/staff/clinics/{clinic}/ehr/writes/{item}/retry", "Queue an EHR write-back that failed for good again", Staff, None, 200 => JSON, json::<fhir::status::EhrStatus>(), [400, 401, 403, 404], fhir::status::retry_failed_write),
        route!(get "/api/v1/staff/clinics/{clinic}/stream", "Server-sent events: `change` with a ChangeNotice, `alert` with a ChangeNotice of kind `login_alert`, or `resync`", Staff, None, 200 => "text/event-stream", json::<ChangeNotice>(), [401, 403, 404], staff_api::stream),
    ]
}

/// The application: every route of [`table`], the JSON fallbacks, the body
/// limit and the request-id middleware.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for spec in table() {
        router = router.route(spec.path, (spec.handler)());
    }
    let limit = state.config().server.max_body_bytes;
    router
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(ops::security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::request_context,
        ))
        .with_state(state)
}

/// The metrics address's router: `/metrics` and `/healthz` with no
/// credentials, everything else a JSON 404.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn(ops::security_headers))
        .with_state(state)
}

/// The path parameters that are integer row ids, each as the collection
/// it follows and its name; every other path parameter is a string.
const INTEGER_IDS: &[(&str, &str)] = &[
    ("flags", "id"),
    ("copays", "id"),
    ("changes", "id"),
    ("writes", "item"),
];

/// The OpenAPI parameters of `path`, each typed as its handler parses it.
fn path_parameters(path: &str) -> Vec<Value> {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .filter_map(|(i, seg)| {
            let name = seg.strip_prefix('{')?.strip_suffix('}')?;
            let integer = i > 0 && INTEGER_IDS.contains(&(segments[i - 1], name));
            let schema = if integer {
                json!({"type": "integer", "format": "int64"})
            } else {
                json!({"type": "string"})
            };
            Some(json!({"name": name, "in": "path", "required": true, "schema": schema}))
        })
        .collect()
}

fn error_statuses(spec: &RouteSpec) -> Vec<u16> {
    let mut all: Vec<u16> = spec.errors.to_vec();
    match spec.auth {
        Auth::Kiosk | Auth::Staff => all.push(401),
        Auth::PublicCsrf => all.push(403),
        Auth::MetricsToken => all.push(401),
        Auth::Public => {}
    }
    if spec.auth == Auth::Staff && spec.method != "GET" {
        all.push(403);
    }
    if spec.request.is_some() {
        all.extend(BODY_ERRORS);
    }
    all.push(500);
    all.sort_unstable();
    all.dedup();
    all
}

fn status_text(code: u16) -> &'static str {
    axum::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The OpenAPI operation of one route: its success and error responses,
/// path parameters, request body and security.
fn operation(spec: &RouteSpec, generator: &mut SchemaGenerator) -> Value {
    let mut responses = serde_json::Map::new();
    let body = match spec.response.1 {
        Body::Json(schema_of) => Some(schema_of(generator).to_value()),
        Body::Text => Some(json!({"type": "string"})),
        Body::Binary => Some(json!({"type": "string", "format": "binary"})),
        Body::Empty => None,
    };
    responses.insert(
        spec.status.to_string(),
        match body {
            Some(body) => {
                json!({"description": status_text(spec.status), "content": {spec.response.0: {"schema": body}}})
            }
            None => json!({"description": status_text(spec.status)}),
        },
    );
    for code in error_statuses(spec) {
        responses.insert(
            code.to_string(),
            json!({"$ref": format!("#/components/responses/E{code}")}),
        );
    }
    let mut op = json!({
        "summary": spec.summary,
        "operationId": format!("{} {}", spec.method, spec.path),
        "responses": responses,
    });
    let params = path_parameters(spec.path);
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(schema_of) = spec.request {
        let body = schema_of(generator).to_value();
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": body}}});
    }
    match spec.auth {
        Auth::Kiosk => op["security"] = json!([{"deviceToken": []}]),
        Auth::Staff => op["security"] = json!([{"staffSession": []}]),
        Auth::MetricsToken => op["security"] = json!([{"metricsToken": []}]),
        Auth::Public | Auth::PublicCsrf => {}
    }
    op
}

/// The OpenAPI 3.1 document of [`table`].
pub fn openapi() -> Value {
    // JSON Schema 2020-12 is OpenAPI 3.1's own dialect. Every named type
    // lands in components/schemas, referenced from where it is used.
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut paths = serde_json::Map::new();
    for spec in table() {
        let op = operation(&spec, &mut generator);
        let entry = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| json!({}));
        entry[spec.method.to_ascii_lowercase()] = op;
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "ErrorBody".into(),
        json!({
            "type": "object",
            "required": ["error", "message"],
            "additionalProperties": false,
            "properties": {
                "error": {"type": "string", "description": "A stable machine code, for example `malformed_json`."},
                "message": {"type": "string", "description": "A human explanation, never containing internals or PHI."}
            }
        }),
    );
    let mut error_responses = serde_json::Map::new();
    for code in [
        400u16, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503,
    ] {
        error_responses.insert(
            format!("E{code}"),
            json!({"description": status_text(code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Clinic server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The API kiosks sync with and the staff console uses. Every error is `{error, message}`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses,
            "securitySchemes": {
                "deviceToken": {"type": "http", "scheme": "bearer"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
                "staffSession": {"type": "apiKey", "in": "cookie", "name": super::staff::SESSION_COOKIE}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_with_its_errors() {
        let doc = openapi();
        let table = table();
        let mut seen = std::collections::HashSet::new();
        for spec in &table {
            assert!(
                seen.insert((spec.method, spec.path)),
                "duplicate {} {}",
                spec.method,
                spec.path
            );
            let op = &doc["paths"][spec.path][spec.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", spec.method, spec.path);
            assert!(op["responses"]["500"].is_object());
            if spec.request.is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][code].is_object(),
                        "{} lacks {code}",
                        spec.path
                    );
                }
            }
            if spec.auth == Auth::Kiosk || spec.auth == Auth::Staff {
                assert!(op["responses"]["401"].is_object());
            }
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        assert!(doc["components"]["schemas"]["EventBatch"].is_object());
    }

    #[test]
    fn integer_path_parameters_are_typed_as_integers() {
        let doc = openapi();
        let param = |path: &str, method: &str, name: &str| {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["schema"]["type"]
                .clone()
        };
        let base = "/api/v1/staff/clinics/{clinic}";
        for path in [
            "/flags/{id}/resolve",
            "/copays/{id}",
            "/changes/{id}/approve",
            "/changes/{id}/reject",
        ] {
            assert_eq!(
                param(&format!("{base}{path}"), "post", "id"),
                "integer",
                "{path}"
            );
            assert_eq!(param(&format!("{base}{path}"), "post", "clinic"), "string");
        }
        assert_eq!(
            param(&format!("{base}/kiosks/{{id}}/revoke"), "post", "id"),
            "string"
        );
        assert_eq!(
            param(&format!("{base}/appointments/{{id}}/pass"), "get", "id"),
            "string"
        );
        // Every table path with an integer collection is covered.
        for spec in table() {
            for (coll, name) in INTEGER_IDS {
                if spec.path.contains(&format!("/{coll}/{{{name}}}")) {
                    assert_eq!(
                        param(spec.path, &spec.method.to_ascii_lowercase(), name),
                        "integer"
                    );
                }
            }
        }
    }

    /// Every `$ref` in `v`.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn bodies_are_described_in_full_and_every_reference_resolves() {
        let doc = openapi();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 40, "{all:?}");
        for r in all {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["EventBatch"]["required"], json!(["events"]));
        // deny_unknown_fields becomes additionalProperties: false.
        assert_eq!(schemas["EventBatch"]["additionalProperties"], json!(false));
        assert!(schemas["AppointmentWire"]["properties"]["expected_copay_cents"].is_object());
        let flag = schemas["EventBody"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["type"]["const"] == "flag")
            .unwrap();
        let codes = flag["properties"]["code"]["enum"].as_array().unwrap();
        assert_eq!(codes.len(), crate::domain::ReasonCode::ALL.len());
        assert!(codes.contains(&json!("incomplete_checkin")));
        let flags =
            &doc["paths"]["/api/v1/staff/clinics/{clinic}/flags"]["get"]["responses"]["200"];
        assert_eq!(
            flags["content"]["application/json"]["schema"],
            json!({"type": "array", "items": {"$ref": "#/components/schemas/StaffFlag"}})
        );
    }
}
