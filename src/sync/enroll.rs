//! Enrollment: exchanging a one-time code from staff for this kiosk's
//! identity (`kiosk enroll`), and saving it in the store.
//!
//! The device token in the reply is a secret: it goes into the encrypted
//! store and is never printed or logged.

use std::future::Future;
use std::path::Path;

use chrono::Utc;

use super::client::{ExchangeError, ServerClient};
use super::{SyncError, SyncSettings, store_paths};
use crate::pass::PassVerifier;
use crate::protocol::{EnrollRequest, EnrollResponse};
use crate::store::{Enrollment, Store};

/// The longest kiosk name the server accepts.
const MAX_NAME_CHARS: usize = 100;

/// Enrolls with the server at `settings.server_url` using the one-time
/// `code`, as `kiosk_name`. Blocking: it runs its own small runtime, on its
/// own thread, so it may be called from anywhere.
///
/// A refused code, an unreachable server, a TLS failure and a timeout each
/// give their own [`SyncError`] with what to do about it.
pub fn enroll(
    settings: &SyncSettings,
    code: &str,
    kiosk_name: &str,
) -> Result<EnrollResponse, SyncError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(SyncError::CodeNotAccepted {
            message: "the code is empty".into(),
        });
    }
    let name = kiosk_name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(SyncError::BadSetting {
            name: "kiosk name",
            reason: "must be 1 to 100 characters",
        });
    }
    let client = ServerClient::new(settings)?;
    let request = EnrollRequest {
        code: code.to_string(),
        kiosk_name: name.to_string(),
        app_version: settings.app_version.trim().to_string(),
    };
    let url = &settings.server_url;
    let reply = run_blocking(async { client.enroll(&request).await })?.map_err(|e| match e {
        ExchangeError::Unauthorized(message) | ExchangeError::Forbidden(message) => {
            SyncError::CodeNotAccepted { message }
        }
        ExchangeError::Refused {
            status: 404 | 409 | 410,
            message,
        } => SyncError::CodeNotAccepted { message },
        other => other.into_sync_error(url),
    })?;
    let bad = |reason: &str| SyncError::BadReply {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if reply.kiosk_id.trim().is_empty() || reply.device_token.trim().is_empty() {
        return Err(bad("the enrollment reply has no kiosk id or token"));
    }
    if reply.clinic.clinic_id.trim().is_empty() {
        return Err(bad("the enrollment reply names no clinic"));
    }
    if reply.clinic.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad("the clinic's time zone is not one the kiosk knows"));
    }
    if PassVerifier::from_base64(&reply.pass_public_key).is_err() {
        return Err(bad("the pass public key is not a valid Ed25519 key"));
    }
    tracing::info!(kiosk_id = %reply.kiosk_id, clinic_id = %reply.clinic.clinic_id, "enrolled");
    Ok(reply)
}

/// `kiosk enroll`: opens (creating on first use) the store in `data_dir`,
/// enrolls with `code`, and saves the enrollment. An enrolled kiosk is
/// re-enrolled only with `force`; without it the code is not used.
pub fn enroll_kiosk(
    settings: &SyncSettings,
    data_dir: &Path,
    code: &str,
    kiosk_name: &str,
    force: bool,
) -> Result<Enrollment, SyncError> {
    settings.check()?;
    let (db, key) = store_paths(data_dir);
    let mut store = Store::open(&db, &key, Utc::now())?;
    let existing = store.enrollment()?;
    if let Some(e) = &existing
        && !force
    {
        return Err(SyncError::AlreadyEnrolled {
            kiosk_id: e.kiosk_id.to_string(),
            clinic_id: e.clinic.clinic_id.clone(),
        });
    }
    let reply = enroll(settings, code, kiosk_name)?;
    let enrollment = Enrollment::from_response(settings.server_url.clone(), &reply, Utc::now());
    let saved = if existing.is_some() {
        store.reenroll(&enrollment)
    } else {
        store.save_enrollment(&enrollment)
    };
    saved.map_err(|source| SyncError::NotSaved {
        kiosk_id: enrollment.kiosk_id.to_string(),
        source,
    })?;
    Ok(enrollment)
}

/// Runs `fut` to completion on a fresh single-threaded runtime on a scoped
/// thread, so a blocking caller works inside or outside another runtime.
pub(super) fn run_blocking<F>(fut: F) -> Result<F::Output, SyncError>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("checkin-enroll".into())
            .spawn_scoped(scope, || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(fut))
            })
            .map_err(SyncError::Runtime)?;
        match handle.join() {
            Ok(result) => result.map_err(SyncError::Runtime),
            Err(_) => Err(SyncError::Runtime(std::io::Error::other(
                "the request thread panicked",
            ))),
        }
    })
}
