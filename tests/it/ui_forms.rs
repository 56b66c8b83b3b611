//! The intake form pages in the real Slint UI under the headless testing
//! backend. Every kind of page (text to read, yes or no, a choice of 4 and
//! of 10, a number, a date, a short text, a long consent and its
//! signature, the thank-you with crisis text) fits every supported panel
//! in English and Spanish with any notice, with larger text off and on:
//! every control lies inside the window (or in a list that slides it
//! wholly into view), is at least the touch minimum and overlaps no
//! other, and nothing under a finger moves when a problem appears, an
//! answer is chosen, a key is typed or a signature drawn. Each control reaches the
//! controller as its form input, and a signature drawn with pointer
//! events reaches it as a PNG.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use checkin_kiosk::kiosk::UiAction;
use checkin_kiosk::kiosk::adapters::{SignaturePad, connect_form, show_form};
use checkin_kiosk::kiosk::ui::{AppWindow, FormAdapter, KioskAdapter, Screen, Theme};
use checkin_kiosk::kiosk::view::{self, FormItemKind, FormProblem, FormView};
use i_slint_backend_testing::{ElementHandle, ElementQuery};
use slint::platform::{PointerEventButton, WindowEvent};
use slint::{ComponentHandle, LogicalPosition};

use super::ui_layout::{
    Control, FOOT, LANGUAGES, NOTICES, SIZES, SLACK, by_label, controls, covers_enum,
    declared_enum, kebab,
};

/// Every problem a form page can show, checked against the UI's enum.
const PROBLEMS: [FormProblem; 8] = [
    FormProblem::Required,
    FormProblem::NotANumber,
    FormProblem::OutOfRange,
    FormProblem::BadDate,
    FormProblem::TooLong,
    FormProblem::BadCharacters,
    FormProblem::NotAgreed,
    FormProblem::NotSigned,
];

/// One form page, in English and Spanish words.
struct Case {
    name: &'static str,
    form: FormView,
    /// The problems this page can show.
    problems: Vec<FormProblem>,
    /// Labels that must be on screen, beyond the action bar's.
    labels: Vec<String>,
}

fn tr<'a>(lang: &str, en: &'a str, es: &'a str) -> &'a str {
    if lang == "es" { es } else { en }
}

/// A consent text of about 3,000 characters: far more than any panel shows.
fn consent_text(lang: &str) -> String {
    let para = tr(
        lang,
        "I agree to be examined and treated by the clinicians of this clinic. I understand that I may ask questions about my care at any time and that I may refuse any treatment. The clinic will keep my health information private as its notice of privacy practices describes. ",
        "Acepto ser examinado y tratado por el personal clínico de esta clínica. Entiendo que puedo hacer preguntas sobre mi atención en cualquier momento y que puedo rechazar cualquier tratamiento. La clínica mantendrá mi información de salud en privado como lo describe su aviso de prácticas de privacidad. ",
    );
    para.repeat(10)
}

fn ten_options(lang: &str) -> Vec<String> {
    let en = [
        "From my doctor",
        "From a friend or family member",
        "From my insurance company",
        "An online search",
        "Social media",
        "A newspaper or magazine",
        "Radio or television",
        "A community health fair",
        "I walked or drove past",
        "Something else",
    ];
    let es = [
        "Por mi médico",
        "Por un amigo o un familiar",
        "Por mi compañía de seguros",
        "Una búsqueda en internet",
        "Las redes sociales",
        "Un periódico o una revista",
        "La radio o la televisión",
        "Una feria de salud comunitaria",
        "Pasé caminando o en coche",
        "Otra cosa",
    ];
    let pick = if lang == "es" { es } else { en };
    pick.iter().map(|s| s.to_string()).collect()
}

fn four_options(lang: &str) -> Vec<String> {
    let en = [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ];
    let es = [
        "Nunca",
        "Varios días",
        "Más de la mitad de los días",
        "Casi todos los días",
    ];
    let pick = if lang == "es" { es } else { en };
    pick.iter().map(|s| s.to_string()).collect()
}

fn base(lang: &str, kind: FormItemKind, text: &str) -> FormView {
    FormView {
        form_title: tr(
            lang,
            "Health questions (PHQ-9)",
            "Preguntas de salud (PHQ-9)",
        )
        .into(),
        kind,
        text: text.into(),
        required: true,
        position: 3,
        count: 9,
        ..FormView::default()
    }
}

