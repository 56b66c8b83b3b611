//! The tactile keypad's adapter: reads the controls on screen from the
//! UI's accessibility tree (the same roles and labels a screen reader
//! uses), keeps the focus ring on one of them, draws it through
//! `KeypadAdapter`, slides a list of answers so the one in the ring is
//! wholly in view, and activates the control in it as a touch would.

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use slint::ComponentHandle;

use crate::config::{KeypadAction, KeypadSettings};
use crate::kiosk::keypad::{Control, ControlKind, FocusRing, ListItem};
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
        let controls = read(window);
        if self.screen == Some(screen) {
            self.ring.relayout(controls);
        } else {
            self.ring = FocusRing::new(controls);
            self.screen = Some(screen);
        }
        draw(window, self.ring.focused());
    }

    /// Moves the ring for an arrow key; returns the control now in it.
    /// Within and into a list of answers the ring goes answer by answer,
    /// sliding the list so the answer it lands on is wholly in view.
    pub(super) fn step(
        &mut self,
        window: &AppWindow,
        screen: Screen,
        action: KeypadAction,
    ) -> Option<Control> {
        self.active = true;
        self.refresh(window, screen);
        match self.ring.list_target(action) {
            Some(index) => {
                reveal(window, index);
                self.ring.relayout(read(window));
                if !self.ring.focus_item(index) {
                    self.ring.step(action);
                }
            }
            None => {
                self.ring.step(action);
            }
        }
        if let Some(item) = self.ring.focused().and_then(|c| c.item) {
            reveal(window, item.index);
            self.ring.relayout(read(window));
        }
        let focused = self.ring.focused().cloned();
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

/// The controls on screen, for the ring.
fn read(window: &AppWindow) -> Vec<Control> {
    controls(window).into_iter().map(|(c, _)| c).collect()
}

/// A rectangle in window coordinates: x, y, width, height.
type Rect = (f32, f32, f32, f32);

fn rect_of(e: &ElementHandle) -> Rect {
    let (at, size) = (e.absolute_position(), e.size());
    (at.x, at.y, size.width, size.height)
}

/// The screen's list of answers that may slide: where it shows them and
/// where all of them lie, in view or not.
struct ScrollList {
    view: Rect,
    content: Rect,
}

/// The list on screen that slides (a `Flickable` holding an element with
/// the `list` role, which spans its content), if any.
fn scroll_list(window: &AppWindow) -> Option<ScrollList> {
    ElementQuery::from_root(window)
        .match_descendants()
        .match_type_name("Flickable")
        .find_all()
        .into_iter()
        .find_map(|flick| {
            let content = flick
                .query_descendants()
                .match_accessible_role(AccessibleRole::List)
                .find_first()?;
            Some(ScrollList {
                view: rect_of(&flick),
                content: rect_of(&content),
            })
        })
}

/// `r` cut to what `view` shows of it (`r` itself when wholly in view);
/// `None` when nothing shows.
fn clip(r: Rect, view: Rect) -> Option<Rect> {
    // Half a pixel of slack, as `reveal` leaves.
    let within = r.0 >= view.0 - 0.5
        && r.1 >= view.1 - 0.5
        && r.0 + r.2 <= view.0 + view.2 + 0.5
        && r.1 + r.3 <= view.1 + view.3 + 0.5;
    if within {
        return Some(r);
    }
    let x = r.0.max(view.0);
    let y = r.1.max(view.1);
    let right = (r.0 + r.2).min(view.0 + view.2);
    let bottom = (r.1 + r.3).min(view.1 + view.3);
    (right > x && bottom > y).then_some((x, y, right - x, bottom - y))
}

/// Every visible control on screen, each once (a component that inherits
/// an element is reported once per level, at the same place). While the
/// idle warning covers the screen, nothing behind it counts. An answer
/// the list shows only in part counts as the part in view, so it never
/// lies under the controls around the list.
pub(super) fn controls(window: &AppWindow) -> Vec<(Control, ElementHandle)> {
    let view = scroll_list(window).map(|l| l.view);
    let mut found: Vec<(Control, ElementHandle)> = Vec::new();
    let elements = ElementQuery::from_root(window)
        .match_descendants()
        .match_predicate(is_control)
        .find_all();
    for e in elements {
        let Some(control) = control_of(&e, view) else {
            continue;
        };
        if control.label.trim().is_empty() || found.iter().any(|(c, _)| *c == control) {
            continue;
        }
        found.push((control, e));
    }
    found
}

/// The ring's view of one element; `None` when it has no size or lies
/// wholly outside the list it is in.
fn control_of(e: &ElementHandle, view: Option<Rect>) -> Option<Control> {
    let (mut x, mut y, mut width, mut height) = rect_of(e);
    if width <= 0.0 || height <= 0.0 {
        return None;
    }
    let item = match (e.accessible_item_index(), e.accessible_item_count()) {
        (Some(index), Some(count)) => Some(ListItem { index, count }),
        _ => None,
    };
    if let (Some(_), Some(view)) = (item, view) {
        (x, y, width, height) = clip((x, y, width, height), view)?;
    }
    let has_value = e.accessible_value().is_some_and(|v| !v.is_empty());
    let answer = e.type_name().as_deref() == Some("AnswerButton");
    let checked = if answer {
        // Which answer is chosen is its value, "Chosen" in the session's
        // language.
        Some(has_value)
    } else {
        e.accessible_checkable()
            .filter(|c| *c)
            .map(|_| e.accessible_checked().unwrap_or(false))
    };
    let kind = if e.accessible_role() == Some(AccessibleRole::Switch) {
        ControlKind::Toggle
    } else if answer {
        ControlKind::Answer
    } else if checked.is_some() {
        ControlKind::Field
    } else if e.type_name().as_deref() == Some("Key") {
        ControlKind::Key
    } else {
        ControlKind::Button
    };
    Some(Control {
        label: e
            .accessible_label()
            .map(|l| l.to_string())
            .unwrap_or_default(),
        x,
        y,
        width,
        height,
        enabled: e.accessible_enabled().unwrap_or(true),
        checked,
        kind,
        // An answer's label is the question's, not the patient's: whether
        // it is chosen is in `checked`.
        has_value: has_value && !answer,
        item,
    })
}

/// Slides the screen's list until its answer `index` is wholly in view,
/// as little as that takes. An answer out of view is not on screen, so
/// the list slides a page at a time towards it until it shows.
fn reveal(window: &AppWindow, index: usize) {
    let adapter = window.global::<KeypadAdapter>();
    // Each slide shows a page the list had not shown; a list of a few
    // hundred pages is far beyond any form.
    for _ in 0..256 {
        let Some(list) = scroll_list(window) else {
            return;
        };
        let (view_y, view_h) = (list.view.1, list.view.3);
        let slid = view_y - list.content.1;
        let most = (list.content.3 - view_h).max(0.0);
        let items: Vec<(ListItem, Rect)> = ElementQuery::from_root(window)
            .match_descendants()
            .match_predicate(is_control)
            .find_all()
            .iter()
            .filter_map(|e| {
                let index = e.accessible_item_index()?;
                let count = e.accessible_item_count()?;
                Some((ListItem { index, count }, rect_of(e)))
            })
            .collect();
        let wanted = match items.iter().find(|(i, _)| i.index == index) {
            Some((_, (_, y, _, h))) => {
                let top = y - view_y + slid;
                if top < slid {
                    top
                } else if top + h > slid + view_h {
                    (top + h - view_h).min(top)
                } else {
                    return;
                }
            }
            None if items.iter().all(|(i, _)| i.index < index) => slid + view_h,
            None => slid - view_h,
        };
        let wanted = wanted.clamp(0.0, most);
        if (wanted - slid).abs() < 0.5 {
            return;
        }
        adapter.set_list_content_y(-wanted);
    }
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
