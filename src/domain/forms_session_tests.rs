//! Tests of the forms session: pages, answers, the consent, the PHQ-2 →
//! PHQ-9 step-up, the crisis text, Back and the languages.

use super::*;
use crate::domain::questionnaire::{Item, ItemKind, LocalizedText, Questionnaire};
use crate::domain::screening::Instrument;
use crate::domain::testkit::{consent, screener, signature_png};

const EN: Language = Language::En;

fn session(set: FormSet) -> FormsSession {
    FormsSession::new(set).expect("a form is due")
}

fn only(due: Vec<DueForm>) -> FormSet {
    FormSet {
        due,
        ..FormSet::default()
    }
}

fn go(s: &mut FormsSession, input: FormInput) -> FormOutcome {
    s.handle(input.clone(), EN)
        .unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

/// Answers the current choice page with option `i`, then Next.
fn answer(s: &mut FormsSession, i: usize) -> FormOutcome {
    assert_eq!(s.view(EN).kind, PageKind::Choice, "{:?}", s.view(EN));
    go(s, FormInput::Choose(i));
    go(s, FormInput::Next)
}

fn weight_of(c: &CompletedForm, link_id: &str) -> Option<i32> {
    match c.response.get(link_id) {
        Some(Answer::Coding(code)) => c.form.form.item(link_id)?.option(code)?.weight,
        _ => None,
    }
}

#[test]
fn no_form_due_is_no_session() {
    assert!(FormsSession::new(FormSet::default()).is_none());
}

#[test]
fn a_phq2_under_three_is_asked_page_by_page_and_ends_on_a_plain_thank_you() {
    let mut s = session(FormSet {
        step_up: Some(screener(Instrument::Phq9)),
        crisis_text: Some(LocalizedText::new("Call 988.", "Llame al 988.")),
        ..only(vec![screener(Instrument::Phq2)])
    });
    let v = s.view(EN);
    assert_eq!((v.kind, v.position, v.count), (PageKind::Display, 1, 3));
    assert_eq!(v.form_title, "PHQ-2");
    assert_eq!(go(&mut s, FormInput::Next), FormOutcome::stay());
    // A required question cannot be skipped.
    assert_eq!(go(&mut s, FormInput::Next).moved, Moved::Stay);
    assert_eq!(s.view(EN).problem, Some(PageProblem::Required));
    assert_eq!(s.view(EN).position, 2);
    assert_eq!(s.view(EN).options.len(), 4);
    answer(&mut s, 1);
    let out = answer(&mut s, 1);
    assert_eq!(out.moved, Moved::ThankYou);
    let [done] = out.completed.as_slice() else {
        panic!("one form completed: {out:?}");
    };
    assert_eq!(done.form.id, "phq-2");
    assert_eq!(
        (weight_of(done, "phq2-1"), weight_of(done, "phq2-2")),
        (Some(1), Some(1))
    );
    assert!(!done.urgent);
    assert!(done.signature_png.is_none());
    let v = s.view(EN);
    assert_eq!((v.kind, v.count), (PageKind::ThankYou, 3), "no step-up");
    assert_eq!(v.crisis_text, "", "no crisis text without item 9");
    assert!(matches!(
        s.handle(FormInput::Next, EN),
        Err(FormsError::NotHere(_))
    ));
    assert_eq!(go(&mut s, FormInput::Finish).moved, Moved::Finished);
}

#[test]
fn a_phq2_of_three_steps_up_to_the_phq9_carrying_its_two_answers() {
    let mut s = session(FormSet {
        step_up: Some(screener(Instrument::Phq9)),
        crisis_text: Some(LocalizedText::new("Call 988.", "Llame al 988.")),
        ..only(vec![screener(Instrument::Phq2)])
    });
    go(&mut s, FormInput::Next);
    answer(&mut s, 2);
    let out = answer(&mut s, 1);
    assert_eq!(out.moved, Moved::Stay);
    assert_eq!(out.completed.len(), 1, "the PHQ-2 is recorded on its own");
    assert_eq!(s.form_ids(), ["phq-2", "phq-9"]);
    // The PHQ-9's intro and its items 3 to 9: items 1 and 2 are carried.
    let v = s.view(EN);
    assert_eq!((v.kind, v.position, v.count), (PageKind::Display, 4, 3 + 8));
    assert_eq!(v.form_title, "PHQ-9");
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).text, "Question 3");
    for _ in 3..9 {
        answer(&mut s, 0);
    }
    assert_eq!(s.view(EN).text, "Question 9");
    let out = answer(&mut s, 1);
    assert_eq!(out.moved, Moved::ThankYou);
    let [phq9] = out.completed.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(weight_of(phq9, "phq9-1"), Some(2), "carried from the PHQ-2");
    assert_eq!(weight_of(phq9, "phq9-2"), Some(1), "carried from the PHQ-2");
    assert_eq!(weight_of(phq9, "phq9-9"), Some(1));
    assert!(phq9.urgent, "item 9 above 0 is urgent");
    assert_eq!(s.view(EN).crisis_text, "Call 988.");
    assert_eq!(s.view(Language::Es).crisis_text, "Llame al 988.");
}

