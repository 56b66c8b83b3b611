//! Every screen fits every supported kiosk panel. For each size, language
//! and notice, a walk through the real journey checks that every control
//! the UI declares (found by its accessible role or touch area, never from
//! a list) lies inside the window and is at least the theme's touch
//! minimum, and that nothing under a finger moves when an error or
//! throttle notice appears or while the patient types; all of it again
//! with the patient's larger text on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use checkin_kiosk::kiosk::ui::{
    AppWindow, DobAdapter, DobError, EditDemographicsAdapter, EditError, EditInsuranceAdapter,
    InsuranceAdapter, KioskAdapter, NameAdapter, NameError, NoticeKind, Screen, Theme,
};
use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use slint::ComponentHandle;

use super::ui::Kiosk;

/// The kiosk panels the UI supports, portrait and landscape.
pub(super) const SIZES: [(u32, u32); 5] = [
    (800, 1280),
    (1080, 1920),
    (1280, 800),
    (1920, 1080),
    (1024, 768),
];

/// The languages the kiosk offers; the toggle switches between them.
pub(super) const LANGUAGES: [&str; 2] = ["en", "es"];

/// The shell's notices, checked against `NoticeKind` in the UI source.
pub(super) const NOTICES: [NoticeKind; 4] = [
    NoticeKind::None,
    NoticeKind::Late,
    NoticeKind::Early,
    NoticeKind::WrongLocation,
];

const DOB_ERRORS: [DobError; 6] = [
    DobError::None,
    DobError::Incomplete,
    DobError::Month,
    DobError::Day,
    DobError::Year,
    DobError::Future,
];

const NAME_ERRORS: [NameError; 3] = [NameError::None, NameError::TooShort, NameError::Wait];

const EDIT_ERRORS: [EditError; 21] = [
    EditError::None,
    EditError::NothingTyped,
    EditError::NeedStreetOrPhone,
    EditError::MissingPayer,
    EditError::MissingMemberId,
    EditError::NeedContactName,
    EditError::NeedContactPhone,
    EditError::BadStreet,
    EditError::BadApartment,
    EditError::BadCity,
    EditError::BadState,
    EditError::BadZip,
    EditError::BadPhone,
    EditError::BadEmail,
    EditError::BadContactName,
    EditError::BadContactPhone,
    EditError::BadRelation,
    EditError::BadPayer,
    EditError::BadMemberId,
    EditError::BadGroup,
    EditError::BadValue,
];

/// "WrongLocation" → "wrong-location", the spelling of the `.slint` source.
pub(super) fn kebab(value: impl Debug) -> String {
    let mut out = String::new();
    for (i, c) in format!("{value:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The values of `export enum <name> { … }` as declared under `ui/`.
pub(super) fn declared_enum(name: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "slint") {
                out.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut sources = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui"),
        &mut sources,
    );
    let head = format!("export enum {name} {{");
    let source = sources
        .iter()
        .find(|s| s.contains(&head))
        .unwrap_or_else(|| panic!("the UI declares enum {name}"));
    let body = &source[source.find(&head).unwrap() + head.len()..];
    body[..body.find('}').unwrap()]
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Fails unless `values` names every value of the UI's enum, so a new
/// notice or error cannot escape the walk.
pub(super) fn covers_enum<T: Debug + Copy>(name: &str, values: &[T]) {
    let ours: Vec<String> = values.iter().map(|v| kebab(*v)).collect();
    assert_eq!(
        ours,
        declared_enum(name),
        "the layout walk checks every {name}"
    );
}

/// A control where the patient's finger meets it, in window coordinates.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Control {
    pub(super) label: String,
    pub(super) x: f32,
    pub(super) y: f32,
    pub(super) w: f32,
    pub(super) h: f32,
}

/// Whether a patient can act on this element: an accessible role a
/// screen reader offers as a control, or a touch area.
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
    ) || e.type_name().as_deref() == Some("TouchArea")
}

/// Every visible control on screen now, in tree order. An element that
/// a component inherits is reported once per level, and a control's own
/// touch area covers it exactly; each is kept once.
pub(super) fn controls(window: &AppWindow) -> Vec<Control> {
    let mut found: Vec<Control> = Vec::new();
    for c in all_controls(window) {
        let touch_of_control = c.label.starts_with('[')
            && found
                .iter()
                .any(|f| (f.x, f.y, f.w, f.h) == (c.x, c.y, c.w, c.h));
        if !touch_of_control && !found.contains(&c) {
            found.push(c);
        }
    }
    found
}

