//! The tactile keypad's adapter: reads the controls on screen from the
//! UI's accessibility tree (the same roles and labels a screen reader
//! uses), keeps the focus ring on one of them, draws it through
//! `KeypadAdapter`, and activates the control in it as a touch would.

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use slint::ComponentHandle;

use crate::config::{KeypadAction, KeypadSettings};
use crate::kiosk::keypad::{Control, ControlKind, FocusRing};
use crate::kiosk::ui::{AppWindow, KeypadAdapter};
use crate::kiosk::view::Screen;

/// The keypad's state for the session.
#[derive(Debug, Default)]
pub(super) struct KeypadState {
    /// Which key does what.
    pub(super) settings: KeypadSettings,
    /// Whether a keypad key was pressed this session: only then is the
    /// ring kept and drawn.
    pub(super) active: bool,
    /// The ring on the screen last laid out.
    pub(super) ring: FocusRing,
    /// The screen the ring belongs to.
    screen: Option<Screen>,
}

impl KeypadState {
    /// A keypad with `settings`, not yet used.
    pub(super) fn new(settings: KeypadSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// The session ended: the ring goes, until the next keypad key.
    pub(super) fn end_session(&mut self, window: &AppWindow) {
        self.active = false;
        self.ring = FocusRing::default();
        self.screen = None;
        draw(window, None);
    }

    /// Reads the controls again after a render: a new screen starts with
    /// the ring on nothing; the same screen keeps it on its control.
    pub(super) fn refresh(&mut self, window: &AppWindow, screen: Screen) {
        if !self.active {
            return;
        }
        let controls = controls(window).into_iter().map(|(c, _)| c).collect();
        if self.screen == Some(screen) {
            self.ring.relayout(controls);
        } else {
            self.ring = FocusRing::new(controls);
            self.screen = Some(screen);
        }
        draw(window, self.ring.focused());
    }

    /// Moves the ring for an arrow key; returns the control now in it.
    pub(super) fn step(
        &mut self,
        window: &AppWindow,
        screen: Screen,
        action: KeypadAction,
    ) -> Option<Control> {
        self.active = true;
        self.refresh(window, screen);
        let focused = self.ring.step(action).cloned();
        draw(window, focused.as_ref());
        focused
    }

    /// The element of the control in the ring, to activate; `None` when
    /// the ring is on nothing or its control is disabled.
    pub(super) fn focused_element(&self, window: &AppWindow) -> Option<ElementHandle> {
        let focused = self.ring.focused().filter(|c| c.enabled)?;
        controls(window)
            .into_iter()
            .find(|(c, _)| c == focused)
            .map(|(_, e)| e)
    }
}

/// Whether a patient can act on this element, by its accessible role.
fn is_control(e: &ElementHandle) -> bool {
    matches!(
        e.accessible_role(),
        Some(
            AccessibleRole::Button
                | AccessibleRole::Checkbox
                | AccessibleRole::Combobox
                | AccessibleRole::Slider
                | AccessibleRole::Spinbox
                | AccessibleRole::Tab
                | AccessibleRole::TextInput
                | AccessibleRole::Switch
                | AccessibleRole::ListItem
                | AccessibleRole::RadioButton
        )
    )
}

/// Every visible control on screen, each once (a component that inherits
/// an element is reported once per level, at the same place). While the
/// idle warning covers the screen, nothing behind it counts.
pub(super) fn controls(window: &AppWindow) -> Vec<(Control, ElementHandle)> {
    let mut found: Vec<(Control, ElementHandle)> = Vec::new();
    let elements = ElementQuery::from_root(window)
        .match_descendants()
        .match_predicate(is_control)
        .find_all();
    for e in elements {
        let at = e.absolute_position();
        let size = e.size();
        if size.width <= 0.0 || size.height <= 0.0 {
            continue;
        }
        let checked = e
            .accessible_checkable()
            .filter(|c| *c)
            .map(|_| e.accessible_checked().unwrap_or(false));
        let kind = if e.accessible_role() == Some(AccessibleRole::Switch) {
            ControlKind::Toggle
        } else if checked.is_some() {
            ControlKind::Field
        } else if e.type_name().as_deref() == Some("Key") {
            ControlKind::Key
        } else {
            ControlKind::Button
        };
        let control = Control {
            label: e
                .accessible_label()
                .map(|l| l.to_string())
                .unwrap_or_default(),
            x: at.x,
            y: at.y,
            width: size.width,
            height: size.height,
            enabled: e.accessible_enabled().unwrap_or(true),
            checked,
            kind,
            has_value: e.accessible_value().is_some_and(|v| !v.is_empty()),
        };
        if control.label.trim().is_empty() || found.iter().any(|(c, _)| *c == control) {
            continue;
        }
        found.push((control, e));
    }
    found
}

/// Draws the ring around `control`, or hides it.
fn draw(window: &AppWindow, control: Option<&Control>) {
    let k = window.global::<KeypadAdapter>();
    match control {
        Some(c) => {
            k.set_ring_x(c.x);
            k.set_ring_y(c.y);
            k.set_ring_width(c.width);
            k.set_ring_height(c.height);
            k.set_ring_visible(true);
        }
        None => k.set_ring_visible(false),
    }
}
