//! The tactile keypad: which key a keyboard event is, whether it belongs
//! to a scanner burst, and the focus ring's moves through a screen's
//! controls in reading order. Plain Rust: the adapter reads the controls
//! from the UI and draws the ring.

use crate::config::{KeyName, KeypadAction, KeypadSettings};

/// Slint's text for the keys a keypad may send (its private-use codes
/// for the arrows, function and editing keys, and control codes).
const KEY_TEXT: &[(char, KeyName)] = &[
    ('\n', KeyName::Return),
    ('\r', KeyName::Return),
    ('\u{1b}', KeyName::Escape),
    ('\u{8}', KeyName::Backspace),
    ('\t', KeyName::Tab),
    ('\u{7f}', KeyName::Delete),
    ('\u{F700}', KeyName::Up),
    ('\u{F701}', KeyName::Down),
    ('\u{F702}', KeyName::Left),
    ('\u{F703}', KeyName::Right),
    ('\u{F727}', KeyName::Insert),
    ('\u{F729}', KeyName::Home),
    ('\u{F72B}', KeyName::End),
    ('\u{F72C}', KeyName::PageUp),
    ('\u{F72D}', KeyName::PageDown),
];

/// The first of Slint's codes for F1 to F12, which follow in order.
const F1: u32 = 0xF704;

/// The key a keyboard event's text is, when it is one non-printing key.
pub fn key_of(text: &str) -> Option<KeyName> {
    let mut chars = text.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    if let Some((_, key)) = KEY_TEXT.iter().find(|(k, _)| *k == c) {
        return Some(*key);
    }
    let code = u32::from(c);
    (F1..F1 + 12)
        .contains(&code)
        .then(|| KeyName::F(u8::try_from(code - F1 + 1).unwrap_or(1)))
}

/// Whether `text` is a special key no scanner types (arrows, function
/// keys, Home, End …): it must never reach the scan buffer.
pub fn is_special_key(text: &str) -> bool {
    text.chars().any(|c| ('\u{F700}'..='\u{F8FF}').contains(&c))
}

/// What one keyboard event is to the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRoute {
    /// A keypad action.
    Keypad(KeypadAction),
    /// Text for the scanner (including the Enter that ends a burst).
    Scanner,
    /// A special key with no action: dropped.
    Ignored,
}

/// Routes one keyboard event. Return is the scanner's while a burst is
/// being typed (`scan_in_progress`), so a keypad never cuts a pass short
/// and a scanner's Enter never activates a control.
pub fn route(keys: &KeypadSettings, text: &str, scan_in_progress: bool) -> KeyRoute {
    match key_of(text) {
        Some(KeyName::Return) if scan_in_progress => KeyRoute::Scanner,
        Some(key) => match keys.action(key) {
            Some(action) => KeyRoute::Keypad(action),
            None if is_special_key(text) => KeyRoute::Ignored,
            None => KeyRoute::Scanner,
        },
        None if is_special_key(text) => KeyRoute::Ignored,
        None => KeyRoute::Scanner,
    }
}

/// A control on screen, as the focus ring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// Its accessible label, as a screen reader says it.
    pub label: String,
    /// Left edge, in window coordinates.
    pub x: f32,
    /// Top edge, in window coordinates.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Whether it can be activated now.
    pub enabled: bool,
    /// `Some(true)` for a selected choice (a form field being typed in).
    pub checked: Option<bool>,
    /// What sort of control it is.
    pub kind: ControlKind,
    /// Whether it shows a value the patient gave (a form field's text):
    /// such a control carries patient data.
    pub has_value: bool,
    /// Its place in the screen's list of items (a form's answers), which
    /// may slide under the finger: items out of view are still in the
    /// ring's order, reached by scrolling them into view.
    pub item: Option<ListItem>,
}

/// A control's place in a list of items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListItem {
    /// Its index, from 0, in reading order.
    pub index: usize,
    /// How many items the list has, in view or not.
    pub count: usize,
}

/// What sort of control the focus ring is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControlKind {
    /// A button.
    #[default]
    Button,
    /// A key of the date keypad or the letter keyboard.
    Key,
    /// A form field to type into.
    Field,
    /// A switch that is on or off, such as larger text.
    Toggle,
    /// An answer of a form question; `checked` says whether it is chosen.
    Answer,
}

