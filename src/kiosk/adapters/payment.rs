//! The payment screens' adapters: the co-pay choices and the pay-by-phone
//! QR code, drawn once per payment link.

use slint::{ComponentHandle, Image, Rgb8Pixel, SharedPixelBuffer};

use super::{Frame, Part, Sender};
use crate::domain::CoPayChoice;
use crate::kiosk::controller::UiAction;
use crate::kiosk::ui::{AppWindow, CoPayAdapter, PayPhoneAdapter};

/// Connects the payment screens' callbacks.
pub(super) fn connect(window: &AppWindow, send: &Sender) {
    let cp = window.global::<CoPayAdapter>();
    cp.on_front_desk(send.action(UiAction::CoPay(CoPayChoice::FrontDesk)));
    cp.on_phone(send.action(UiAction::CoPay(CoPayChoice::Phone)));
    cp.on_bill_later(send.action(UiAction::CoPay(CoPayChoice::BillLater)));
    cp.on_back(send.action(UiAction::Back));

    let pp = window.global::<PayPhoneAdapter>();
    pp.on_done(send.action(UiAction::PayPhoneDone));
    pp.on_back(send.action(UiAction::Back));
}

/// Renders the payment screens' parts that changed.
pub(super) fn render(f: &Frame<'_>) {
    f.part(
        Part::CoPay,
        |v| &v.copay,
        |w, c| {
            let cp = w.global::<CoPayAdapter>();
            cp.set_amount(c.amount.as_str().into());
            cp.set_self_pay(c.self_pay);
            cp.set_balance(c.balance.as_str().into());
            cp.set_allow_phone(c.allow_phone);
            cp.set_allow_bill_later(c.allow_bill_later);
        },
    );
    // The QR code is drawn only when the link changes, as this part does.
    f.part(
        Part::PayPhone,
        |v| &v.pay_phone,
        |w, p| {
            let pp = w.global::<PayPhoneAdapter>();
            pp.set_amount(p.amount.as_str().into());
            pp.set_reference(p.reference.as_str().into());
            // An empty link gives an empty image, so no stale code survives
            // a reset.
            let qr = if p.url.is_empty() {
                Image::default()
            } else {
                render_qr(&p.url).unwrap_or_default()
            };
            pp.set_qr(qr);
        },
    );
}

/// Renders `text` as a QR code image, eight pixels a module with a quiet zone.
pub fn render_qr(text: &str) -> Option<Image> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let side = (modules + 2 * QUIET) * SCALE;
    let side_u32 = u32::try_from(side).ok()?;
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    let pixels = buffer.make_mut_slice();
    for (i, px) in pixels.iter_mut().enumerate() {
        let (x, y) = (i % side / SCALE, i / side / SCALE);
        let dark = x >= QUIET
            && y >= QUIET
            && x < modules + QUIET
            && y < modules + QUIET
            && colors[(y - QUIET) * modules + (x - QUIET)] == qrcode::Color::Dark;
        let v = if dark { 0 } else { 255 };
        *px = Rgb8Pixel { r: v, g: v, b: v };
    }
    Some(Image::from_rgb8(buffer))
}