fn digits() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// Every kind of page, with the questions a clinic would ask.
fn cases(lang: &str) -> Vec<Case> {
    use FormItemKind as K;
    use FormProblem as P;
    let t = |en, es| tr(lang, en, es);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let phq9 = t(
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
        "Pensamientos de que estaría mejor muerto o de lastimarse de alguna manera",
    );
    let mut choice4 = base(lang, K::Choice, phq9);
    choice4.group_title = t(
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
        "Durante las últimas 2 semanas, ¿con qué frecuencia le han molestado los siguientes problemas?",
    )
    .into();
    choice4.options = four_options(lang);
    let mut choice10 = base(
        lang,
        K::Choice,
        t(
            "How did you hear about our clinic?",
            "¿Cómo supo de nuestra clínica?",
        ),
    );
    choice10.options = ten_options(lang);
    choice10.required = false;
    let mut consent = base(lang, K::Consent, &consent_text(lang));
    consent.form_title = t("Consent to treatment", "Consentimiento para el tratamiento").into();
    let mut signing = consent.clone();
    signing.agreed = true;
    let mut thanks = base(lang, K::ThankYou, "");
    thanks.crisis_text = t(
        "If you are thinking about hurting yourself, please tell the front desk now. You can also call or text 988, any time, day or night.",
        "Si está pensando en lastimarse, dígaselo ahora a la recepción. También puede llamar o enviar un mensaje de texto al 988, a cualquier hora, de día o de noche.",
    )
    .into();
    let crisis = thanks.crisis_text.clone();
    vec![
        Case {
            name: "display",
            form: base(
                lang,
                K::Display,
                t(
                    "The next questions ask how you have been feeling lately. There are no right or wrong answers.",
                    "Las siguientes preguntas son sobre cómo se ha sentido últimamente. No hay respuestas correctas ni incorrectas.",
                ),
            ),
            problems: vec![],
            labels: vec![],
        },
        Case {
            name: "boolean",
            form: base(
                lang,
                K::Boolean,
                t(
                    "Have you had a flu shot this season?",
                    "¿Se ha vacunado contra la gripe esta temporada?",
                ),
            ),
            problems: vec![P::Required],
            labels: s(&[t("Yes", "Sí"), "No"]),
        },
        Case {
            name: "choice-4",
            labels: choice4.options.clone(),
            form: choice4,
            problems: vec![P::Required],
        },
        Case {
            name: "choice-10",
            labels: choice10.options.clone(),
            form: choice10,
            problems: vec![P::Required],
        },
        Case {
            name: "integer",
            form: base(
                lang,
                K::Integer,
                t(
                    "How many hours do you sleep on a typical night?",
                    "¿Cuántas horas duerme en una noche normal?",
                ),
            ),
            problems: vec![P::Required, P::NotANumber, P::OutOfRange],
            labels: [
                digits(),
                s(&[t("Clear", "Borrar todo"), t("Delete", "Borrar")]),
            ]
            .concat(),
        },
        Case {
            name: "date",
            form: base(
                lang,
                K::Date,
                t(
                    "When was your last tetanus shot?",
                    "¿Cuándo fue su última vacuna contra el tétanos?",
                ),
            ),
            problems: vec![P::Required, P::BadDate, P::OutOfRange],
            labels: [
                digits(),
                s(&[t("Clear", "Borrar todo"), t("Delete", "Borrar")]),
            ]
            .concat(),
        },
        Case {
            name: "text",
            form: base(
                lang,
                K::Text,
                t("Which pharmacy do you use?", "¿Qué farmacia usa?"),
            ),
            problems: vec![P::Required, P::TooLong, P::BadCharacters],
            labels: s(&["A", "Z", "7", t("Space", "Espacio")]),
        },
        Case {
            name: "consent",
            form: consent,
            problems: vec![P::NotAgreed],
            labels: s(&[t("I agree", "Acepto")]),
        },
        Case {
            name: "consent-signing",
            form: signing,
            problems: vec![P::NotSigned],
            labels: s(&[t("Clear", "Borrar")]),
        },
        Case {
            name: "thank-you",
            form: thanks,
            problems: vec![],
            labels: vec![crisis],
        },
    ]
}

/// The label of the page's main action, in `lang`.
fn action_label(case: &Case, lang: &str) -> &'static str {
    match case.name {
        "consent" => tr(lang, "I agree", "Acepto"),
        "thank-you" => tr(lang, "Continue", "Continuar"),
        _ => tr(lang, "Next", "Siguiente"),
    }
}

/// A kiosk window on the form screen, after a match, with no controller:
/// the form adapter's actions are recorded instead.
struct Page {
    window: AppWindow,
    pad: SignaturePad,
    sent: Rc<RefCell<Vec<UiAction>>>,
    size: (u32, u32),
}

impl Page {
    fn new(size: (u32, u32)) -> Self {
        super::ui::init_backend();
        let window = AppWindow::new().unwrap();
        window
            .window()
            .set_size(slint::PhysicalSize::new(size.0, size.1));
        window.show().unwrap();
        // The theme follows the window's size in a change handler.
        i_slint_backend_testing::mock_elapsed_time(std::time::Duration::ZERO);
        let k = window.global::<KioskAdapter>();
        k.set_screen(Screen::Form);
        k.set_progress(3);
        k.set_progress_steps(5);
        k.set_patient_name("Maria G.".into());
        k.set_appointment_time("10:30 AM".into());
        k.set_clinician("Dr. Patel".into());
        let pad = SignaturePad::default();
        let sent = Rc::new(RefCell::new(Vec::new()));
        let log = sent.clone();
        connect_form(
            &window,
            &pad,
            Rc::new(move |a: UiAction| log.borrow_mut().push(a)),
        );
        Self {
            window,
            pad,
            sent,
            size,
        }
    }

    fn language(&self, lang: &str) {
        slint::select_bundled_translation(lang).unwrap();
        self.window
            .global::<KioskAdapter>()
            .set_language(lang.into());
    }

    fn show(&self, form: &FormView) {
        show_form(&self.window, &self.pad, view::Screen::Form, form);
    }

