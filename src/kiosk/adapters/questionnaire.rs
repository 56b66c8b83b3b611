//! The intake forms' adapter: copies the form page of the view model into
//! `FormAdapter`, turns its callbacks into the controller's form inputs,
//! and keeps the consent signature's strokes while the finger draws,
//! turning them into a PNG when the patient goes on.
//!
//! Strokes and the PNG are patient data: nothing here logs them, and they
//! are dropped as soon as the consent page they were drawn on goes (the
//! idle reset included).

use std::cell::RefCell;
use std::rc::Rc;

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{Frame, Part};
use crate::kiosk::controller::UiAction;
use crate::kiosk::signature::Signature;
use crate::kiosk::ui::{AppWindow, FormAdapter, FormKind, FormProblemKind};
use crate::kiosk::view::{FormItemKind, FormProblem, FormView, Screen};

/// The most characters one Clear erases: more than any form answer holds.
const MAX_ERASE: usize = 512;

/// The consent page's signature pad: the strokes drawn so far, shared by
/// the pad's callbacks and the render.
#[derive(Clone, Default)]
pub struct SignaturePad(Rc<RefCell<PadState>>);

#[derive(Default)]
struct PadState {
    /// What the finger drew.
    signature: Signature,
    /// The agreed consent page the strokes belong to: its form title and
    /// position. `None` while no such page shows.
    page: Option<(String, u32)>,
    /// Whether the strokes changed since they were last sent.
    unsent: bool,
}

impl SignaturePad {
    /// Whether anything is drawn on the pad.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().signature.is_empty()
    }
}

/// Connects `FormAdapter`'s callbacks: each becomes an action for `send`;
/// the pad's go to `pad`, which `send` hears of only as the signature's
/// PNG (with "Next"), a cleared signature, and a touch for the idle clock.
pub fn connect(window: &AppWindow, pad: &SignaturePad, send: Rc<dyn Fn(UiAction)>) {
    let f = window.global::<FormAdapter>();
    let action = |a: UiAction| {
        let send = send.clone();
        move || send(a.clone())
    };
    let s = send.clone();
    f.on_choose(move |i| {
        if let Ok(i) = usize::try_from(i) {
            s(UiAction::FormChoose(i));
        }
    });
    let s = send.clone();
    f.on_answer(move |yes| s(UiAction::FormBoolean(yes)));
    let s = send.clone();
    f.on_key(move |text: SharedString| text.chars().for_each(|c| s(UiAction::FormKey(c))));
    f.on_erase(action(UiAction::FormBackspace));
    let s = send.clone();
    f.on_erase_all(move |n| {
        let n = usize::try_from(n).unwrap_or(0).min(MAX_ERASE);
        (0..n).for_each(|_| s(UiAction::FormBackspace));
    });
    f.on_back(action(UiAction::FormBack));
    f.on_agree(action(UiAction::FormAgree));
    f.on_type_name(action(UiAction::FormTypeName));
    f.on_finish(action(UiAction::FormFinish));
    let (s, p) = (send.clone(), pad.clone());
    f.on_next(move || {
        if let Some(png) = p.take_unsent_png() {
            s(UiAction::FormSigned(png));
        }
        s(UiAction::FormNext);
    });
    connect_pad(window, pad, send);
}

/// Connects the signature pad's callbacks.
fn connect_pad(window: &AppWindow, pad: &SignaturePad, send: Rc<dyn Fn(UiAction)>) {
    let f = window.global::<FormAdapter>();
    let (w, p) = (window.as_weak(), pad.clone());
    f.on_pen_down(move |x, y, width, height| {
        let mut state = p.0.borrow_mut();
        if state.page.is_some() && state.signature.pen_down(x, y, width, height) {
            state.unsent = true;
            show_strokes(&w, &state.signature);
        }
    });
    let (w, p) = (window.as_weak(), pad.clone());
    f.on_pen_move(move |x, y| {
        let mut state = p.0.borrow_mut();
        if state.signature.pen_move(x, y) {
            state.unsent = true;
            show_strokes(&w, &state.signature);
        }
    });
    let (w, p, s) = (window.as_weak(), pad.clone(), send.clone());
    f.on_pen_up(move || {
        {
            let mut state = p.0.borrow_mut();
            state.signature.pen_up();
            show_strokes(&w, &state.signature);
        }
        // Signing is activity: the idle clock starts again.
        s(UiAction::StillHere);
    });
    let (w, p) = (window.as_weak(), pad.clone());
    f.on_clear_signature(move || {
        {
            let mut state = p.0.borrow_mut();
            state.signature.clear();
            state.unsent = false;
            show_strokes(&w, &state.signature);
        }
        send(UiAction::FormClearSignature);
    });
}

