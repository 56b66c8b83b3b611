//! The server's one HTTP error type, [`ApiError`], and the extractors that
//! turn every rejected request (bad JSON, wrong content type, oversized
//! body, bad path or query) into the same `{error, message}` shape.
//!
//! **Architecture invariant:** an internal error's detail never reaches the
//! client. It rides back to the request-id middleware in a response
//! extension and is logged there, with the request id, and nothing else.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::protocol::ErrorBody;

/// Everything a request can fail with, each mapped to one status and a
/// stable machine code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON syntax, bad path or query).
    #[error("{message}")]
    BadRequest {
        /// Machine code, for example `malformed_json`.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// 401: no credentials, or credentials the server does not accept.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed (another clinic, missing CSRF header).
    #[error("{message}")]
    Forbidden {
        /// Machine code, for example `forbidden` or `csrf`.
        code: &'static str,
        /// What was refused.
        message: &'static str,
    },
    /// 404: no such resource in the caller's clinic.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the resource is not in a state that allows the request.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body, or the batch, is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not `application/json`.
    #[error("expected a body with content type application/json")]
    UnsupportedMediaType,
    /// 422: well-formed JSON whose content is wrong: a wrong type, an
    /// unknown field or enum value, or an invalid value.
    #[error("{message}")]
    Unprocessable {
        /// Machine code, for example `invalid_json` or `invalid_value`.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// 429: too many failed attempts; retry later.
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the caller may try again.
        retry_after_secs: u64,
    },
    /// 500: a bug or a storage failure. The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// 503: the server is busy with as much of this work as it takes at
    /// once (password checks); retry shortly.
    #[error("the server is busy; try again in {retry_after_secs} s")]
    Busy {
        /// Seconds until the caller may try again.
        retry_after_secs: u64,
    },
}

/// The detail of an internal error, carried in the response's extensions
/// to the middleware that logs it with the request id.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// A 422 for a value that parsed but is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "invalid_value",
            message: message.into(),
        }
    }

    /// A 400 for a malformed path or query.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "bad_request",
            message: message.into(),
        }
    }

    /// A 403 for a resource of a clinic the caller does not belong to.
    pub fn other_clinic() -> Self {
        Self::Forbidden {
            code: "forbidden",
            message: "you do not have access to this clinic",
        }
    }

    /// A 500 whose detail is logged with the request id.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal",
            Self::Busy { .. } => "busy",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        match self {
            Self::Internal(detail) => {
                response.extensions_mut().insert(InternalDetail(detail));
            }
            Self::TooManyRequests { retry_after_secs } | Self::Busy { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(format_args!("sqlite: {e}"))
    }
}

/// Storage's answers in HTTP terms: a record missing from the caller's
/// clinic is 404, a record in the wrong state 409, a change the stored
/// record refuses 422, no PostgreSQL connection free within the pool's
/// wait 503, and every other failure 500 with its detail logged.
impl From<super::storage::StorageError> for ApiError {
    fn from(e: super::storage::StorageError) -> Self {
        use super::storage::StorageError as E;
        match e {
            E::NotFound { .. } => Self::NotFound(e.to_string()),
            E::Conflict(m) => Self::Conflict(m),
            E::Refused(m) => Self::invalid(m),
            // Every pooled PostgreSQL connection stayed busy for the
            // pool's whole wait.
            E::Postgres(super::storage::pg::PgError::Pool(
                deadpool_postgres::PoolError::Timeout(_),
            )) => Self::Busy {
                retry_after_secs: 5,
            },
            E::Sqlite(_)
            | E::Postgres(_)
            | E::Migration { .. }
            | E::Json { .. }
            | E::Corrupt(_)
            | E::Task(_) => Self::internal(e),
        }
    }
}

/// A JSON body, rejected in the [`ApiError`] shape: 415 for a wrong content
/// type, 413 for an oversized body, 400 for malformed JSON and 422 for JSON
/// of the wrong shape (wrong type, unknown field, unknown enum value).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is too large".into())
            } else {
                ApiError::BadRequest {
                    code: "bad_body",
                    message: "the request body could not be read".into(),
                }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, classifying failures as [`ApiJson`] does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable {
            code: "invalid_json",
            message: format!("the JSON body does not match the expected shape: {e}"),
        },
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => ApiError::BadRequest {
            code: "malformed_json",
            message: format!("the body is not valid JSON: {e}"),
        },
    })
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence[..essence.len() - 5].starts_with("application/")
            && essence.to_ascii_lowercase().ends_with("+json"))
}

/// Query parameters, rejected in the [`ApiError`] shape (400).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::BadRequest {
                code: "bad_query",
                message: e.body_text(),
            })
    }
}

/// Path parameters, rejected in the [`ApiError`] shape (400).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::BadRequest {
                code: "bad_path",
                message: e.body_text(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_pool_busy_for_its_whole_wait_is_503_and_other_failures_500() {
        use crate::server::storage::{StorageError, pg::PgError};
        let waited = StorageError::Postgres(PgError::Pool(deadpool_postgres::PoolError::Timeout(
            deadpool_postgres::TimeoutType::Wait,
        )));
        let e = ApiError::from(waited);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "busy");
        let closed = StorageError::Postgres(PgError::Pool(deadpool_postgres::PoolError::Closed));
        assert_eq!(
            ApiError::from(closed).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn content_types_are_matched_on_their_essence() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!is_json(&h));
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("+json", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&h), ok, "{ct}");
        }
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let r = ApiError::internal("sqlite: disk I/O error at /secret/path").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.extensions().get::<InternalDetail>().is_some());
        assert_eq!(
            ApiError::internal("x").to_string(),
            "internal error",
            "the message sent to clients is generic"
        );
    }
}