    fn find(&self, label: &str) -> Option<ElementHandle> {
        ElementHandle::find_by_accessible_label(&self.window, label).next()
    }

    fn tap(&self, label: &str) {
        let el = self
            .find(label)
            .unwrap_or_else(|| panic!("no control labelled {label:?}"));
        assert_ne!(
            el.accessible_enabled(),
            Some(false),
            "{label:?} is disabled"
        );
        el.invoke_accessible_default_action();
    }

    fn take_sent(&self) -> Vec<UiAction> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }

    /// Draws a stroke with the pointer, in window coordinates.
    fn draw(&self, points: &[(f32, f32)]) {
        let w = self.window.window();
        let at = |(x, y): (f32, f32)| LogicalPosition::new(x, y);
        let (first, last) = (points[0], points[points.len() - 1]);
        w.dispatch_event(WindowEvent::PointerPressed {
            position: at(first),
            button: PointerEventButton::Left,
        });
        for &p in &points[1..] {
            w.dispatch_event(WindowEvent::PointerMoved { position: at(p) });
        }
        w.dispatch_event(WindowEvent::PointerReleased {
            position: at(last),
            button: PointerEventButton::Left,
        });
    }
}

/// Writes the window as drawn to `target/screenshots/<name>.png`, for
/// people to look at; fails on a blank frame.
fn screenshot(window: &AppWindow, name: &str) {
    let shot = window.window().take_snapshot().expect("a snapshot");
    let first = shot.as_slice()[0];
    assert!(
        shot.as_slice().iter().any(|p| *p != first),
        "{name} rendered as a single colour"
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.png"))).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), shot.width(), shot.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(shot.as_bytes()).unwrap();
}

/// A list that slides under the finger (a `Flickable`), and the controls
/// in it.
struct ScrollList {
    handle: ElementHandle,
    /// Where the list shows its content, in window coordinates.
    view: Control,
    /// The controls in the list, where they are now.
    inner: Vec<Control>,
}

/// The place of an element in the window: (x, y, width, height).
fn rect(e: &ElementHandle) -> (f32, f32, f32, f32) {
    let (at, size) = (e.absolute_position(), e.size());
    (at.x, at.y, size.width, size.height)
}

/// The controls on screen now that lie in the list `handle`.
fn list_controls(window: &AppWindow, handle: &ElementHandle) -> Vec<Control> {
    let rects: Vec<_> = handle
        .query_descendants()
        .find_all()
        .iter()
        .map(rect)
        .collect();
    controls(window)
        .into_iter()
        .filter(|c| rects.contains(&(c.x, c.y, c.w, c.h)))
        .collect()
}

/// Every list on screen with controls in it; `found` is what is on screen.
fn scroll_lists(window: &AppWindow, found: &[Control]) -> Vec<ScrollList> {
    let mut lists: Vec<ScrollList> = Vec::new();
    let handles = ElementQuery::from_root(window)
        .match_type_name("Flickable")
        .find_all();
    // An element can be reached by more than one path: each list once.
    let mut seen = Vec::new();
    for handle in handles {
        if seen.contains(&rect(&handle)) {
            continue;
        }
        seen.push(rect(&handle));
        lists.extend(scroll_list(handle, found));
    }
    lists
}

/// The list `handle` with the controls of `found` in it, if any.
fn scroll_list(handle: ElementHandle, found: &[Control]) -> Option<ScrollList> {
    let rects: Vec<_> = handle
        .query_descendants()
        .find_all()
        .iter()
        .map(rect)
        .collect();
    let inner: Vec<Control> = found
        .iter()
        .filter(|c| rects.contains(&(c.x, c.y, c.w, c.h)))
        .cloned()
        .collect();
    let (x, y, w, h) = rect(&handle);
    let view = Control {
        label: "[sliding list]".into(),
        x,
        y,
        w,
        h,
    };
    (!inner.is_empty()).then_some(ScrollList {
        handle,
        view,
        inner,
    })
}

/// The failures of one size, and how many states it checked.
struct Survey {
    page: Page,
    /// Whether the patient turned larger text on.
    larger: bool,
    /// The labels of the controls the last check slid wholly into view
    /// in a list.
    slid: BTreeSet<String>,
    minimum: f32,
    failures: Vec<String>,
    checks: usize,
}

impl Survey {
    fn new(size: (u32, u32), larger: bool) -> Self {
        let page = Page::new(size);
        page.window.global::<Theme>().set_larger_text(larger);
        let short = size.0.min(size.1) as f32;
        let minimum = page.window.global::<Theme>().invoke_touch_minimum(short);
        Self {
            page,
            larger,
            slid: BTreeSet::new(),
            minimum,
            failures: Vec::new(),
            checks: 0,
        }
    }

    fn fail(&mut self, place: &str, what: String) {
        self.failures.push(format!("{place}: {what}"));
    }

    /// Every control inside the window, at least the touch minimum, over
    /// no other, and the lowest at the foot of the window. A control in a
    /// list that slides under the finger counts where the list is, and
    /// must slide wholly into view.
    fn check(&mut self, place: &str) -> Vec<Control> {
        self.checks += 1;
        self.slid.clear();
        let (w, h) = (self.page.size.0 as f32, self.page.size.1 as f32);
        // The shell's touch area behind everything counts taps on empty
        // space as activity; it is not a control a finger aims at.
        let found: Vec<Control> = controls(&self.page.window)
            .into_iter()
            .filter(|c| !(c.w >= w - SLACK && c.h >= h - SLACK))
            .collect();
        let lists = scroll_lists(&self.page.window, &found);
        let mut placed: Vec<Control> = found
            .iter()
            .filter(|c| !lists.iter().any(|l| l.inner.contains(c)))
            .cloned()
            .collect();
        placed.extend(lists.iter().map(|l| l.view.clone()));
        for c in &placed {
            let inside =
                c.x >= -SLACK && c.y >= -SLACK && c.x + c.w <= w + SLACK && c.y + c.h <= h + SLACK;
            if !inside {
                self.fail(
                    place,
                    format!(
                        "{:?} at ({:.0}, {:.0}) {:.0}x{:.0} is not inside the window",
                        c.label, c.x, c.y, c.w, c.h
                    ),
                );
            }
        }
        for c in &found {
            if c.w + SLACK < self.minimum || c.h + SLACK < self.minimum {
                self.fail(
                    place,
                    format!(
                        "{:?} is {:.0}x{:.0}, under {:.0} px",
                        c.label, c.w, c.h, self.minimum
                    ),
                );
            }
        }
        self.check_apart(place, &placed);
        for list in &lists {
            self.check_apart(place, &list.inner);
            self.check_reachable(place, list);
        }
        let foot = placed
            .iter()
            .filter(|c| c.h < h / 2.0)
            .map(|c| c.y + c.h)
            .fold(0.0, f32::max);
        if foot < h - FOOT {
            self.fail(
                place,
                format!("the lowest control ends at {foot:.0}, not at the foot"),
            );
        }
        found
    }

    /// Fails for each two of `controls` that overlap.
    fn check_apart(&mut self, place: &str, controls: &[Control]) {
        for (i, a) in controls.iter().enumerate() {
            for b in &controls[i + 1..] {
                let ox = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
                let oy = (a.y + a.h).min(b.y + b.h) - a.y.max(b.y);
                if ox > SLACK && oy > SLACK {
                    self.fail(place, format!("{:?} and {:?} overlap", a.label, b.label));
                }
            }
        }
    }

    /// Slides the list through with the mouse wheel, as a finger would:
    /// every control met in it must be wholly in view at some point, and
    /// the list must go back to its top. What came wholly into view is
    /// kept for `check_labels`, as the query finds no element that its
    /// list hides entirely.
    fn check_reachable(&mut self, place: &str, list: &ScrollList) {
        let v = &list.view;
        let in_view = |c: &Control| {
            c.x >= v.x - SLACK
                && c.y >= v.y - SLACK
                && c.x + c.w <= v.x + v.w + SLACK
                && c.y + c.h <= v.y + v.h + SLACK
        };
        let (mut met, mut seen) = (BTreeSet::new(), BTreeSet::new());
        let mut top = None;
        for _ in 0..40 {
            let now = list_controls(&self.page.window, &list.handle);
            for c in &now {
                met.insert(c.label.clone());
                if in_view(c) {
                    seen.insert(c.label.clone());
                }
            }
            let first = now.first().map(|c| (c.label.clone(), c.y));
            if first == top {
                break;
            }
            top = first;
            list.handle.scroll(0.0, -v.h / 2.0);
        }
        list.handle.scroll(0.0, 1.0e6);
        for label in met.difference(&seen) {
            self.fail(
                place,
                format!("{label:?} never slides wholly into view in its list"),
            );
        }
        if list_controls(&self.page.window, &list.handle) != list.inner {
            self.fail(place, "the list did not slide back to its top".into());
        }
        self.slid.extend(seen);
    }

    /// Each label is on screen, wholly inside the window.
    fn check_labels(&mut self, place: &str, labels: &[String]) {
        let (w, h) = (self.page.size.0 as f32, self.page.size.1 as f32);
        for label in labels {
            // Where a list slides, its controls were checked by sliding it.
            if self.slid.contains(label) {
                continue;
            }
            let Some(e) = self.page.find(label) else {
                self.fail(place, format!("{label:?} is not on screen"));
                continue;
            };
            let (at, size) = (e.absolute_position(), e.size());
            let inside = at.x >= -SLACK
                && at.y >= -SLACK
                && at.x + size.width <= w + SLACK
                && at.y + size.height <= h + SLACK;
            if !inside || size.width < 1.0 || size.height < 1.0 {
                self.fail(
                    place,
                    format!(
                        "{label:?} at ({:.0}, {:.0}) {:.0}x{:.0} is not wholly on screen",
                        at.x, at.y, size.width, size.height
                    ),
                );
            }
        }
    }

    /// Fails for each control that moved or changed size since `before`.
    fn check_still(&mut self, place: &str, what: &str, before: &[Control], after: &[Control]) {
        let after = by_label(after);
        for (key, was) in by_label(before) {
            if let Some(now) = after.get(&key)
                && !same_spot(now, &was)
            {
                self.fail(place, format!("{:?} moved when {what}: ({:.0}, {:.0}) {:.0}x{:.0} → ({:.0}, {:.0}) {:.0}x{:.0}", key.0, was.x, was.y, was.w, was.h, now.x, now.y, now.w, now.h));
            }
        }
    }

    /// One page in one language: with every notice, then every problem
    /// and every change a tap makes, nothing under the finger moving.
    fn survey(&mut self, lang: &str, case: &Case) {
        let size = self.page.size;
        let page_at =
            |what: &str| format!("{} at {}x{}, {lang}, {what}", case.name, size.0, size.1);
        self.page.show(&case.form);
        let mut labels = case.labels.clone();
        labels.extend([tr(lang, "Back", "Atrás"), action_label(case, lang)].map(String::from));
        if case.name == "thank-you" {
            labels.retain(|l| l != tr(lang, "Back", "Atrás"));
        }
        if case.form.kind != FormItemKind::ThankYou {
            labels.push(tr(lang, "Question 3 of 9", "Pregunta 3 de 9").into());
        }
        if !matches!(
            case.form.kind,
            FormItemKind::Consent | FormItemKind::ThankYou
        ) {
            labels.push(case.form.text.clone());
        }
        labels.extend(
            [
                tr(lang, "I need help", "Necesito ayuda"),
                tr(lang, "Español", "English"),
            ]
            .map(String::from),
        );
        let window = self.page.window.clone_strong();
        let k = window.global::<KioskAdapter>();
        for n in NOTICES {
            k.set_notice(n);
            let place = page_at(&format!("notice {}", kebab(n)));
            self.check(&place);
            self.check_labels(&place, &labels);
        }
        let shots: &[((u32, u32), &str)] = if self.larger {
            &[((800, 1280), "en"), ((1024, 768), "es")]
        } else {
            &[((1080, 1920), "en"), ((1024, 768), "es")]
        };
        if shots.contains(&(size, lang)) {
            let larger = if self.larger { "-larger" } else { "" };
            // Past the buttons' colour change, so the picture shows the
            // page at rest.
            i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(500));
            screenshot(
                &self.page.window,
                &format!("form-{}-{}x{}-{lang}{larger}", case.name, size.0, size.1),
            );
        }
        k.set_notice(NOTICES[1]);
        let plain = self.check(&page_at("notice late"));
        for &p in &case.problems {
            let mut form = case.form.clone();
            form.problem = Some(p);
            self.page.show(&form);
            let place = page_at(&format!("problem {}", kebab(p)));
            let shown = self.check(&place);
            self.check_still(&place, "the problem appeared", &plain, &shown);
        }
        self.page.show(&case.form);
        self.survey_answer(&page_at("answering"), lang, case, &plain);
        k.set_notice(NOTICES[0]);
    }

    /// Answers the page as a patient would, and fails if anything moved.
    fn survey_answer(&mut self, place: &str, lang: &str, case: &Case, plain: &[Control]) {
        let mut form = case.form.clone();
        match form.kind {
            FormItemKind::Boolean | FormItemKind::Choice => form.selected = Some(1),
            FormItemKind::Integer => form.typed = "12".into(),
            FormItemKind::Date => form.typed = "051720".into(),
            FormItemKind::Text => form.typed = "WALGREENS ON MAIN ST 12".into(),
            FormItemKind::Consent if form.agreed => {
                let (x, y, w, h) = self.page.pad_rect();
                self.page.draw(&[
                    (x + w * 0.1, y + h * 0.5),
                    (x + w * 0.5, y + h * 0.3),
                    (x + w * 0.9, y + h * 0.6),
                ]);
                let after = self.check(place);
                self.check_still(place, "a signature was drawn", plain, &after);
                form.signed = true;
            }
            FormItemKind::Consent => {
                // "I agree" turns into "Next" in the same place.
                let agree = plain
                    .iter()
                    .find(|c| c.label == tr(lang, "I agree", "Acepto"))
                    .cloned();
                form.agreed = true;
                self.page.show(&form);
                let after = self.check(place);
                self.check_still(place, "I agree was tapped", plain, &after);
                let next = after
                    .iter()
                    .find(|c| c.label == tr(lang, "Next", "Siguiente"));
                if !matches!((&agree, next), (Some(a), Some(n)) if same_spot(a, n)) {
                    self.fail(
                        place,
                        format!("\"Next\" {next:?} is not where \"I agree\" {agree:?} was"),
                    );
                }
                return;
            }
            FormItemKind::Display | FormItemKind::ThankYou => return,
        }
        self.page.show(&form);
        let after = self.check(place);
        self.check_still(place, "the patient answered", plain, &after);
    }
}