#[test]
fn a_phq9_total_of_twenty_is_urgent_without_the_crisis_text() {
    let mut s = session(FormSet {
        crisis_text: Some(LocalizedText::new("Call 988.", "Llame al 988.")),
        ..only(vec![screener(Instrument::Phq9)])
    });
    go(&mut s, FormInput::Next);
    for _ in 0..7 {
        answer(&mut s, 3);
    }
    answer(&mut s, 0);
    let out = answer(&mut s, 0);
    assert!(out.completed[0].urgent, "7 × 3 = 21");
    assert_eq!(s.view(EN).crisis_text, "", "item 9 was 0");
}

#[test]
fn without_the_phq9_definition_a_high_phq2_ends_the_forms() {
    let mut s = session(only(vec![screener(Instrument::Phq2)]));
    go(&mut s, FormInput::Next);
    answer(&mut s, 3);
    assert_eq!(answer(&mut s, 3).moved, Moved::ThankYou);
}

#[test]
fn a_consent_needs_agreement_then_a_signature_that_can_be_redrawn() {
    let mut s = session(only(vec![consent()]));
    let v = s.view(EN);
    assert_eq!((v.kind, v.count, v.required), (PageKind::Consent, 1, true));
    assert_eq!(
        v.text,
        "Consent to treatment.\n\nPrivacy notice.\n\nI agree."
    );
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotAgreed));
    go(&mut s, FormInput::Signed(signature_png()));
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotAgreed));
    assert!(!s.view(EN).signed);
    go(&mut s, FormInput::Agree);
    assert!(s.view(EN).agreed);
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotSigned));
    go(&mut s, FormInput::Signed(b"not a png".to_vec()));
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotSigned));
    go(&mut s, FormInput::Signed(signature_png()));
    assert!(s.view(EN).signed);
    go(&mut s, FormInput::ClearSignature);
    assert!(!s.view(EN).signed);
    let mut second = signature_png();
    second.push(7);
    go(&mut s, FormInput::Signed(second.clone()));
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.moved, Moved::ThankYou);
    let done = &out.completed[0];
    assert_eq!(done.signature_png.as_deref(), Some(second.as_slice()));
    assert_eq!(done.response.get("agree"), Some(&Answer::Boolean(true)));
    assert!(done.form.form.is_complete(&done.response));
}

#[test]
fn a_form_named_consent_with_other_questions_is_asked_item_by_item() {
    let mut due = screener(Instrument::Phq2);
    due.id = "consent-odd".into();
    let s = session(only(vec![due]));
    assert_eq!(s.view(EN).kind, PageKind::Display);
    assert_eq!(s.view(EN).count, 3);
}