fn all_controls(window: &AppWindow) -> Vec<Control> {
    ElementQuery::from_root(window)
        .match_descendants()
        .match_predicate(is_control)
        .find_all()
        .into_iter()
        .map(|e| {
            let label = e
                .accessible_label()
                .filter(|l| !l.is_empty())
                .map(|l| l.to_string())
                .or_else(|| e.id().map(|id| format!("[{id}]")))
                .unwrap_or_else(|| format!("[{}]", e.type_name().unwrap_or_default()));
            let at = e.absolute_position();
            let size = e.size();
            Control {
                label,
                x: at.x,
                y: at.y,
                w: size.width,
                h: size.height,
            }
        })
        .collect()
}

/// Controls keyed by label and occurrence, for before/after comparisons.
pub(super) fn by_label(controls: &[Control]) -> BTreeMap<(String, usize), Control> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    controls
        .iter()
        .map(|c| {
            let n = seen.entry(c.label.clone()).or_default();
            *n += 1;
            ((c.label.clone(), *n), c.clone())
        })
        .collect()
}

/// The most room below the action bar: the window's padding and a line.
pub(super) const FOOT: f32 = 100.0;

/// The smallest key on a 1080x1920 panel.
const KEY_AT_1080: f32 = 120.0;

/// The most space between a question and its first answer.
const QUESTION_GAP: f32 = 60.0;

/// Half a pixel of slack for layout rounding.
pub(super) const SLACK: f32 = 0.5;

/// Shows (`true`) or hides (`false`) one state of a screen.
type Toggle = Box<dyn Fn(&AppWindow, bool)>;

/// A screen-specific state the walk shows in turn: an error, a throttle
/// notice, expired or missing coverage.
struct Variant {
    name: String,
    /// Whether it appears between two taps on the same screen, so nothing
    /// under the patient's finger may move when it does.
    between_taps: bool,
    set: Toggle,
}

fn variant(name: String, between_taps: bool, set: impl Fn(&AppWindow, bool) + 'static) -> Variant {
    Variant {
        name,
        between_taps,
        set: Box::new(set),
    }
}

/// The errors, throttle and coverage notices each screen can show.
fn variants(screen: Screen) -> Vec<Variant> {
    match screen {
        Screen::EnterDob => DOB_ERRORS[1..]
            .iter()
            .map(|&e| {
                variant(kebab(e), true, move |w, on| {
                    w.global::<DobAdapter>()
                        .set_error(if on { e } else { DobError::None })
                })
            })
            .collect(),
        Screen::EnterName => NAME_ERRORS[1..]
            .iter()
            .map(|&e| {
                variant(kebab(e), true, move |w, on| {
                    let name = w.global::<NameAdapter>();
                    name.set_error(if on { e } else { NameError::None });
                    if e == NameError::Wait {
                        name.set_wait_seconds(if on { 59 } else { 0 });
                    }
                })
            })
            .collect(),
        Screen::EditDemographics => EDIT_ERRORS[1..]
            .iter()
            .map(|&e| {
                variant(kebab(e), true, move |w, on| {
                    w.global::<EditDemographicsAdapter>().set_error(if on {
                        e
                    } else {
                        EditError::None
                    })
                })
            })
            .collect(),
        Screen::EditInsurance => EDIT_ERRORS[1..]
            .iter()
            .map(|&e| {
                variant(kebab(e), true, move |w, on| {
                    w.global::<EditInsuranceAdapter>().set_error(if on {
                        e
                    } else {
                        EditError::None
                    })
                })
            })
            .collect(),
        Screen::Insurance => vec![
            variant("coverage-expired".into(), false, |w, on| {
                w.global::<InsuranceAdapter>().set_expired(on)
            }),
            variant("no-coverage".into(), false, |w, on| {
                w.global::<InsuranceAdapter>().set_has_coverage(!on)
            }),
        ],
        _ => Vec::new(),
    }
}

/// One window of one size, walked through the journey.
struct Walk {
    k: Kiosk,
    size: (u32, u32),
    /// The smallest control the theme allows at this size.
    minimum: f32,
    /// Screens surveyed, by their `.slint` name.
    visited: BTreeSet<String>,
    /// Where the language toggle and help were first seen.
    top_bar: BTreeMap<String, Control>,
    failures: Vec<String>,
    checks: usize,
    /// Whether every screen is checked with larger text on.
    larger: bool,
}