impl Page {
    /// The signature pad's place in the window (x, y, width, height),
    /// whatever the language.
    fn pad_rect(&self) -> (f32, f32, f32, f32) {
        for label in ["Signature box", "Recuadro para la firma"] {
            if let Some(pad) = self.find(label) {
                let (at, size) = (pad.absolute_position(), pad.size());
                return (at.x, at.y, size.width, size.height);
            }
        }
        panic!("the signature pad is on screen");
    }
}

#[test]
fn every_form_page_fits_every_size_language_and_notice() {
    walk_form_pages(false);
}

/// The same walk with the patient's larger text on: every page kind still
/// fits every size, language and notice.
#[test]
fn every_form_page_fits_with_larger_text() {
    walk_form_pages(true);
}

/// The walk of every form page kind, size, language and notice, with
/// larger text on or off.
fn walk_form_pages(larger: bool) {
    let problems: Vec<String> = std::iter::once("none".to_string())
        .chain(PROBLEMS.iter().map(kebab))
        .collect();
    assert_eq!(
        problems,
        declared_enum("FormProblemKind"),
        "the walk knows every problem"
    );
    covers_enum(
        "FormKind",
        &[
            FormItemKind::Display,
            FormItemKind::Boolean,
            FormItemKind::Choice,
            FormItemKind::Integer,
            FormItemKind::Date,
            FormItemKind::Text,
            FormItemKind::Consent,
            FormItemKind::ThankYou,
        ],
    );
    let mut failures = Vec::new();
    let mut checks = 0;
    for size in SIZES {
        let mut survey = Survey::new(size, larger);
        for lang in LANGUAGES {
            survey.page.language(lang);
            for case in cases(lang) {
                survey.survey(lang, &case);
            }
        }
        checks += survey.checks;
        failures.extend(survey.failures);
    }
    slint::select_bundled_translation("en").unwrap();
    println!("the form walk checked {checks} page states");
    assert!(checks > 500, "the walk checked {checks} page states");
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failures {
        let key = f.split(", ").next().unwrap_or(f).to_string();
        *tally.entry(key).or_default() += 1;
    }
    let tally: Vec<String> = tally.iter().map(|(k, n)| format!("  {k}: {n}")).collect();
    let shown: Vec<&str> = failures.iter().take(60).map(String::as_str).collect();
    assert!(
        failures.is_empty(),
        "{} form layout failures:\n{}\nthe first {}:\n{}",
        failures.len(),
        tally.join("\n"),
        shown.len(),
        shown.join("\n")
    );
}

