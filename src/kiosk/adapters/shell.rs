//! The shell's adapters: `KioskAdapter` (screen, language, identity banner,
//! notice, idle warning, hardware keys), `WelcomeAdapter`, `HelpAdapter`
//! and `DoneAdapter`, with the countdowns the tick shows.

use slint::ComponentHandle;

use super::{Frame, Part, Sender};
use crate::domain::{CoPayChoice, Language, ReasonCode};
use crate::kiosk::controller::UiAction;
use crate::kiosk::ui::{
    AppWindow, DoneAdapter, HelpAdapter, KioskAdapter, NoticeKind, PaymentKind, Screen,
    WelcomeAdapter,
};
use crate::kiosk::view;

/// Connects the shell's callbacks; `key_input` takes hardware keys (the
/// scanner), which bypass the ordinary dispatch.
pub(super) fn connect(window: &AppWindow, send: &Sender, key_input: impl Fn(String) + 'static) {
    let k = window.global::<KioskAdapter>();
    k.on_help(send.action(UiAction::Help));
    k.on_set_language(send.map(|code: slint::SharedString| {
        Language::parse(code.as_str()).map(UiAction::SetLanguage)
    }));
    k.on_still_here(send.action(UiAction::StillHere));
    k.on_activity(send.action(UiAction::StillHere));
    k.on_key_input(move |text| key_input(text.to_string()));

    window
        .global::<WelcomeAdapter>()
        .on_use_dob(send.action(UiAction::UseDob));
    window
        .global::<HelpAdapter>()
        .on_resume(send.action(UiAction::Resume));
    window
        .global::<DoneAdapter>()
        .on_finish(send.action(UiAction::Finish));
}

/// Renders the shell's parts that changed.
pub(super) fn render(f: &Frame<'_>) {
    f.part(
        Part::Shell,
        |v| {
            (
                v.screen,
                v.language,
                v.idle_warning,
                (v.progress, v.progress_steps),
                &v.identity,
                v.notice,
            )
        },
        |w, (screen_now, language, idle_warning, (progress, steps), identity, notice)| {
            let k = w.global::<KioskAdapter>();
            k.set_screen(screen(screen_now));
            k.set_language(language.code().into());
            k.set_idle_warning(idle_warning);
            k.set_progress(i32::from(progress));
            k.set_progress_steps(i32::from(steps));
            let identity = identity.clone().unwrap_or_default();
            k.set_patient_name(identity.name.into());
            k.set_appointment_time(identity.time.into());
            k.set_clinician(identity.clinician.into());
            k.set_notice(match notice {
                Some(ReasonCode::Late) => NoticeKind::Late,
                Some(ReasonCode::TooEarly) => NoticeKind::Early,
                Some(ReasonCode::WrongLocation) => NoticeKind::WrongLocation,
                _ => NoticeKind::None,
            });
        },
    );
    f.part(
        Part::Done,
        |v| &v.done,
        |w, done| {
            let d = w.global::<DoneAdapter>();
            d.set_payment(match done.choice {
                None => PaymentKind::None,
                Some(CoPayChoice::FrontDesk) => PaymentKind::FrontDesk,
                Some(CoPayChoice::Phone) => PaymentKind::Phone,
                Some(CoPayChoice::BillLater) => PaymentKind::BillLater,
            });
            d.set_amount(done.amount.as_str().into());
            d.set_self_pay(done.self_pay);
        },
    );
    f.part(
        Part::Help,
        |v| v.help_can_resume,
        |w, can_resume| w.global::<HelpAdapter>().set_can_resume(can_resume),
    );
}

/// Shows the idle and Done countdowns.
pub(super) fn show_clock(window: &AppWindow, idle_left: i32, done_left: i32) {
    window
        .global::<KioskAdapter>()
        .set_idle_seconds_left(idle_left);
    window.global::<DoneAdapter>().set_seconds_left(done_left);
}

fn screen(s: view::Screen) -> Screen {
    match s {
        view::Screen::Welcome => Screen::Welcome,
        view::Screen::EnterDob => Screen::EnterDob,
        view::Screen::EnterName => Screen::EnterName,
        view::Screen::NotFound => Screen::NotFound,
        view::Screen::Choose => Screen::Choose,
        view::Screen::PassRejected => Screen::PassRejected,
        view::Screen::SeeDesk => Screen::SeeDesk,
        view::Screen::Demographics => Screen::Demographics,
        view::Screen::EditDemographics => Screen::EditDemographics,
        view::Screen::Insurance => Screen::Insurance,
        view::Screen::EditInsurance => Screen::EditInsurance,
        view::Screen::CoPay => Screen::Copay,
        view::Screen::PayPhone => Screen::PayPhone,
        view::Screen::Done => Screen::Done,
        view::Screen::Help => Screen::Help,
        view::Screen::Form => Screen::Form,
    }
}
