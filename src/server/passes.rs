//! Passes for appointments: signing one with the server's key, and
//! rendering its text as a QR code in PNG (for reminders) or SVG (for
//! printing).
//!
//! The PNG is a 1-bit greyscale image written with the `png` crate from the
//! QR module matrix, which keeps `image` out of the server's encode path.

use chrono::{DateTime, Duration, Utc};
use qrcode::{Color, EcLevel, QrCode};

use crate::domain::{AppointmentId, ClinicId};
use crate::pass::{PassClaims, PassKeyError, PassSigner};

/// Pixels per QR module in the PNG.
pub const PNG_MODULE_PX: u32 = 8;
/// Light modules around the code, as the QR standard asks.
pub const QUIET_ZONE_MODULES: u32 = 4;

/// Why a pass could not be made or drawn.
#[derive(Debug, thiserror::Error)]
pub enum PassRenderError {
    /// The pass could not be signed (an id does not fit).
    #[error(transparent)]
    Sign(#[from] PassKeyError),
    /// The text does not fit in a QR code.
    #[error("the pass does not fit in a QR code: {0}")]
    Qr(String),
    /// The PNG encoder failed.
    #[error("encoding the PNG failed: {0}")]
    Png(String),
}

/// Signs a pass for an appointment starting at `start`, valid until
/// `start + after_start`.
pub fn sign_for(
    signer: &PassSigner,
    clinic: &ClinicId,
    appointment: &AppointmentId,
    start: DateTime<Utc>,
    after_start: Duration,
) -> Result<(String, DateTime<Utc>), PassRenderError> {
    let expires = start + after_start;
    let text = signer.sign(&PassClaims {
        clinic_id: clinic.clone(),
        appointment_id: appointment.clone(),
        expires_at: expires.timestamp(),
    })?;
    Ok((text, expires))
}

fn code(text: &str) -> Result<QrCode, PassRenderError> {
    // Level M survives a crumpled printout and keeps the code small.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| PassRenderError::Qr(e.to_string()))
}

/// The pass as an SVG document.
pub fn svg(text: &str) -> Result<String, PassRenderError> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// The pass as a PNG image: 1-bit greyscale, [`PNG_MODULE_PX`] pixels a
/// module, with the standard quiet zone.
pub fn png(text: &str) -> Result<Vec<u8>, PassRenderError> {
    let qr = code(text)?;
    let modules = u32::try_from(qr.width()).map_err(|e| PassRenderError::Qr(e.to_string()))?;
    let colors = qr.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PNG_MODULE_PX;
    let row_bytes = side.div_ceil(8) as usize;
    let mut data = vec![0u8; row_bytes * side as usize];
    for y in 0..side {
        for x in 0..side {
            let mx = (x / PNG_MODULE_PX).checked_sub(QUIET_ZONE_MODULES);
            let my = (y / PNG_MODULE_PX).checked_sub(QUIET_ZONE_MODULES);
            let dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < modules && my < modules => {
                    colors[(my * modules + mx) as usize] == Color::Dark
                }
                _ => false,
            };
            if !dark {
                // In 1-bit greyscale, 1 is white.
                data[y as usize * row_bytes + (x / 8) as usize] |= 0x80 >> (x % 8);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut writer = enc
            .write_header()
            .map_err(|e| PassRenderError::Png(e.to_string()))?;
        writer
            .write_image_data(&data)
            .map_err(|e| PassRenderError::Png(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| PassRenderError::Png(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_png_render_a_pass() {
        let signer = PassSigner::generate();
        let (text, expires) = sign_for(
            &signer,
            &ClinicId("c1".into()),
            &AppointmentId("a1".into()),
            Utc::now(),
            Duration::hours(4),
        )
        .unwrap();
        assert!(expires > Utc::now());
        let s = svg(&text).unwrap();
        assert!(s.contains("<svg") && s.contains("</svg>"));
        let p = png(&text).unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    }
}