#[test]
fn every_form_control_reaches_the_controller_as_its_input() {
    use FormItemKind as K;
    let page = Page::new((1080, 1920));
    page.language("en");
    let show = |kind: K, options: &[&str]| {
        let mut form = base("en", kind, "A question");
        form.options = options.iter().map(|o| o.to_string()).collect();
        page.show(&form);
    };
    show(K::Boolean, &[]);
    page.tap("Yes");
    page.tap("No");
    show(
        K::Choice,
        &["Not at all", "Several days", "More than half the days"],
    );
    page.tap("Several days");
    page.tap("Back");
    page.tap("Next");
    assert_eq!(
        page.take_sent(),
        [
            UiAction::FormBoolean(true),
            UiAction::FormBoolean(false),
            UiAction::FormChoose(1),
            UiAction::FormBack,
            UiAction::FormNext,
        ]
    );
    show(K::Integer, &[]);
    page.tap("4");
    page.tap("2");
    page.tap("Delete");
    let mut typed = base("en", K::Integer, "A question");
    typed.typed = "42".into();
    page.show(&typed);
    page.tap("Clear");
    assert_eq!(
        page.take_sent(),
        [
            UiAction::FormKey('4'),
            UiAction::FormKey('2'),
            UiAction::FormBackspace,
            UiAction::FormBackspace,
            UiAction::FormBackspace,
        ]
    );
    show(K::Text, &[]);
    page.tap("W");
    page.tap("Space");
    show(K::Consent, &[]);
    page.tap("I agree");
    show(K::ThankYou, &[]);
    page.tap("Continue");
    assert_eq!(
        page.take_sent(),
        [
            UiAction::FormKey('W'),
            UiAction::FormKey(' '),
            UiAction::FormAgree,
            UiAction::FormFinish,
        ]
    );
}