impl Walk {
    fn new(size: (u32, u32), larger: bool) -> Self {
        let k = Kiosk::new();
        k.window
            .window()
            .set_size(slint::PhysicalSize::new(size.0, size.1));
        // The theme follows the window's size in a change handler, which
        // the event loop runs before it draws.
        i_slint_backend_testing::mock_elapsed_time(std::time::Duration::ZERO);
        let short = size.0.min(size.1) as f32;
        let minimum = k.window.global::<Theme>().invoke_touch_minimum(short);
        Self {
            k,
            size,
            minimum,
            visited: BTreeSet::new(),
            top_bar: BTreeMap::new(),
            failures: Vec::new(),
            checks: 0,
            larger,
        }
    }

    fn window(&self) -> &AppWindow {
        &self.k.window
    }

    fn expect(&self, screen: Screen) {
        assert_eq!(
            self.k.screen(),
            screen,
            "the walk at {}x{} reached the wrong screen",
            self.size.0,
            self.size.1
        );
    }

    fn place(&self, name: &str, lang: &str, notice: &str) -> String {
        let text = if self.larger { ", larger text" } else { "" };
        format!(
            "{name} at {}x{}, {lang}, notice {notice}{text}",
            self.size.0, self.size.1
        )
    }

    /// Every control inside the window and at least the touch minimum.
    fn check_fits(&mut self, place: &str) -> Vec<Control> {
        self.checks += 1;
        let (w, h) = (self.size.0 as f32, self.size.1 as f32);
        let found = controls(self.window());
        for c in &found {
            let inside =
                c.x >= -SLACK && c.y >= -SLACK && c.x + c.w <= w + SLACK && c.y + c.h <= h + SLACK;
            if !inside {
                self.failures.push(format!(
                    "{place}: {:?} at ({:.0}, {:.0}) size {:.0}x{:.0} is not inside the window",
                    c.label, c.x, c.y, c.w, c.h
                ));
            }
            if c.w + SLACK < self.minimum || c.h + SLACK < self.minimum {
                self.failures.push(format!(
                    "{place}: {:?} is {:.0}x{:.0}, under the {:.0} px touch minimum",
                    c.label, c.w, c.h, self.minimum
                ));
            }
        }
        self.check_pinned(place, &found);
        found
    }

    /// The action bar sits at the foot of the window. Welcome has none
    /// (its one button starts check-in), and the idle warning is a dialog.
    fn check_pinned(&mut self, place: &str, found: &[Control]) {
        if place.starts_with("welcome ") || place.starts_with("idle-warning ") {
            return;
        }
        let h = self.size.1 as f32;
        let foot = found
            .iter()
            .filter(|c| c.h < h / 2.0)
            .map(|c| c.y + c.h)
            .fold(0.0, f32::max);
        if foot < h - FOOT {
            self.failures.push(format!(
                "{place}: the lowest control ends at {foot:.0}, not at the foot of the window"
            ));
        }
    }

    /// Records every control that moved or changed size since `before`.
    fn check_still(&mut self, place: &str, what: &str, before: &[Control], after: &[Control]) {
        let after = by_label(after);
        for (key, was) in by_label(before) {
            if let Some(now) = after.get(&key)
                && now != &was
            {
                self.failures.push(format!(
                    "{place}: {:?} moved when {what}: ({:.0}, {:.0}) {:.0}x{:.0} → ({:.0}, {:.0}) {:.0}x{:.0}",
                    key.0, was.x, was.y, was.w, was.h, now.x, now.y, now.w, now.h
                ));
            }
        }
    }

    fn set_language(&mut self, lang: &str) {
        let current = self.window().global::<KioskAdapter>().get_language();
        if current != lang {
            self.k.tap(if lang == "es" { "Español" } else { "English" });
        }
    }