impl Control {
    fn centre_x(&self) -> f32 {
        self.x + self.width / 2.0
    }

    fn centre_y(&self) -> f32 {
        self.y + self.height / 2.0
    }
}

/// Sorts controls into reading order: rows from the top, each row left to
/// right. A control joins a row when its centre lies within the height of
/// the row's first control, so keys of one keypad row form one row even
/// when their heights differ slightly.
///
/// The items of a list (a form's answers) are read together, in their own
/// order, where the list begins: a list beside the question is read before
/// the Back and Next under it, and an item half out of view never falls
/// among the controls around the list.
pub fn reading_order(controls: Vec<Control>) -> Vec<Vec<Control>> {
    let (mut items, plain): (Vec<Control>, Vec<Control>) =
        controls.into_iter().partition(|c| c.item.is_some());
    let mut rows = rows_by_place(plain);
    if items.is_empty() {
        return rows;
    }
    items.sort_by_key(|c| c.item.map_or(0, |i| i.index));
    let top = items[0].y;
    let mut block = rows_in_turn(items);
    let at = rows
        .iter()
        .position(|r| r.first().is_some_and(|c| c.centre_y() > top))
        .unwrap_or(rows.len());
    let after = rows.split_off(at);
    rows.append(&mut block);
    rows.extend(after);
    rows
}

/// Controls in rows by their place on screen, each row left to right.
fn rows_by_place(mut controls: Vec<Control>) -> Vec<Vec<Control>> {
    controls.sort_by(|a, b| a.centre_y().total_cmp(&b.centre_y()));
    let mut rows = rows_in_turn(controls);
    for row in &mut rows {
        row.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    rows
}

/// Splits controls, taken in turn, into rows: a control joins the row
/// before it when its centre lies within the height of that row's first.
fn rows_in_turn(controls: Vec<Control>) -> Vec<Vec<Control>> {
    let mut rows: Vec<Vec<Control>> = Vec::new();
    for c in controls {
        let joins = rows
            .last()
            .and_then(|r| r.first())
            .is_some_and(|first| c.centre_y() >= first.y && c.centre_y() <= first.y + first.height);
        match rows.last_mut() {
            Some(row) if joins => row.push(c),
            _ => rows.push(vec![c]),
        }
    }
    rows
}

/// Where the focus ring is on the current screen: the controls in reading
/// order, by row, and the one in the ring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FocusRing {
    rows: Vec<Vec<Control>>,
    /// (row, column) of the control in the ring; `None` before the first move.
    at: Option<(usize, usize)>,
    /// The column a run of Up and Down moves keeps to: the centre of the
    /// control the run started on. Passing a wide key (Space) then comes
    /// back to the same column of the grid, not to the key nearest the
    /// wide key's centre. Left, Right and a new screen end the run.
    column_x: Option<f32>,
}

impl FocusRing {
    /// The screen's controls, with the ring on none of them.
    pub fn new(controls: Vec<Control>) -> Self {
        Self {
            rows: reading_order(controls),
            at: None,
            column_x: None,
        }
    }

    /// The same screen laid out again (a key typed, a notice shown): the
    /// ring stays on the control with the same label, counted in reading
    /// order, or on the nearest place when that control went away.
    pub fn relayout(&mut self, controls: Vec<Control>) {
        let kept = self.focused().map(|c| (c.label.clone(), self.occurrence()));
        let old_at = self.at;
        self.rows = reading_order(controls);
        let found = kept.and_then(|(label, n)| self.find(&label, n));
        if found.is_none() {
            self.column_x = None;
        }
        self.at = found.or_else(|| {
            let (row, col) = old_at?;
            let row = row.min(self.rows.len().checked_sub(1)?);
            Some((row, col.min(self.rows[row].len().saturating_sub(1))))
        });
    }

    /// Every control in reading order.
    pub fn controls(&self) -> impl Iterator<Item = &Control> {
        self.rows.iter().flatten()
    }

    /// The control in the ring.
    pub fn focused(&self) -> Option<&Control> {
        let (r, c) = self.at?;
        self.rows.get(r)?.get(c)
    }