/// Where `label` is now, if it is on screen at all.
fn place_of(page: &Page, label: &str) -> Option<(f32, f32, f32, f32)> {
    page.find(label).map(|e| rect(&e))
}

#[test]
fn ten_answers_slide_under_the_finger_where_they_do_not_fit_and_back_and_next_stay() {
    let page = Page::new((1024, 768));
    page.window.global::<Theme>().set_larger_text(true);
    page.language("es");
    page.window
        .global::<KioskAdapter>()
        .set_notice(checkin_kiosk::kiosk::ui::NoticeKind::WrongLocation);
    let case = cases("es")
        .into_iter()
        .find(|c| c.name == "choice-10")
        .unwrap();
    page.show(&case.form);
    let lists = scroll_lists(&page.window, &controls(&page.window));
    let [list] = lists.as_slice() else {
        panic!("one list of answers, not {}", lists.len());
    };
    let view = &list.view;
    let wholly_in_view = |(x, y, w, h): (f32, f32, f32, f32)| {
        x >= view.x - SLACK
            && y >= view.y - SLACK
            && x + w <= view.x + view.w + SLACK
            && y + h <= view.y + view.h + SLACK
    };
    let (first, last) = ("Por mi médico", "Otra cosa");
    assert!(place_of(&page, first).is_some_and(wholly_in_view));
    assert!(
        !place_of(&page, last).is_some_and(wholly_in_view),
        "ten answers do not all fit 1024x768 with larger text"
    );
    let bar = || [place_of(&page, "Atrás"), place_of(&page, "Siguiente")];
    let bar_before = bar();

    list.handle.scroll(0.0, -10_000.0);
    assert!(
        place_of(&page, last).is_some_and(wholly_in_view),
        "the last answer slides into view: {:?} in {view:?}",
        place_of(&page, last)
    );
    assert_eq!(bar(), bar_before, "Back and Next stay where they are");
    page.tap(last);
    assert_eq!(page.take_sent(), [UiAction::FormChoose(9)]);

    // The next question starts at its first answer.
    let mut next = case.form.clone();
    next.text = "¿Quién le recomendó nuestra clínica?".into();
    page.show(&next);
    // The event loop runs change handlers before it draws again.
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::ZERO);
    assert!(place_of(&page, first).is_some_and(wholly_in_view));

    // With room for them all, the same answers do not slide.
    page.window
        .window()
        .set_size(slint::PhysicalSize::new(1080, 1920));
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::ZERO);
    let lists = scroll_lists(&page.window, &controls(&page.window));
    let [list] = lists.as_slice() else {
        panic!("one list of answers, not {}", lists.len());
    };
    let before = list_controls(&page.window, &list.handle);
    assert_eq!(before.len(), 10, "all ten answers show at 1080x1920");
    list.handle.scroll(0.0, -10_000.0);
    assert_eq!(list_controls(&page.window, &list.handle), before);
}