    /// Checks the screen on show in every language, with every notice and
    /// every error the screen can show.
    fn survey(&mut self, name: &str) {
        self.visited.insert(name.to_string());
        // The session's end turns larger text off; the walk keeps it on.
        self.window().global::<Theme>().set_larger_text(self.larger);
        self.check_top_bar(name);
        let screen = self.k.screen();
        let window = self.window().clone_strong();
        let shell = window.global::<KioskAdapter>();
        let notice = shell.get_notice();
        for lang in LANGUAGES {
            self.set_language(lang);
            for n in NOTICES {
                shell.set_notice(n);
                self.check_fits(&self.place(name, lang, &kebab(n)));
            }
            shell.set_notice(notice);
            let plain = controls(&window);
            for v in variants(screen) {
                (v.set)(&window, true);
                let place = self.place(name, lang, &v.name);
                let shown = self.check_fits(&place);
                if v.between_taps {
                    self.check_still(&place, "the notice appeared", &plain, &shown);
                }
                (v.set)(&window, false);
            }
        }
        self.set_language("en");
    }

    /// Types `text` key by key and fails if any control moved meanwhile.
    fn type_still(&mut self, name: &str, text: &str) {
        let before = controls(self.window());
        self.k.keys(text);
        let after = controls(self.window());
        let place = self.place(name, "en", "none");
        self.check_still(&place, &format!("typing {text:?}"), &before, &after);
    }

    /// The field chips on show, by label.
    fn chips(&self) -> Vec<String> {
        ElementQuery::from_root(self.window())
            .match_descendants()
            .match_predicate(|e| e.accessible_checkable() == Some(true))
            .find_all()
            .into_iter()
            .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
            .collect()
    }

    /// Fills every field of an edit form, chosen by its chip, and fails if
    /// any control moved. A chip may open another page of fields (the
    /// emergency contact's): those pages are surveyed and filled too.
    fn fill_every_field(&mut self, name: &str) {
        let first = self.chips();
        assert!(first.len() >= 2, "{name} has field chips: {first:?}");
        let before = controls(self.window());
        let letter = if self.k.find("W").is_some() { "W" } else { "w" };
        let mut tapped = std::collections::BTreeSet::new();
        while let Some(chip) = self.chips().into_iter().find(|c| !tapped.contains(c)) {
            let page = self.chips();
            self.k.tap(&chip);
            tapped.insert(chip.clone());
            if self.chips() != page {
                // A new page of fields: it must fit like the first.
                let place = self.place(name, "en", &format!("page of {chip:?}"));
                self.check_fits(&place);
                continue;
            }
            for key in std::iter::repeat_n(letter, 20).chain(std::iter::repeat_n("8", 12)) {
                self.k.tap(key);
            }
        }
        // Back to the first page, to compare like with like.
        if self.chips() != first {
            self.k.tap(&first[0]);
        }
        let after = controls(self.window());
        let place = self.place(name, "en", "none");
        self.check_still(&place, "every field was filled", &before, &after);
    }

    /// The language toggle and help keep their places on every screen.
    fn check_top_bar(&mut self, name: &str) {
        let place = self.place(name, "en", "none");
        let now = controls(self.window());
        for label in ["Español", "I need help"] {
            let Some(c) = now.iter().find(|c| c.label == label) else {
                // Help is not offered on the help screen, but keeps its room.
                if label == "I need help" && name == "help" {
                    continue;
                }
                self.failures
                    .push(format!("{place}: no {label:?} in the top bar"));
                continue;
            };
            match self.top_bar.get(label) {
                None => {
                    self.top_bar.insert(label.to_string(), c.clone());
                }
                Some(first) if first != c => self.failures.push(format!(
                    "{place}: {label:?} moved from ({:.0}, {:.0}) to ({:.0}, {:.0})",
                    first.x, first.y, c.x, c.y
                )),
                Some(_) => {}
            }
        }
    }

    /// On the tall portrait panel the keys grow into the free height
    /// instead of leaving it empty below them.
    fn check_keys_grow(&mut self, name: &str) {
        if self.size != (1080, 1920) {
            return;
        }
        let keys = ElementQuery::from_root(self.window())
            .match_descendants()
            .match_inherits("Key")
            .find_all();
        assert!(keys.len() >= 12, "{name} shows its keys");
        for key in keys {
            let size = key.size();
            if size.width.min(size.height) < KEY_AT_1080 {
                self.failures.push(format!(
                    "{}: key {:?} is {:.0}x{:.0}, under {KEY_AT_1080} px",
                    self.place(name, "en", "none"),
                    key.accessible_label().unwrap_or_default(),
                    size.width,
                    size.height
                ));
            }
        }
    }

