//! The kiosk's shared Slint widgets and the rules the `ui/` sources keep:
//! the language toggle's accessible state, the read-outs, the one
//! keyboard-form layout, the field chips selected by enum, bold text from
//! the theme only, and no unused imports.

use std::path::{Path, PathBuf};

use checkin_kiosk::kiosk::ui::{
    AppWindow, DemographicsField, EditDemographicsAdapter, EditInsuranceAdapter, InsuranceField,
    KioskAdapter, Screen,
};
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;

use super::ui::Kiosk;

/// A window with no controller behind it, showing `screen`.
fn bare_window(screen: Screen) -> AppWindow {
    super::ui::init_backend();
    let window = AppWindow::new().unwrap();
    window
        .window()
        .set_size(slint::PhysicalSize::new(1080, 1920));
    window.global::<KioskAdapter>().set_screen(screen);
    window.show().unwrap();
    window
}

/// Every element with this accessible label.
fn labelled(window: &AppWindow, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(window, label).collect()
}

/// The one control with this label that a screen reader can act on.
fn control(window: &AppWindow, label: &str) -> ElementHandle {
    let found: Vec<_> = labelled(window, label)
        .into_iter()
        .filter(|e| e.accessible_role() == Some(i_slint_backend_testing::AccessibleRole::Button))
        .collect();
    assert_eq!(found.len(), 1, "one button labelled {label:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn the_language_toggle_is_a_plain_button_in_either_language() {
    let window = bare_window(Screen::Welcome);
    let toggle = control(&window, "Español");
    assert_ne!(
        toggle.accessible_checkable(),
        Some(true),
        "the toggle always names the language not in use, so it has no checked state"
    );
    assert_ne!(toggle.accessible_checked(), Some(true));

    window.global::<KioskAdapter>().set_language("es".into());
    let toggle = control(&window, "English");
    assert_ne!(toggle.accessible_checkable(), Some(true));
    assert!(labelled(&window, "Español").is_empty());
}

#[test]
fn the_language_toggle_asks_for_the_other_language() {
    let window = bare_window(Screen::Welcome);
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = asked.clone();
    window
        .global::<KioskAdapter>()
        .on_set_language(move |lang| log.borrow_mut().push(lang.to_string()));
    control(&window, "Español").invoke_accessible_default_action();
    window.global::<KioskAdapter>().set_language("es".into());
    control(&window, "English").invoke_accessible_default_action();
    assert_eq!(*asked.borrow(), ["es", "en"]);
}

#[test]
fn the_date_and_the_last_name_share_one_readout() {
    let window = bare_window(Screen::EnterDob);
    let dob = labelled(&window, "Date of birth");
    assert_eq!(dob.len(), 1);
    assert_eq!(dob[0].type_name().as_deref(), Some("Readout"));
    assert_eq!(dob[0].accessible_value().as_deref(), Some("051"));

    window
        .global::<KioskAdapter>()
        .set_screen(Screen::EnterName);
    let name = labelled(&window, "Last name");
    assert_eq!(name.len(), 1);
    assert_eq!(name[0].type_name().as_deref(), Some("Readout"));
    assert_eq!(name[0].accessible_value().as_deref(), Some("GAR"));
}

#[test]
fn the_keyboard_screens_share_one_layout_in_both_orientations() {
    for size in [(1080, 1920), (1920, 1080)] {
        let window = bare_window(Screen::Welcome);
        window
            .window()
            .set_size(slint::PhysicalSize::new(size.0, size.1));
        for (screen, view) in [
            (Screen::EnterName, "NameView"),
            (Screen::EditDemographics, "EditDemographicsView"),
            (Screen::EditInsurance, "EditInsuranceView"),
        ] {
            window.global::<KioskAdapter>().set_screen(screen);
            let views = i_slint_backend_testing::ElementQuery::from_root(&window)
                .match_descendants()
                .match_type_name(view)
                .find_all();
            assert!(!views.is_empty(), "{view} at {size:?}");
            for v in views {
                let bases: Vec<_> = v.bases().unwrap().collect();
                assert!(
                    bases.iter().any(|b| b == "KeyboardForm"),
                    "{view} lays itself out with KeyboardForm, not its own copy: {bases:?}"
                );
            }
            assert!(control(&window, "Back").is_valid());
            // One keyboard, whichever the orientation.
            assert!(control(&window, "Delete").is_valid());
        }
    }
}

/// The labels of the field chips that report themselves checked.
fn checked_chips(window: &AppWindow, labels: &[&str]) -> Vec<String> {
    labels
        .iter()
        .filter(|l| {
            labelled(window, l).iter().any(|e| {
                e.accessible_checkable() == Some(true) && e.accessible_checked() == Some(true)
            })
        })
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn each_field_chip_selects_its_own_field_through_the_controller() {
    let mut k = Kiosk::new();
    k.dob_path("05171980", "GAR");
    k.tap("Update");
    assert_eq!(
        k.window.global::<KioskAdapter>().get_screen(),
        Screen::EditDemographics
    );

    let demographics = [
        ("Street", DemographicsField::Street),
        ("City", DemographicsField::City),
        ("State", DemographicsField::State),
        ("ZIP code", DemographicsField::Zip),
        ("Phone", DemographicsField::Phone),
        ("Email", DemographicsField::Email),
    ];
    let labels: Vec<&str> = demographics.iter().map(|(l, _)| *l).collect();
    for (label, field) in demographics {
        k.tap(label);
        let ed = k.window.global::<EditDemographicsAdapter>();
        assert_eq!(ed.get_active(), field, "{label}");
        assert_eq!(checked_chips(&k.window, &labels), [label]);
        k.tap("7");
        let chip = labelled(&k.window, label)
            .into_iter()
            .find(|e| e.accessible_checkable() == Some(true))
            .unwrap();
        assert_eq!(chip.accessible_value().as_deref(), Some("7"), "{label}");
    }

    k.tap("Back");
    k.tap("This is correct");
    k.tap("It changed");
    assert_eq!(
        k.window.global::<KioskAdapter>().get_screen(),
        Screen::EditInsurance
    );
    let insurance = [
        ("Insurance company", InsuranceField::Payer),
        ("Member ID", InsuranceField::MemberId),
        ("Group (optional)", InsuranceField::Group),
    ];
    let labels: Vec<&str> = insurance.iter().map(|(l, _)| *l).collect();
    for (label, field) in insurance {
        k.tap(label);
        assert_eq!(
            k.window.global::<EditInsuranceAdapter>().get_active(),
            field,
            "{label}"
        );
        assert_eq!(checked_chips(&k.window, &labels), [label]);
    }
}

/// Every `.slint` file under `ui/`, with its path relative to `ui/`.
fn slint_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "slint") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    let sources: Vec<_> = paths
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    assert!(sources.len() > 20, "found the UI sources");
    sources
}