    /// The position of the control in the ring in reading order, from 0.
    pub fn focused_index(&self) -> Option<usize> {
        let (r, c) = self.at?;
        Some(self.rows[..r].iter().map(Vec::len).sum::<usize>() + c)
    }

    /// Moves the ring. Left and Right step through reading order, wrapping
    /// at the ends; Up and Down go to the row above or below, to the
    /// control nearest the column the run of Up and Down moves started in
    /// (the current control's centre for the first), wrapping top to
    /// bottom, so they move through a grid (the date keypad, the letter
    /// keyboard, answer buttons) a row at a time. The first move of a
    /// screen lands on its first control. Returns the control now in the
    /// ring.
    pub fn step(&mut self, action: KeypadAction) -> Option<&Control> {
        if self.rows.is_empty() {
            return None;
        }
        let Some((row, col)) = self.at else {
            self.at = Some((0, 0));
            self.column_x = None;
            return self.focused();
        };
        let total = self.controls().count();
        let index = self.focused_index().unwrap_or(0);
        self.at = match action {
            KeypadAction::Right => Some(self.position((index + 1) % total)),
            KeypadAction::Left => Some(self.position((index + total - 1) % total)),
            KeypadAction::Down | KeypadAction::Up => {
                let rows = self.rows.len();
                let next = if action == KeypadAction::Down {
                    (row + 1) % rows
                } else {
                    (row + rows - 1) % rows
                };
                let x = *self
                    .column_x
                    .get_or_insert_with(|| self.rows[row][col].centre_x());
                Some((next, self.nearest(next, x)))
            }
            _ => Some((row, col)),
        };
        if matches!(action, KeypadAction::Left | KeypadAction::Right) {
            self.column_x = None;
        }
        self.focused()
    }

    /// Where a move goes in the screen's list of items, by item index,
    /// when it moves within the list or into it; `None` when the list is
    /// not involved (the ring then moves with [`FocusRing::step`]). Within
    /// the list, Left and Right step through the items and Up and Down go
    /// a row of the list, in view or not; past its ends the ring leaves
    /// the list. Into the list, Right and Down arrive at its first row and
    /// Left and Up at its last, so every item is met in order. The item
    /// may be out of view: the caller scrolls it in, then calls
    /// [`FocusRing::focus_item`].
    pub fn list_target(&self, action: KeypadAction) -> Option<usize> {
        let count = self.controls().find_map(|c| c.item).map(|i| i.count)?;
        if count == 0 {
            return None;
        }
        let columns = self.list_columns();
        let last_row = (count - 1) / columns;
        if let Some(at) = self.focused().and_then(|c| c.item) {
            let i = at.index;
            return match action {
                KeypadAction::Right => (i + 1 < count).then_some(i + 1),
                KeypadAction::Left => i.checked_sub(1),
                KeypadAction::Down => {
                    (i / columns < last_row).then(|| (i + columns).min(count - 1))
                }
                KeypadAction::Up => i.checked_sub(columns),
                _ => None,
            };
        }
        let mut probe = self.clone();
        let landed = probe.step(action)?.item?;
        let column = landed.index % columns;
        match action {
            KeypadAction::Right => Some(0),
            KeypadAction::Left => Some(count - 1),
            KeypadAction::Down => Some(column.min(count - 1)),
            KeypadAction::Up => Some((last_row * columns + column).min(count - 1)),
            _ => None,
        }
    }

    /// How many items a row of the list holds: the most any of its rows
    /// in view holds.
    fn list_columns(&self) -> usize {
        self.rows
            .iter()
            .map(|r| r.iter().filter(|c| c.item.is_some()).count())
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Puts the ring on the list's item `index`; false when that item is
    /// not on screen.
    pub fn focus_item(&mut self, index: usize) -> bool {
        let found = self
            .controls()
            .position(|c| c.item.is_some_and(|i| i.index == index));
        match found {
            Some(at) => {
                self.at = Some(self.position(at));
                self.column_x = None;
                true
            }
            None => false,
        }
    }

    /// Puts the ring on the `index`th control in reading order.
    pub fn set_index(&mut self, index: usize) {
        if index < self.controls().count() {
            self.at = Some(self.position(index));
            self.column_x = None;
        }
    }

    fn position(&self, mut index: usize) -> (usize, usize) {
        for (r, row) in self.rows.iter().enumerate() {
            if index < row.len() {
                return (r, index);
            }
            index -= row.len();
        }
        (0, 0)
    }

    fn nearest(&self, row: usize, x: f32) -> usize {
        self.rows[row]
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| {
                (a.centre_x() - x)
                    .abs()
                    .total_cmp(&(b.centre_x() - x).abs())
            })
            .map_or(0, |(i, _)| i)
    }

