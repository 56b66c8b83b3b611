//! Integration test: the route table's auth metadata, which `/openapi.json`
//! publishes, is what the router enforces, route by route, so the two
//! cannot drift.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::server::routes::{self, Auth};
use tower::ServiceExt;

use super::server::Harness;

/// The path with every `{param}` filled in with a plausible value.
fn fill(path: &str) -> String {
    path.replace("{clinic}", "demo")
        .replace("{id}", "1")
        .replace("{item}", "1")
}

/// Sends one request and returns its status only (a stream never ends).
async fn status(h: &Harness, method: &str, path: &str, creds: Creds, csrf: bool) -> StatusCode {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if csrf {
        req = req.header("x-requested-with", "test");
    }
    match creds {
        Creds::None => {}
        Creds::Kiosk => req = req.header(header::AUTHORIZATION, format!("Bearer {}", h.token)),
        Creds::Staff => req = req.header(header::COOKIE, &h.cookie),
    }
    let body = if method == "POST" {
        Body::from("{}")
    } else {
        Body::empty()
    };
    h.app
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap()
        .status()
}

#[derive(Debug, Clone, Copy)]
enum Creds {
    None,
    Kiosk,
    Staff,
}

#[tokio::test]
async fn every_routes_declared_auth_is_what_the_router_enforces() {
    let h = Harness::new().await;
    let table = routes::table();
    assert!(table.len() > 20);
    for spec in &table {
        let path = fill(spec.path);
        let m = spec.method;
        let what = format!("{m} {path} ({:?})", spec.auth);
        let anonymous = status(&h, m, &path, Creds::None, true).await;
        match spec.auth {
            Auth::Kiosk | Auth::Staff => {
                assert_eq!(
                    anonymous,
                    StatusCode::UNAUTHORIZED,
                    "{what} without credentials"
                );
            }
            Auth::MetricsToken => assert!(
                matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND),
                "{what}: {anonymous}"
            ),
            Auth::Public | Auth::PublicCsrf => assert!(
                !matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{what} is public but answered {anonymous}"
            ),
        }
        // The CSRF header is required exactly where the table says.
        let needs_csrf = spec.auth == Auth::PublicCsrf || (spec.auth == Auth::Staff && m == "POST");
        if needs_csrf {
            let creds = if spec.auth == Auth::Staff {
                Creds::Staff
            } else {
                Creds::None
            };
            let s = status(&h, m, &path, creds, false).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{what} without X-Requested-With");
        }
        // With the right credentials, reads get past authentication.
        let creds = match spec.auth {
            Auth::Kiosk => Some(Creds::Kiosk),
            Auth::Staff if m == "GET" => Some(Creds::Staff),
            _ => None,
        };
        if let Some(creds) = creds
            && m == "GET"
        {
            let s = status(&h, m, &path, creds, true).await;
            assert!(
                !matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{what} refused its own credentials: {s}"
            );
        }
    }
    // The staff session still works: nothing above signed it out.
    let me = status(&h, "GET", "/api/v1/staff/me", Creds::Staff, true).await;
    assert_eq!(me, StatusCode::OK);
}