impl SignaturePad {
    /// The drawing as a PNG, if it changed since it was last sent and is
    /// enough to count as a signature.
    fn take_unsent_png(&self) -> Option<Vec<u8>> {
        let mut state = self.0.borrow_mut();
        if !state.unsent || state.page.is_none() {
            return None;
        }
        // Refused drawings (empty, too short) are not sent: the controller
        // then asks for a signature.
        let png = state.signature.to_png().ok()?;
        state.unsent = false;
        Some(png)
    }
}

/// Shows the drawing on the pad, and whether it is enough to sign.
fn show_strokes(window: &slint::Weak<AppWindow>, signature: &Signature) {
    if let Some(window) = window.upgrade() {
        let f = window.global::<FormAdapter>();
        f.set_signature(signature.path_commands().into());
        f.set_can_sign(signature.is_enough());
    }
}

/// Renders the form page when it changed.
pub(super) fn render(f: &Frame<'_>, pad: &SignaturePad) {
    f.part(
        Part::Form,
        |v| (v.screen, &v.form),
        |w, (screen, form)| show(w, pad, screen, form),
    );
}

/// Shows `form` (the page on `screen`) in `FormAdapter`. The pad keeps
/// its strokes only while the same agreed consent page shows; any other
/// page, or any other screen, wipes them.
pub fn show(window: &AppWindow, pad: &SignaturePad, screen: Screen, form: &FormView) {
    let f = window.global::<FormAdapter>();
    f.set_form_title(form.form_title.as_str().into());
    f.set_position(i32::try_from(form.position).unwrap_or(i32::MAX));
    f.set_count(i32::try_from(form.count).unwrap_or(i32::MAX));
    f.set_kind(kind(form.kind));
    f.set_text(form.text.as_str().into());
    f.set_group_title(form.group_title.as_str().into());
    let options: Vec<SharedString> = form.options.iter().map(|o| o.as_str().into()).collect();
    f.set_options(ModelRc::new(VecModel::from(options)));
    f.set_selected(
        form.selected
            .and_then(|i| i32::try_from(i).ok())
            .unwrap_or(-1),
    );
    f.set_typed(form.typed.as_str().into());
    f.set_required(form.required);
    f.set_problem(problem(form.problem));
    f.set_agreed(form.agreed);
    f.set_signed(form.signed);
    f.set_typing_name(form.typing_name);
    f.set_crisis_text(form.crisis_text.as_str().into());

    // The keyboard for a typed name replaces the pad: strokes drawn before
    // it opened are dropped, so they never sign behind the typed name.
    let page = (screen == Screen::Form
        && form.kind == FormItemKind::Consent
        && form.agreed
        && !form.typing_name)
        .then(|| (form.form_title.clone(), form.position));
    let mut state = pad.0.borrow_mut();
    if state.page != page {
        state.signature.clear();
        state.unsent = false;
        state.page = page;
    }
    f.set_signature(state.signature.path_commands().into());
    f.set_can_sign(state.signature.is_enough());
}

fn kind(kind: FormItemKind) -> FormKind {
    match kind {
        FormItemKind::Display => FormKind::Display,
        FormItemKind::Boolean => FormKind::Boolean,
        FormItemKind::Choice => FormKind::Choice,
        FormItemKind::Integer => FormKind::Integer,
        FormItemKind::Date => FormKind::Date,
        FormItemKind::Text => FormKind::Text,
        FormItemKind::Consent => FormKind::Consent,
        FormItemKind::ThankYou => FormKind::ThankYou,
    }
}

fn problem(problem: Option<FormProblem>) -> FormProblemKind {
    match problem {
        None => FormProblemKind::None,
        Some(FormProblem::Required) => FormProblemKind::Required,
        Some(FormProblem::NotANumber) => FormProblemKind::NotANumber,
        Some(FormProblem::OutOfRange) => FormProblemKind::OutOfRange,
        Some(FormProblem::BadDate) => FormProblemKind::BadDate,
        Some(FormProblem::TooLong) => FormProblemKind::TooLong,
        Some(FormProblem::BadCharacters) => FormProblemKind::BadCharacters,
        Some(FormProblem::NotAgreed) => FormProblemKind::NotAgreed,
        Some(FormProblem::NotSigned) => FormProblemKind::NotSigned,
    }
}
