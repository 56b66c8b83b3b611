//! The identify screens' adapters: the date-of-birth keypad, the last-name
//! keyboard, "not found", choosing between matches, a refused pass and the
//! desk.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::{Frame, Part, Sender};
use crate::domain::{PassProblem, ReasonCode};
use crate::kiosk::controller::UiAction;
use crate::kiosk::ui::{
    AppWindow, AppointmentChoice, ChooseAdapter, DeskReason, DobAdapter, DobError, NameAdapter,
    NameError, NotFoundAdapter, PassProblemKind, PassRejectedAdapter, SeeDeskAdapter,
};
use crate::kiosk::view::{self, DobProblem, NameProblem};

/// Connects the identify screens' callbacks.
pub(super) fn connect(window: &AppWindow, send: &Sender) {
    let d = window.global::<DobAdapter>();
    d.on_typed(
        send.map(|t: slint::SharedString| t.chars().map(UiAction::DobDigit).collect::<Vec<_>>()),
    );
    d.on_erase(send.action(UiAction::DobErase));
    d.on_clear(send.action(UiAction::DobClear));
    d.on_submit(send.action(UiAction::DobSubmit));
    d.on_back(send.action(UiAction::Back));

    let n = window.global::<NameAdapter>();
    n.on_typed(send.map(|t: slint::SharedString| Some(UiAction::NameLetter(t.to_string()))));
    n.on_erase(send.action(UiAction::NameErase));
    n.on_submit(send.action(UiAction::NameSubmit));
    n.on_back(send.action(UiAction::Back));

    let nf = window.global::<NotFoundAdapter>();
    nf.on_try_again(send.action(UiAction::TryAgain));
    nf.on_start_over(send.action(UiAction::Finish));

    let c = window.global::<ChooseAdapter>();
    c.on_choose(send.map(|i: i32| usize::try_from(i).ok().map(UiAction::Choose)));
    c.on_start_over(send.action(UiAction::Finish));
    c.on_back(send.action(UiAction::Back));

    let p = window.global::<PassRejectedAdapter>();
    p.on_use_dob(send.action(UiAction::UseDob));
    p.on_start_over(send.action(UiAction::Finish));

    window
        .global::<SeeDeskAdapter>()
        .on_finish(send.action(UiAction::Finish));
}

/// Renders the identify screens' parts that changed.
pub(super) fn render(f: &Frame<'_>) {
    f.part(
        Part::Dob,
        |v| (&v.dob_display, &v.dob_digits, v.dob_problem),
        |w, (display, digits, problem)| {
            let d = w.global::<DobAdapter>();
            d.set_display(display.as_str().into());
            d.set_digits(digits.as_str().into());
            d.set_error(dob_error(problem));
        },
    );
    f.part(
        Part::Name,
        |v| {
            (
                &v.name_letters,
                v.name_prefix_len,
                v.name_problem,
                v.name_wait_seconds,
            )
        },
        |w, (letters, prefix_len, problem, wait)| {
            let n = w.global::<NameAdapter>();
            n.set_letters(letters.as_str().into());
            n.set_prefix_len(i32::try_from(prefix_len).unwrap_or(3));
            n.set_error(match problem {
                None => NameError::None,
                Some(NameProblem::TooShort) => NameError::TooShort,
                Some(NameProblem::Wait) => NameError::Wait,
            });
            show_name_wait(w, wait);
        },
    );
    f.part(
        Part::NotFound,
        |v| &v.not_found,
        |w, nf| {
            let a = w.global::<NotFoundAdapter>();
            a.set_attempts_left(i32::try_from(nf.attempts_left).unwrap_or(0));
            a.set_dob(nf.dob.as_str().into());
            a.set_letters(nf.letters.as_str().into());
        },
    );
    f.part(
        Part::Choose,
        |v| &v.choices,
        |w, choices| {
            let rows: Vec<AppointmentChoice> = choices
                .iter()
                .map(|c| AppointmentChoice {
                    time: c.time.as_str().into(),
                    clinician: c.clinician.as_str().into(),
                })
                .collect();
            w.global::<ChooseAdapter>()
                .set_choices(ModelRc::new(VecModel::from(rows)));
        },
    );
    f.part(
        Part::PassRejected,
        |v| v.pass_problem,
        |w, problem| {
            w.global::<PassRejectedAdapter>()
                .set_problem(pass_problem(problem));
        },
    );
    f.part(
        Part::SeeDesk,
        |v| v.desk_reason,
        |w, reason| w.global::<SeeDeskAdapter>().set_reason(desk_reason(reason)),
    );
}

/// Shows the seconds left before the next lookup may run.
pub(super) fn show_name_wait(window: &AppWindow, secs: u32) {
    window
        .global::<NameAdapter>()
        .set_wait_seconds(i32::try_from(secs).unwrap_or(i32::MAX));
}

fn dob_error(problem: Option<DobProblem>) -> DobError {
    match problem {
        None => DobError::None,
        Some(DobProblem::Incomplete) => DobError::Incomplete,
        Some(DobProblem::Month) => DobError::Month,
        Some(DobProblem::Day) => DobError::Day,
        Some(DobProblem::Year) => DobError::Year,
        Some(DobProblem::Future) => DobError::Future,
    }
}

fn pass_problem(problem: Option<PassProblem>) -> PassProblemKind {
    match problem {
        Some(PassProblem::Expired) => PassProblemKind::Expired,
        Some(PassProblem::WrongClinic) => PassProblemKind::OtherClinic,
        Some(PassProblem::UnknownAppointment) => PassProblemKind::NotToday,
        _ => PassProblemKind::Unreadable,
    }
}

fn desk_reason(reason: Option<view::DeskReason>) -> DeskReason {
    match reason {
        Some(view::DeskReason::Rule(ReasonCode::TooEarly)) => DeskReason::TooEarly,
        Some(view::DeskReason::Rule(ReasonCode::Late)) => DeskReason::Late,
        Some(view::DeskReason::Rule(ReasonCode::AppointmentCancelled)) => DeskReason::Cancelled,
        Some(view::DeskReason::Rule(ReasonCode::WrongLocation)) => DeskReason::WrongLocation,
        Some(view::DeskReason::Rule(ReasonCode::AlreadyCheckedIn)) => DeskReason::AlreadyCheckedIn,
        _ => DeskReason::Other,
    }
}