#[test]
fn bold_text_takes_its_weight_from_the_theme() {
    let mut literal = Vec::new();
    for (name, text) in slint_sources() {
        if name == "theme.slint" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if let Some(value) = line.trim().strip_prefix("font-weight:")
                && value.trim().starts_with(|c: char| c.is_ascii_digit())
            {
                literal.push(format!("{name}:{}", n + 1));
            }
        }
    }
    assert!(literal.is_empty(), "literal font weights: {literal:?}");
}

#[test]
fn every_imported_name_is_used() {
    let mut unused = Vec::new();
    for (name, text) in slint_sources() {
        for line in text.lines() {
            let Some(list) = line
                .strip_prefix("import {")
                .and_then(|rest| rest.split_once('}'))
                .map(|(list, _)| list)
            else {
                continue;
            };
            for imported in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let uses = text
                    .match_indices(imported)
                    .filter(|(at, _)| {
                        let before = text[..*at].chars().next_back();
                        let after = text[at + imported.len()..].chars().next();
                        let word = |c: Option<char>| {
                            c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                        };
                        !word(before) && !word(after)
                    })
                    .count();
                if uses < 2 {
                    unused.push(format!("{name}: {imported}"));
                }
            }
        }
    }
    assert!(unused.is_empty(), "unused imports: {unused:?}");
}