    /// A question sits right above its answers, not a screen away.
    fn check_question_near_answers(&mut self, question: &str, first_answer: &str) {
        let find = |label: &str| {
            ElementHandle::find_by_accessible_label(self.window(), label)
                .next()
                .unwrap_or_else(|| panic!("{label:?} on screen"))
        };
        let (q, a) = (find(question), find(first_answer));
        let gap = a.absolute_position().y - (q.absolute_position().y + q.size().height);
        if !(0.0..=QUESTION_GAP).contains(&gap) {
            self.failures.push(format!(
                "{}: {question:?} is {gap:.0} px above {first_answer:?}",
                self.place("copay", "en", "none")
            ));
        }
    }

    /// The idle warning over the screen on show.
    fn survey_idle_warning(&mut self) {
        let window = self.window().clone_strong();
        let shell = window.global::<KioskAdapter>();
        shell.set_idle_warning(true);
        self.survey("idle-warning");
        shell.set_idle_warning(false);
    }
}

/// The journey, screen by screen, as patients take it.
fn walk(size: (u32, u32), larger: bool) -> Walk {
    let mut w = Walk::new(size, larger);
    w.expect(Screen::Welcome);
    w.survey("welcome");
    w.k.tap("I need help");
    w.expect(Screen::Help);
    w.survey("help");
    w.k.tap("Continue check-in");

    let pass = w.k.pass_for("a-maria", -chrono::Duration::minutes(1));
    w.k.scan(&pass);
    w.expect(Screen::PassRejected);
    w.survey("pass-rejected");
    w.k.tap("Start over");

    let pass = w.k.pass_for("a-early", chrono::Duration::hours(8));
    w.k.scan(&pass);
    w.expect(Screen::SeeDesk);
    w.survey("see-desk");
    w.k.tap("Finish");

    w.k.tap("Use my date of birth");
    w.expect(Screen::EnterDob);
    w.survey("enter-dob");
    w.check_keys_grow("enter-dob");
    w.type_still("enter-dob", "0202");
    w.k.keys("1988");
    w.k.tap("Next");
    w.expect(Screen::EnterName);
    w.survey("enter-name");
    w.check_keys_grow("enter-name");
    w.type_still("enter-name", "SI");
    w.k.keys("L");
    w.k.tap("Find my appointment");

    // Ana has a balance from earlier visits: the fullest co-pay screen.
    w.expect(Screen::Demographics);
    w.survey("demographics");
    w.survey_idle_warning();
    w.k.tap("Update");
    w.expect(Screen::EditDemographics);
    w.survey("edit-demographics");
    w.fill_every_field("edit-demographics");
    w.k.tap("Back");
    w.k.tap("This is correct");
    w.expect(Screen::Insurance);
    w.survey("insurance");
    w.k.tap("It changed");
    w.expect(Screen::EditInsurance);
    w.survey("edit-insurance");
    w.fill_every_field("edit-insurance");
    w.k.tap("Back");
    w.k.tap("Still correct");
    w.expect(Screen::Copay);
    w.survey("copay");
    w.check_question_near_answers("How would you like to pay?", "Pay at the front desk");
    w.k.tap("Pay on my phone");
    w.expect(Screen::PayPhone);
    w.survey("pay-phone");
    w.k.tap("I've paid");
    w.expect(Screen::Done);
    w.survey("done");
    w.k.tap("Finish");

    w.k.dob_path("03042010", "RIV");
    w.expect(Screen::Choose);
    w.survey("choose");
    w.k.tap("None of these");

    w.k.dob_path("01011999", "ZZZ");
    w.expect(Screen::NotFound);
    w.survey("not-found");
    w
}

#[test]
fn every_control_fits_every_screen_size_language_and_notice() {
    walk_every_size(false);
}

#[test]
fn every_control_fits_every_screen_size_language_and_notice_with_larger_text() {
    walk_every_size(true);
}