#[test]
fn back_goes_page_by_page_into_the_previous_form_then_out() {
    let mut s = session(only(vec![consent(), screener(Instrument::Phq2)]));
    go(&mut s, FormInput::Agree);
    go(&mut s, FormInput::Signed(signature_png()));
    assert_eq!(go(&mut s, FormInput::Next).completed.len(), 1);
    go(&mut s, FormInput::Next);
    go(&mut s, FormInput::Choose(2));
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).position, 4);
    go(&mut s, FormInput::Back);
    let v = s.view(EN);
    assert_eq!((v.position, v.selected), (3, Some(2)), "the answer stays");
    go(&mut s, FormInput::Back);
    go(&mut s, FormInput::Back);
    let v = s.view(EN);
    assert_eq!(
        (v.kind, v.agreed, v.signed),
        (PageKind::Consent, true, true)
    );
    assert_eq!(go(&mut s, FormInput::Back).moved, Moved::Out);
    // Passing the consent again records it again: the newer one counts.
    assert_eq!(go(&mut s, FormInput::Next).completed.len(), 1);
}

#[test]
fn changing_the_phq2_below_three_withdraws_the_step_up() {
    let mut s = session(FormSet {
        step_up: Some(screener(Instrument::Phq9)),
        ..only(vec![screener(Instrument::Phq2)])
    });
    go(&mut s, FormInput::Next);
    answer(&mut s, 3);
    answer(&mut s, 3);
    assert_eq!(s.form_ids(), ["phq-2", "phq-9"]);
    go(&mut s, FormInput::Back);
    assert_eq!(s.view(EN).text, "Question 2");
    answer(&mut s, 0);
    go(&mut s, FormInput::Back);
    go(&mut s, FormInput::Back);
    let out = answer(&mut s, 0);
    assert_eq!(out.moved, Moved::Stay);
    let out = answer(&mut s, 0);
    assert_eq!(out.moved, Moved::ThankYou, "0 + 0: no PHQ-9");
    assert_eq!(s.form_ids(), ["phq-2"]);
}

/// A form with an integer, a date and a short text item.
fn typed_form() -> DueForm {
    let mut age = Item::new(
        "age",
        LocalizedText::new("Age", "Edad"),
        ItemKind::Integer { min: 0, max: 120 },
    );
    age.required = true;
    let items = vec![
        age,
        Item::new(
            "since",
            LocalizedText::new("Since when?", "¿Desde cuándo?"),
            ItemKind::Date,
        ),
        Item::new(
            "note",
            LocalizedText::new("Anything else?", "¿Algo más?"),
            ItemKind::String { max_chars: 5 },
        ),
    ];
    let title = LocalizedText::new("Intake", "Ingreso");
    DueForm {
        id: "intake".into(),
        version: "v2".into(),
        form: Arc::new(Questionnaire::new("intake", title, items).unwrap()),
    }
}

fn keys(s: &mut FormsSession, text: &str) {
    for c in text.chars() {
        go(s, FormInput::Key(c));
    }
}

#[test]
fn typed_answers_are_checked_on_next() {
    let mut s = session(only(vec![typed_form()]));
    assert_eq!(s.view(EN).kind, PageKind::Integer);
    keys(&mut s, "1a2-34");
    assert_eq!(s.view(EN).typed, "123", "digits only, as wide as the range");
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::OutOfRange));
    go(&mut s, FormInput::Backspace);
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).kind, PageKind::Date);
    keys(&mut s, "02302020");
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::BadDate));
    for _ in 0..8 {
        go(&mut s, FormInput::Backspace);
    }
    keys(&mut s, "12311899");
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::OutOfRange));
    for _ in 0..8 {
        go(&mut s, FormInput::Backspace);
    }
    keys(&mut s, "03012026");
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).kind, PageKind::Text);
    keys(&mut s, "ok ok");
    go(&mut s, FormInput::Key('!'));
    assert_eq!(s.view(EN).problem, Some(PageProblem::TooLong));
    assert_eq!(s.view(EN).typed, "ok ok");
    go(&mut s, FormInput::Key('\u{202E}'));
    assert_eq!(s.view(EN).problem, Some(PageProblem::BadCharacters));
    go(&mut s, FormInput::Back);
    assert_eq!(s.view(EN).typed, "03012026", "the stored date, as typed");
    go(&mut s, FormInput::Next);
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.moved, Moved::ThankYou);
    let r = &out.completed[0].response;
    assert_eq!(r.get("age"), Some(&Answer::Integer(12)));
    assert_eq!(
        r.get("since"),
        Some(&Answer::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()))
    );
    assert_eq!(r.get("note"), Some(&Answer::String("ok ok".into())));
    assert!(matches!(
        s.handle(FormInput::Key('1'), EN),
        Err(FormsError::NotHere(_))
    ));
}

