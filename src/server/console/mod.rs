//! The staff console: one page of plain HTML, CSS and JavaScript, compiled
//! into the binary and served at `/`, `/console.css` and `/console.js`.
//! It has no build step and loads nothing from elsewhere; everything it
//! shows comes from the staff API and its live stream.
//!
//! Caching: every asset carries a strong `ETag` (SHA-256 of its bytes) and
//! `Cache-Control: no-cache`, so a browser revalidates with a cheap 304 and
//! never runs a stale console after a server upgrade.
//!
//! **Architecture invariant:** the page keeps no patient data in its URL or
//! in browser storage; only the chosen clinic id and the sound preference
//! are remembered.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The page.
const INDEX_HTML: &str = include_str!("index.html");
/// Its stylesheet.
const CONSOLE_CSS: &str = include_str!("console.css");
/// Its script.
const CONSOLE_JS: &str = include_str!("console.js");

/// Only this origin's own files, no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file and how to serve it.
struct Asset {
    /// The bytes.
    body: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its quoted strong ETag, computed once.
    etag: &'static OnceLock<String>,
}

static INDEX_ETAG: OnceLock<String> = OnceLock::new();
static CSS_ETAG: OnceLock<String> = OnceLock::new();
static JS_ETAG: OnceLock<String> = OnceLock::new();

fn etag_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut out = String::with_capacity(34);
    out.push('"');
    for b in digest.iter().take(16) {
        out.push_str(&format!("{b:02x}"));
    }
    out.push('"');
    out
}

impl Asset {
    fn etag(&self) -> &str {
        self.etag.get_or_init(|| etag_of(self.body))
    }

    /// 304 when the browser's copy is current, otherwise the file.
    fn serve(&self, headers: &HeaderMap) -> Response {
        let etag = self.etag();
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                [(header::CONTENT_TYPE, self.content_type)],
                self.body.to_string(),
            )
                .into_response()
        };
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

/// `GET /`: the console page.
pub async fn index(headers: HeaderMap) -> Response {
    Asset {
        body: INDEX_HTML,
        content_type: "text/html; charset=utf-8",
        etag: &INDEX_ETAG,
    }
    .serve(&headers)
}

/// `GET /console.css`.
pub async fn stylesheet(headers: HeaderMap) -> Response {
    Asset {
        body: CONSOLE_CSS,
        content_type: "text/css; charset=utf-8",
        etag: &CSS_ETAG,
    }
    .serve(&headers)
}

/// `GET /console.js`.
pub async fn script(headers: HeaderMap) -> Response {
    Asset {
        body: CONSOLE_JS,
        content_type: "text/javascript; charset=utf-8",
        etag: &JS_ETAG,
    }
    .serve(&headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_and_follow_the_content() {
        let a = etag_of("a");
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        assert_ne!(a, etag_of("b"));
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(INDEX_HTML.contains("/console.css"));
        assert!(INDEX_HTML.contains("/console.js"));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(!CONSOLE_JS.contains("https://") && !CONSOLE_CSS.contains("https://"));
    }
}