/// Walks the journey at every supported size, with larger text on or off,
/// and fails with every layout problem found.
fn walk_every_size(larger: bool) {
    covers_enum("NoticeKind", &NOTICES);
    covers_enum("DobError", &DOB_ERRORS);
    covers_enum("NameError", &NAME_ERRORS);
    covers_enum("EditError", &EDIT_ERRORS);
    let mut expected: BTreeSet<String> = declared_enum("Screen").into_iter().collect();
    expected.insert("idle-warning".into());
    // The test schedule has no forms due: `ui_forms` walks every kind of
    // form page at every size, language and notice.
    expected.remove("form");

    let mut failures: Vec<String> = Vec::new();
    let mut checks = 0;
    for size in SIZES {
        let w = walk(size, larger);
        assert_eq!(
            w.visited, expected,
            "the walk at {size:?} visits every screen the UI declares"
        );
        assert!(w.minimum >= 60.0, "the touch minimum is never under 60 px");
        checks += w.checks;
        failures.extend(w.failures);
    }
    assert!(checks > 500, "the walk checked {checks} screen states");
    println!("the layout walk checked {checks} screen states");
    let mut seen = BTreeSet::new();
    failures.retain(|f| seen.insert(f.clone()));
    // Per screen and size first, so one run shows the whole picture.
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failures {
        let (screen, rest) = f.split_once(" at ").unwrap_or((f, ""));
        let size = rest.split(',').next().unwrap_or("");
        *tally.entry(format!("{screen} at {size}")).or_default() += 1;
    }
    let tally: Vec<String> = tally.iter().map(|(k, n)| format!("  {k}: {n}")).collect();
    let shown: Vec<_> = failures.iter().take(80).collect();
    assert!(
        failures.is_empty(),
        "{} layout failures:\n{}\nthe first {}:\n{}",
        failures.len(),
        tally.join("\n"),
        shown.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The window as drawn, for comparing what a patient would see.
fn pixels(window: &AppWindow) -> Vec<u8> {
    window
        .window()
        .take_snapshot()
        .expect("software renderer snapshot")
        .as_bytes()
        .to_vec()
}

#[test]
fn the_idle_warning_hides_everything_behind_it() {
    let k = Kiosk::new();
    let shell = k.window.global::<KioskAdapter>();
    let warn = || {
        shell.set_idle_warning(true);
        shell.set_idle_seconds_left(9);
    };
    warn();
    let over_welcome = pixels(&k.window);
    // Behind the second one: a matched patient's name and masked details.
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    warn();
    let over_details = pixels(&k.window);
    shell.set_idle_warning(false);
    assert_ne!(
        pixels(&k.window),
        over_details,
        "the warning was drawn over the details"
    );
    assert!(
        over_welcome == over_details,
        "what is behind the idle warning shows through it"
    );
}

#[test]
fn the_scan_card_is_not_a_button_and_a_tap_explains_scanning() {
    let k = Kiosk::new();
    let title = ElementHandle::find_by_accessible_label(&k.window, "Scan your check-in code")
        .next()
        .expect("the scan card");
    assert!(
        !controls(&k.window)
            .iter()
            .any(|c| c.label.contains("Scan") || c.label.contains("scan")),
        "no control offers to scan: the card only explains"
    );
    let before = controls(&k.window);
    title.mock_single_click(slint::platform::PointerEventButton::Left);
    let hint = "No need to tap. Hold your phone or the printed code flat under the scanner's light until the screen changes.";
    assert!(
        ElementHandle::find_by_accessible_label(&k.window, hint)
            .next()
            .is_some(),
        "a tap on the card shows how to scan"
    );
    assert_eq!(controls(&k.window), before, "the hint moved nothing");
}

/// WCAG relative luminance of an sRGB colour.
fn luminance(c: slint::Color) -> f64 {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())
}

fn contrast(a: slint::Color, b: slint::Color) -> f64 {
    let (a, b) = (luminance(a), luminance(b));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

#[test]
fn a_disabled_button_reads_as_disabled_and_stays_legible() {
    super::ui::init_backend();
    let window = AppWindow::new().unwrap();
    let p = window.global::<Theme>().get_palette();
    assert!(
        contrast(p.on_disabled, p.disabled) >= 7.0,
        "a disabled label is readable: {:.1}:1",
        contrast(p.on_disabled, p.disabled)
    );
    assert_ne!(p.disabled, p.primary, "disabled is not the action colour");
    assert!(
        contrast(p.disabled, p.primary) >= 3.0,
        "disabled and enabled buttons look different"
    );
    assert!(
        contrast(p.scrim, p.background) > 1.0 && p.scrim.alpha() == 255,
        "the idle warning's backdrop is opaque"
    );
}

#[test]
fn the_status_mark_says_connected_or_offline_and_shows_patients_no_counts() {
    let k = Kiosk::new();
    let shell = k.window.global::<KioskAdapter>();
    assert!(
        k.find("Connected").is_some(),
        "the mark has a word, not only a dot"
    );
    shell.set_online(false);
    shell.set_waiting(149);
    assert!(k.find("Offline").is_some());
    assert!(k.find("Connected").is_none());
    let shown: Vec<String> = ElementQuery::from_root(&k.window)
        .match_descendants()
        .find_all()
        .into_iter()
        .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
        .filter(|l| l.contains("149"))
        .collect();
    assert!(
        shown.is_empty(),
        "a patient sees no outbox count: {shown:?}"
    );
}

#[test]
fn the_late_notice_is_not_repeated_on_done() {
    let mut k = Kiosk::new();
    let late = "You are late for your appointment. The front desk has been told.";
    let pass = k.pass_for("a-late", chrono::Duration::hours(8));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::Demographics);
    assert!(k.find(late).is_some(), "the notice shows after the match");
    k.tap("This is correct");
    k.tap("Still correct");
    k.tap("Pay at the front desk");
    assert_eq!(k.screen(), Screen::Done);
    assert!(k.find(late).is_none(), "Done does not repeat the notice");
}

/// A kiosk whose window is `size`, with the theme following it.
fn kiosk_sized(size: (u32, u32)) -> Kiosk {
    let k = Kiosk::new();
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(size.0, size.1));
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::ZERO);
    k
}