#[test]
fn the_chosen_answer_is_marked_for_screen_readers_too() {
    let page = Page::new((1080, 1920));
    page.language("en");
    let mut form = base("en", FormItemKind::Choice, "A question");
    form.options = four_options("en");
    form.selected = Some(2);
    page.show(&form);
    let value = |label: &str| page.find(label).and_then(|e| e.accessible_value());
    assert_eq!(value("More than half the days").as_deref(), Some("Chosen"));
    assert_eq!(value("Not at all").as_deref(), Some(""));
    form.selected = None;
    page.show(&form);
    assert_eq!(value("More than half the days").as_deref(), Some(""));
}

/// Decodes a PNG into (width, height, grey pixels).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The window's pixel at (x, y), as (r, g, b).
fn window_pixel(page: &Page, x: f32, y: f32) -> (u8, u8, u8) {
    let shot = page.window.window().take_snapshot().expect("a snapshot");
    let p = shot.as_slice()[y as usize * shot.width() as usize + x as usize];
    (p.r, p.g, p.b)
}

#[test]
fn a_signature_drawn_with_the_finger_reaches_the_controller_as_a_png() {
    for (size, lang) in SIZES
        .into_iter()
        .flat_map(|size| ["en", "es"].map(|lang| (size, lang)))
    {
        let next_label = tr(lang, "Next", "Siguiente");
        let page = Page::new(size);
        page.language(lang);
        let mut form = base(lang, FormItemKind::Consent, &consent_text(lang));
        form.agreed = true;
        page.show(&form);
        let next = || page.find(next_label).expect("Next");
        assert_eq!(
            next().accessible_enabled(),
            Some(false),
            "no signature yet at {size:?} in {lang}"
        );

        // A line across the middle of the pad, drawn in 10 px steps.
        let (x, y, w, h) = page.pad_rect();
        let mid = y + h / 2.0;
        let (mid_x, white) = (x + w / 2.0, window_pixel(&page, x + w / 2.0, mid));
        let points: Vec<(f32, f32)> = (0..)
            .map(|i| x + w * 0.1 + i as f32 * 10.0)
            .take_while(|&px| px <= x + w * 0.9)
            .map(|px| (px, mid))
            .collect();
        page.draw(&points);
        let f = page.window.global::<FormAdapter>();
        assert!(
            f.get_can_sign(),
            "a line across the pad is a signature at {size:?} in {lang}"
        );
        assert!(!f.get_signature().is_empty());
        assert_eq!(white, (255, 255, 255), "the pad is white before");
        let (r, g, b) = window_pixel(&page, mid_x, mid);
        assert!(
            r < 100 && g < 100 && b < 120,
            "the pad shows the ink under the finger at {size:?} in {lang}: {:?}",
            (r, g, b)
        );
        assert_eq!(
            page.take_sent(),
            [UiAction::StillHere],
            "lifting the finger is activity"
        );

        page.tap(next_label);
        let sent = page.take_sent();
        let [UiAction::FormSigned(png_bytes), UiAction::FormNext] = sent.as_slice() else {
            panic!("Next sends the signature, then Next: {:?}", sent.len());
        };
        let (pw, ph, grey) = decode(png_bytes);
        let at = |px: u32, py: u32| grey[(py * pw + px) as usize];
        let dark_rows: Vec<u32> = (0..ph).filter(|&py| at(pw / 2, py) < 64).collect();
        assert!(!dark_rows.is_empty(), "the line is in the PNG");
        let centre = dark_rows.iter().sum::<u32>() / dark_rows.len() as u32;
        assert!(
            centre.abs_diff(ph / 2) <= 2,
            "the line is across the middle: row {centre} of {ph}"
        );
        assert_eq!(at(pw / 2, 5), 255, "white above the line");

        // Nothing new drawn: Next does not send the signature again.
        page.tap(next_label);
        assert_eq!(page.take_sent(), [UiAction::FormNext]);
    }
}