    /// How many controls before the focused one share its label.
    fn occurrence(&self) -> usize {
        let Some(focused) = self.focused() else {
            return 0;
        };
        let index = self.focused_index().unwrap_or(0);
        self.controls()
            .take(index)
            .filter(|c| c.label == focused.label)
            .count()
    }

    fn find(&self, label: &str, occurrence: usize) -> Option<(usize, usize)> {
        let index = self
            .controls()
            .enumerate()
            .filter(|(_, c)| c.label == label)
            .nth(occurrence)
            .map(|(i, _)| i)?;
        Some(self.position(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeypadSettings;

    fn keys() -> KeypadSettings {
        KeypadSettings {
            keys: vec![
                (KeypadAction::Up, KeyName::Up),
                (KeypadAction::Down, KeyName::Down),
                (KeypadAction::Left, KeyName::Left),
                (KeypadAction::Right, KeyName::Right),
                (KeypadAction::Enter, KeyName::Return),
                (KeypadAction::Back, KeyName::Escape),
                (KeypadAction::Help, KeyName::F(1)),
            ],
        }
    }

    fn control(label: &str, x: f32, y: f32) -> Control {
        Control {
            label: label.into(),
            x,
            y,
            width: 100.0,
            height: 80.0,
            enabled: true,
            checked: None,
            kind: ControlKind::Button,
            has_value: false,
            item: None,
        }
    }

    /// A 3x2 keypad under a one-button row, given out of order.
    fn screen() -> Vec<Control> {
        vec![
            control("6", 220.0, 200.0),
            control("1", 0.0, 100.0),
            control("Next", 0.0, 300.0),
            control("Help", 300.0, 0.0),
            control("3", 220.0, 102.0),
            control("2", 110.0, 98.0),
            control("4", 0.0, 200.0),
            control("5", 110.0, 200.0),
        ]
    }

    #[test]
    fn keys_are_read_from_slint_text() {
        assert_eq!(key_of("\u{F700}"), Some(KeyName::Up));
        assert_eq!(key_of("\n"), Some(KeyName::Return));
        assert_eq!(key_of("\u{F704}"), Some(KeyName::F(1)));
        assert_eq!(key_of("\u{F70F}"), Some(KeyName::F(12)));
        assert_eq!(key_of("\u{F710}"), None);
        assert_eq!(key_of("a"), None);
        assert_eq!(key_of("\u{F700}\u{F700}"), None);
    }

    #[test]
    fn keypad_keys_never_reach_the_scanner_and_printing_keys_always_do() {
        let k = keys();
        assert_eq!(
            route(&k, "\u{F701}", false),
            KeyRoute::Keypad(KeypadAction::Down)
        );
        assert_eq!(
            route(&k, "\u{F701}", true),
            KeyRoute::Keypad(KeypadAction::Down)
        );
        assert_eq!(
            route(&k, "\n", false),
            KeyRoute::Keypad(KeypadAction::Enter)
        );
        assert_eq!(route(&k, "\n", true), KeyRoute::Scanner);
        // F9 is not mapped, and is still not scanner text.
        assert_eq!(route(&k, "\u{F70C}", true), KeyRoute::Ignored);
        assert_eq!(route(&k, "C", false), KeyRoute::Scanner);
        assert_eq!(route(&k, "\u{8}", false), KeyRoute::Scanner);
    }

    #[test]
    fn controls_are_read_in_rows_top_to_bottom_left_to_right() {
        let ring = FocusRing::new(screen());
        let order: Vec<&str> = ring.controls().map(|c| c.label.as_str()).collect();
        assert_eq!(order, ["Help", "1", "2", "3", "4", "5", "6", "Next"]);
    }

    #[test]
    fn left_and_right_step_through_reading_order_and_wrap() {
        let mut ring = FocusRing::new(screen());
        assert_eq!(ring.focused(), None);
        assert_eq!(ring.step(KeypadAction::Right).unwrap().label, "Help");
        assert_eq!(ring.step(KeypadAction::Right).unwrap().label, "1");
        assert_eq!(ring.step(KeypadAction::Left).unwrap().label, "Help");
        assert_eq!(ring.step(KeypadAction::Left).unwrap().label, "Next");
        assert_eq!(ring.step(KeypadAction::Right).unwrap().label, "Help");
    }

    #[test]
    fn up_and_down_move_between_rows_to_the_nearest_control() {
        let mut ring = FocusRing::new(screen());
        ring.set_index(3); // "3"
        assert_eq!(ring.step(KeypadAction::Down).unwrap().label, "6");
        assert_eq!(ring.step(KeypadAction::Down).unwrap().label, "Next");
        assert_eq!(ring.step(KeypadAction::Down).unwrap().label, "Help");
        assert_eq!(ring.step(KeypadAction::Down).unwrap().label, "3");
        assert_eq!(ring.step(KeypadAction::Up).unwrap().label, "Help");
    }

    fn sized(label: &str, x: f32, y: f32, width: f32) -> Control {
        Control {
            width,
            ..control(label, x, y)
        }
    }

    /// The letter keyboard's shape: rows of seven keys 100 wide, a last
    /// row of wide keys (2, 4 and 2 keys wide), then Back and Next.
    fn keyboard() -> Vec<Control> {
        let mut out = Vec::new();
        for (r, row) in ["ABCDEFG", "HIJKLMN", "OPQRSTU", "VWXYZ'-"]
            .iter()
            .enumerate()
        {
            for (c, letter) in row.chars().enumerate() {
                out.push(control(
                    &letter.to_string(),
                    c as f32 * 110.0,
                    r as f32 * 90.0,
                ));
            }
        }
        out.push(sized("ÁÉÑ", 0.0, 360.0, 210.0));
        out.push(sized("Space", 220.0, 360.0, 420.0));
        out.push(sized("Delete", 660.0, 360.0, 210.0));
        out.push(sized("Back", 0.0, 460.0, 380.0));
        out.push(sized("Next", 390.0, 460.0, 380.0));
        out
    }

    fn labels(ring: &mut FocusRing, moves: &[KeypadAction]) -> Vec<String> {
        moves
            .iter()
            .map(|m| ring.step(*m).map(|c| c.label.clone()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn down_walks_a_grid_column_by_rows_and_right_keeps_reading_order() {
        use KeypadAction::{Down, Left, Right, Up};
        let mut ring = FocusRing::new(keyboard());
        let order: Vec<&str> = ring.controls().map(|c| c.label.as_str()).collect();
        assert_eq!(order[..8], ["A", "B", "C", "D", "E", "F", "G", "H"]);
        assert_eq!(order[28..], ["ÁÉÑ", "Space", "Delete", "Back", "Next"]);
        ring.set_index(4); // "E"
        assert_eq!(labels(&mut ring, &[Down, Down, Down]), ["L", "S", "Z"]);
        // Through the wide row and back up: the same column, not the key
        // nearest Space's centre.
        assert_eq!(labels(&mut ring, &[Down, Up, Up]), ["Space", "Z", "S"]);
        // Right and Left still read in order; they start a new column.
        assert_eq!(labels(&mut ring, &[Right, Right, Left]), ["T", "U", "T"]);
        assert_eq!(labels(&mut ring, &[Down, Down]), ["'", "Delete"]);
        // "R" to "Y" is one Down, where Right takes seven presses.
        ring.set_index(17);
        assert_eq!(ring.focused().unwrap().label, "R");
        assert_eq!(labels(&mut ring, &[Down]), ["Y"]);
    }

    #[test]
    fn a_run_of_up_and_down_keeps_its_column_across_a_relayout() {
        use KeypadAction::{Down, Up};
        let mut ring = FocusRing::new(keyboard());
        ring.set_index(4); // "E"
        assert_eq!(
            labels(&mut ring, &[Down, Down, Down, Down]),
            ["L", "S", "Z", "Space"]
        );
        // A key typed lays the screen out again; the run goes on.
        ring.relayout(keyboard());
        assert_eq!(labels(&mut ring, &[Up]), ["Z"]);
        // Without the run (a new ring on Space) Up goes to the nearest key.
        let mut fresh = FocusRing::new(keyboard());
        fresh.set_index(29);
        assert_eq!(fresh.focused().unwrap().label, "Space");
        assert_eq!(labels(&mut fresh, &[Up]), ["Y"]);
    }

    #[test]
    fn the_ring_keeps_its_control_when_the_screen_is_laid_out_again() {
        let mut ring = FocusRing::new(screen());
        ring.set_index(4); // "4"
        let mut moved = screen();
        for c in &mut moved {
            c.y += 40.0;
        }
        moved.push(control("Error", 0.0, 0.0));
        ring.relayout(moved);
        assert_eq!(ring.focused().unwrap().label, "4");
        ring.relayout(vec![control("Only", 0.0, 0.0)]);
        assert_eq!(ring.focused().unwrap().label, "Only");
        ring.relayout(Vec::new());
        assert_eq!(ring.focused(), None);
        assert_eq!(ring.step(KeypadAction::Down), None);
    }

    /// A landscape form page: the top bar, Back and Next under the
    /// question on the left, and a list of ten answers in two columns on
    /// the right, from y 100 to 410, slid down `first` rows: it shows
    /// rows `first..first + 3` whole (each 80 high, 20 apart) and the top
    /// 10 of the row after them.
    fn answers(first: usize) -> Vec<Control> {
        let mut out = vec![
            control("Español", 600.0, 0.0),
            control("I need help", 800.0, 0.0),
            sized("Back", 0.0, 330.0, 200.0),
            sized("Next", 210.0, 330.0, 200.0),
        ];
        for index in 0..10 {
            let row = index / 2;
            let height = if (first..first + 3).contains(&row) {
                80.0
            } else if row == first + 3 {
                10.0
            } else {
                continue;
            };
            let y = 100.0 + (row - first) as f32 * 100.0;
            let x = 500.0 + (index % 2) as f32 * 210.0;
            out.push(Control {
                height,
                item: Some(ListItem { index, count: 10 }),
                kind: ControlKind::Answer,
                ..sized(&format!("answer {index}"), x, y, 200.0)
            });
        }
        out
    }

    #[test]
    fn a_list_is_read_where_it_begins_in_its_own_order() {
        let ring = FocusRing::new(answers(1));
        let order: Vec<&str> = ring.controls().map(|c| c.label.as_str()).collect();
        assert_eq!(
            order,
            [
                "Español",
                "I need help",
                "answer 2",
                "answer 3",
                "answer 4",
                "answer 5",
                "answer 6",
                "answer 7",
                "answer 8",
                "answer 9",
                "Back",
                "Next"
            ],
            "Back and Next, level with the answers, come after the list"
        );
    }

    #[test]
    fn moves_in_a_list_go_item_by_item_in_view_or_not() {
        use KeypadAction::{Down, Left, Right, Up};
        let mut ring = FocusRing::new(answers(0));
        ring.set_index(1); // "I need help"
        assert_eq!(
            ring.list_target(Right),
            Some(0),
            "into the list at its first"
        );
        assert!(ring.focus_item(0));
        assert_eq!(ring.list_target(Left), None, "Left from the first leaves");
        assert_eq!(ring.list_target(Down), Some(2));
        assert!(ring.focus_item(7));
        assert_eq!(ring.list_target(Right), Some(8), "out of view, still next");
        assert_eq!(ring.list_target(Down), Some(9));
        assert_eq!(ring.list_target(Up), Some(5));
        // The list slid to its end: the last item leaves it, Right to Back.
        let mut ring = FocusRing::new(answers(2));
        assert!(ring.focus_item(9));
        assert_eq!(ring.list_target(Right), None);
        assert_eq!(ring.list_target(Down), None);
        assert_eq!(ring.step(Right).unwrap().label, "Back");
        // Back into the list from below: at its last item, or its last row.
        assert_eq!(ring.list_target(Left), Some(9));
        assert_eq!(ring.list_target(Up), Some(8));
        assert!(!ring.focus_item(0), "the first row is out of view");
    }
}