#[test]
fn larger_text_is_1_3_times_but_1_2_on_the_1024x768_panel() {
    for size in SIZES {
        let k = kiosk_sized(size);
        let theme = k.window.global::<Theme>();
        let (body, button) = (theme.get_type().body, theme.get_sizes().big_button_height);
        theme.set_larger_text(true);
        let expected = if size == (1024, 768) { 1.2 } else { 1.3 };
        let scaled = theme.get_type().body / body;
        assert!(
            (scaled - expected).abs() < 0.01,
            "body text at {size:?} is {scaled:.2} times"
        );
        let scaled = theme.get_sizes().big_button_height / button;
        assert!(
            (scaled - expected).abs() < 0.01,
            "buttons at {size:?} are {scaled:.2} times"
        );
    }
}

#[test]
fn a_button_pair_stacks_only_when_its_labels_do_not_fit_side_by_side() {
    let place = |k: &Kiosk, label: &str| {
        let e = k
            .find(label)
            .unwrap_or_else(|| panic!("{label:?} on screen"));
        (e.absolute_position().y, e.size().height)
    };
    // Side by side: English at the ordinary size.
    let mut k = kiosk_sized((800, 1280));
    let pass = k.pass_for("a-maria", -chrono::Duration::minutes(1));
    k.scan(&pass);
    assert_eq!(k.screen(), Screen::PassRejected);
    assert_eq!(
        place(&k, "Start over"),
        place(&k, "Use my date of birth"),
        "one row"
    );
    // Stacked: the Spanish labels with larger text are wider than 800 px.
    k.tap("Español");
    k.window.global::<Theme>().set_larger_text(true);
    let (first, height) = place(&k, "Empezar de nuevo");
    let (second, _) = place(&k, "Usar mi fecha de nacimiento");
    assert!(
        second >= first + height,
        "the main answer is below the other: {first} + {height} > {second}"
    );
}

#[test]
fn the_larger_text_switch_stays_under_the_finger_that_taps_it() {
    let rect = |k: &Kiosk, label: &str| {
        let e = k.find(label).expect("the switch on Welcome");
        let (p, s) = (e.absolute_position(), e.size());
        (p.x, p.y, s.width, s.height)
    };
    let centre = |(x, y, w, h): (f32, f32, f32, f32)| (x + w / 2.0, y + h / 2.0);
    let inside = |(px, py): (f32, f32), (x, y, w, h): (f32, f32, f32, f32)| {
        px >= x && px <= x + w && py >= y && py <= y + h
    };
    for size in SIZES {
        for spanish in [false, true] {
            let mut k = kiosk_sized(size);
            let label = if spanish {
                "Letra más grande"
            } else {
                "Larger text"
            };
            if spanish {
                k.tap("Español");
            }
            for turn in ["on", "off"] {
                let before = rect(&k, label);
                k.find(label).unwrap().invoke_accessible_default_action();
                let after = rect(&k, label);
                assert!(
                    inside(centre(before), after) && inside(centre(after), before),
                    "at {size:?} (Spanish {spanish}) turning larger text {turn} moved the switch from {before:?} to {after:?}"
                );
            }
        }
    }
}