#[test]
fn inputs_that_do_not_fit_the_page_change_nothing() {
    let mut s = session(only(vec![screener(Instrument::Phq2)]));
    assert!(
        s.handle(FormInput::Choose(0), EN).is_err(),
        "a display page"
    );
    go(&mut s, FormInput::Next);
    assert_eq!(
        s.handle(FormInput::Choose(4), EN),
        Err(FormsError::NoSuchOption(4))
    );
    assert!(s.handle(FormInput::Agree, EN).is_err());
    assert!(s.handle(FormInput::Finish, EN).is_err());
    assert_eq!(s.view(EN).selected, None);
}

#[test]
fn the_page_reads_in_the_session_language_and_answers_stay() {
    let mut s = session(only(vec![screener(Instrument::Phq2)]));
    go(&mut s, FormInput::Next);
    go(&mut s, FormInput::Choose(1));
    let es = s.view(Language::Es);
    assert_eq!(es.text, "Pregunta 1");
    assert_eq!(es.options[1], "Varios días");
    assert_eq!(es.selected, Some(1));
    // A form finished in Spanish is recorded as answered in Spanish.
    s.handle(FormInput::Next, Language::Es).unwrap();
    go(&mut s, FormInput::Choose(0));
    let out = s.handle(FormInput::Next, Language::Es).unwrap();
    assert_eq!(out.completed[0].language, Language::Es);
}

fn type_text(s: &mut FormsSession, text: &str) {
    for c in text.chars() {
        go(s, FormInput::Key(c));
    }
}

#[test]
fn a_consent_is_signed_by_typing_a_name_on_the_keyboard() {
    let mut s = session(only(vec![consent(), screener(Instrument::Phq2)]));
    // Not before agreeing.
    go(&mut s, FormInput::TypeName);
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotAgreed));
    assert!(!s.view(EN).typing_name);
    go(&mut s, FormInput::Agree);
    go(&mut s, FormInput::TypeName);
    let v = s.view(EN);
    assert!(v.typing_name && v.problem.is_none() && !v.signed);
    // A blank name does not sign.
    assert_eq!(go(&mut s, FormInput::Next).moved, Moved::Stay);
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotSigned));
    assert!(s.view(EN).typing_name, "still on the keyboard");
    type_text(&mut s, " MARÍA GARCÍA-LÓPEZ");
    // A character no name holds is refused as it is typed.
    go(&mut s, FormInput::Key('.'));
    assert_eq!(s.view(EN).problem, Some(PageProblem::BadCharacters));
    go(&mut s, FormInput::Key('X'));
    go(&mut s, FormInput::Backspace);
    assert_eq!(s.view(EN).typed, " MARÍA GARCÍA-LÓPEZ");
    assert_eq!(s.view(EN).problem, None);
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.moved, Moved::Stay, "on to the next form");
    assert_eq!(out.completed.len(), 1);
    let done = &out.completed[0];
    assert_eq!(done.signature_name.as_deref(), Some("MARÍA GARCÍA-LÓPEZ"));
    assert_eq!(done.signature_png, None);
    assert_eq!(done.response.get("agree"), Some(&Answer::Boolean(true)));
    assert!(done.form.form.is_complete(&done.response));
    assert_eq!(s.view(EN).form_title, "PHQ-2");
    assert!(!s.view(EN).typing_name);

    // Back on the consent: it shows signed; a drawing replaces the name.
    go(&mut s, FormInput::Back);
    let v = s.view(EN);
    assert_eq!(v.kind, PageKind::Consent);
    assert!(v.agreed && v.signed && !v.typing_name);
    go(&mut s, FormInput::Signed(signature_png()));
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.completed[0].signature_png, Some(signature_png()));
    assert_eq!(out.completed[0].signature_name, None, "one signature only");
}