#[test]
fn clear_wipes_the_pad_and_leaving_the_page_drops_the_strokes() {
    let page = Page::new((1080, 1920));
    page.language("en");
    let mut form = base("en", FormItemKind::Consent, &consent_text("en"));
    form.agreed = true;
    page.show(&form);
    let (x, y, w, h) = page.pad_rect();
    let stroke = [
        (x + w * 0.1, y + h * 0.4),
        (x + w * 0.5, y + h * 0.6),
        (x + w * 0.9, y + h * 0.4),
    ];
    page.draw(&stroke);
    let f = page.window.global::<FormAdapter>();
    assert!(f.get_can_sign());
    page.tap("Clear");
    assert_eq!(
        page.take_sent(),
        [UiAction::StillHere, UiAction::FormClearSignature]
    );
    assert!(f.get_signature().is_empty() && !f.get_can_sign() && page.pad.is_empty());
    assert_eq!(page.find("Next").unwrap().accessible_enabled(), Some(false));

    // Drawn again, then the idle reset: the view model leaves the form,
    // and the strokes go with it.
    page.draw(&stroke);
    assert!(!page.pad.is_empty());
    show_form(
        &page.window,
        &page.pad,
        view::Screen::Welcome,
        &FormView::default(),
    );
    assert!(page.pad.is_empty(), "the reset drops the strokes");
    assert!(f.get_signature().is_empty() && !f.get_can_sign());
    for text in [
        f.get_form_title(),
        f.get_text(),
        f.get_group_title(),
        f.get_typed(),
        f.get_crisis_text(),
    ] {
        assert!(text.is_empty(), "{text:?} left after the reset");
    }
    // Another consent page starts with an empty pad, too.
    page.show(&form);
    page.draw(&stroke);
    let mut other = form.clone();
    other.position += 1;
    page.show(&other);
    assert!(page.pad.is_empty(), "a new page has a new pad");
}

#[test]
fn a_signature_is_kept_when_only_the_page_s_state_changes() {
    let page = Page::new((1080, 1920));
    page.language("en");
    let mut form = base("en", FormItemKind::Consent, &consent_text("en"));
    form.agreed = true;
    page.show(&form);
    let (x, y, w, h) = page.pad_rect();
    page.draw(&[(x + w * 0.1, y + h * 0.5), (x + w * 0.9, y + h * 0.5)]);
    page.tap("Next");
    // The controller saved the signature and stays on the page.
    form.signed = true;
    page.show(&form);
    assert!(
        !page.pad.is_empty(),
        "the patient still sees their signature"
    );
    assert_eq!(page.find("Next").unwrap().accessible_enabled(), Some(true));
}

#[test]
fn a_consent_signed_with_the_finger_reaches_the_outbox_through_the_real_flow() {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/forms/consent-npp.json"
    ))
    .unwrap();
    let mut k = super::ui::Kiosk::with_form_due_for_maria("consent-npp", json);
    let pass = k.pass_for("a-maria", chrono::Duration::hours(8));
    k.scan(&pass);
    k.tap("This is correct");
    k.tap("Still correct");
    k.tap("Pay at the front desk");
    assert_eq!(k.screen(), Screen::Form, "{}", k.all_text());
    k.tap("I agree");
    let pad = k.find("Signature box").expect("the pad after I agree");
    let (at, size) = (pad.absolute_position(), pad.size());
    let w = k.window.window();
    let y = at.y + size.height / 2.0;
    w.dispatch_event(WindowEvent::PointerPressed {
        position: LogicalPosition::new(at.x + size.width * 0.1, y),
        button: PointerEventButton::Left,
    });
    for i in 1..=40 {
        let x = at.x + size.width * (0.1 + 0.02 * i as f32);
        let wave = if i % 2 == 0 { 10.0 } else { -10.0 };
        w.dispatch_event(WindowEvent::PointerMoved {
            position: LogicalPosition::new(x, y + wave),
        });
    }
    w.dispatch_event(WindowEvent::PointerReleased {
        position: LogicalPosition::new(at.x + size.width * 0.9, y),
        button: PointerEventButton::Left,
    });
    k.tap("Next");
    assert!(k.find("Thank you").is_some(), "{}", k.all_text());
    let events = k.ui.with_controller(|c| {
        c.repository()
            .store
            .events_for(&checkin_kiosk::domain::AppointmentId("a-maria".into()))
            .unwrap()
    });
    let form = events
        .iter()
        .find(|e| e.envelope.body.kind() == "form_completed")
        .expect("a form_completed event");
    let body = serde_json::to_string(&form.envelope.body).unwrap();
    // Standard base64 of a PNG starts with its signature bytes.
    let at = body
        .find("\"signature_png\"")
        .map(|i| &body[i..(i + 40).min(body.len())]);
    assert!(
        at.is_some_and(|a| a.starts_with("\"signature_png\":\"iVBORw0KGgo")),
        "the signature goes with the consent: {at:?}"
    );
    k.tap("Continue");
    assert_eq!(k.screen(), Screen::Done);
}

/// Whether two controls cover the same place, to within layout rounding
/// (under half a logical pixel on every edge): what a finger can tell.
fn same_spot(a: &Control, b: &Control) -> bool {
    [(a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)]
        .iter()
        .all(|(p, q)| (p - q).abs() < 0.5)
}