#[test]
fn the_keyboard_opens_on_the_name_kept_and_back_returns_to_the_box() {
    let mut s = session(only(vec![consent(), screener(Instrument::Phq2)]));
    go(&mut s, FormInput::Agree);
    go(&mut s, FormInput::Signed(signature_png()));
    go(&mut s, FormInput::TypeName);
    // The drawing stays until a name signs in its place.
    assert!(s.view(EN).signed);
    type_text(&mut s, "ANA");
    go(&mut s, FormInput::Back);
    let v = s.view(EN);
    assert!(!v.typing_name && v.signed && v.typed.is_empty());
    assert_eq!(v.kind, PageKind::Consent, "Back stayed on the consent");
    // No drawing can arrive while the keyboard shows.
    go(&mut s, FormInput::TypeName);
    assert!(s.handle(FormInput::Signed(signature_png()), EN).is_err());
    type_text(&mut s, "ANA DIAZ");
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.completed[0].signature_name.as_deref(), Some("ANA DIAZ"));
    assert_eq!(out.completed[0].signature_png, None);
    // Back to the consent, and the keyboard again: the name is there.
    go(&mut s, FormInput::Back);
    assert_eq!(s.view(EN).kind, PageKind::Consent);
    go(&mut s, FormInput::TypeName);
    assert_eq!(s.view(EN).typed, "ANA DIAZ");
}

#[test]
fn clear_removes_a_typed_name_too_and_the_name_has_a_limit() {
    let mut s = session(only(vec![consent(), screener(Instrument::Phq2)]));
    go(&mut s, FormInput::Agree);
    go(&mut s, FormInput::TypeName);
    type_text(&mut s, &"A".repeat(SIGNATURE_NAME_FIELD.max_chars()));
    go(&mut s, FormInput::Key('B'));
    assert_eq!(s.view(EN).problem, Some(PageProblem::TooLong));
    assert_eq!(
        s.view(EN).typed.chars().count(),
        SIGNATURE_NAME_FIELD.max_chars()
    );
    go(&mut s, FormInput::Back);
    go(&mut s, FormInput::TypeName);
    type_text(&mut s, "JO");
    // Only punctuation is no name.
    let mut t = session(only(vec![consent()]));
    go(&mut t, FormInput::Agree);
    go(&mut t, FormInput::TypeName);
    type_text(&mut t, "'-");
    assert_eq!(go(&mut t, FormInput::Next).moved, Moved::Stay);
    assert_eq!(t.view(EN).problem, Some(PageProblem::NotSigned));
    // Signed by name, then cleared: not signed.
    let out = go(&mut s, FormInput::Next);
    assert_eq!(out.completed[0].signature_name.as_deref(), Some("JO"));
    go(&mut s, FormInput::Back);
    go(&mut s, FormInput::ClearSignature);
    assert!(!s.view(EN).signed);
    go(&mut s, FormInput::Next);
    assert_eq!(s.view(EN).problem, Some(PageProblem::NotSigned));
}

#[test]
fn the_signature_name_rule_is_the_person_name_rule_trimmed() {
    assert_eq!(check_signature_name("María José O'Neil-Núñez"), Ok(()));
    assert!(check_signature_name("").is_err());
    assert!(check_signature_name("   ").is_err());
    assert!(check_signature_name(" ANA").is_err());
    assert!(check_signature_name("ANA ").is_err());
    assert!(check_signature_name("ANA.").is_err());
    assert!(check_signature_name("A\u{202E}NA").is_err());
    assert!(check_signature_name(&"A".repeat(101)).is_err());
    assert_eq!(check_signature_name(&"A".repeat(100)), Ok(()));
}
