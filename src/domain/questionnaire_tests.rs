//! Tests of the questionnaire model: construction checks, enableWhen,
//! answer validation, completeness and the screen order.

use super::*;

fn t(en: &str) -> LocalizedText {
    LocalizedText::new(en, format!("es: {en}"))
}

fn option(code: &str, weight: i32) -> AnswerOption {
    AnswerOption {
        code: code.into(),
        system: None,
        display: t(code),
        weight: Some(weight),
    }
}

fn when(question: &str, operator: Operator, answer: Condition) -> EnableWhen {
    EnableWhen {
        question: question.into(),
        operator,
        answer,
    }
}

fn required(mut item: Item) -> Item {
    item.required = true;
    item
}

/// A form with every item type: a smoker question, a follow-up group shown
/// only to smokers, a count compared with `>=`, a date and a short string.
fn sample() -> Questionnaire {
    let mut packs = required(Item::new(
        "packs",
        t("Packs a day"),
        ItemKind::Integer { min: 0, max: 10 },
    ));
    packs.enable_when = vec![when("smoke", Operator::Eq, Condition::Boolean(true))];
    let mut heavy = Item::new("heavy", t("Talk to us about quitting"), ItemKind::Display);
    heavy.enable_when = vec![when("packs", Operator::Ge, Condition::Integer(2))];
    let mut group = Item::new("smoking", t("Smoking"), ItemKind::Group(vec![packs, heavy]));
    group.enable_when = vec![when("smoke", Operator::Exists, Condition::Boolean(true))];
    let mut why = Item::new("why", t("Why?"), ItemKind::String { max_chars: 20 });
    why.enable_when = vec![
        when("mood", Operator::Eq, Condition::Coding("bad".into())),
        when("smoke", Operator::Eq, Condition::Boolean(true)),
    ];
    why.enable_behavior = EnableBehavior::Any;
    Questionnaire::new(
        "sample",
        t("Sample"),
        vec![
            Item::new("intro", t("Welcome"), ItemKind::Display),
            required(Item::new("smoke", t("Do you smoke?"), ItemKind::Boolean)),
            group,
            required(Item::new(
                "mood",
                t("Mood"),
                ItemKind::Choice(vec![option("good", 0), option("bad", 1)]),
            )),
            why,
            Item::new("last", t("Last visit"), ItemKind::Date),
        ],
    )
    .unwrap()
}

fn ids<'a>(screens: &[Screen<'a>]) -> Vec<&'a str> {
    screens.iter().map(|s| s.item.link_id.as_str()).collect()
}

#[test]
fn hidden_items_follow_the_answers() {
    let form = sample();
    let mut r = Response::new();
    assert_eq!(ids(&form.screens(&r)), ["intro", "smoke", "mood", "last"]);
    r.set(&form, "smoke", Answer::Boolean(true)).unwrap();
    assert_eq!(
        ids(&form.screens(&r)),
        ["intro", "smoke", "packs", "mood", "why", "last"]
    );
    let packs = form.screens(&r)[2];
    assert_eq!(packs.group.map(|g| g.link_id.as_str()), Some("smoking"));
    r.set(&form, "packs", Answer::Integer(2)).unwrap();
    assert!(form.is_enabled("heavy", &r));
    r.set(&form, "packs", Answer::Integer(1)).unwrap();
    assert!(!form.is_enabled("heavy", &r));
    // Saying no hides the group and, through it, the count's follow-up.
    r.set(&form, "packs", Answer::Integer(5)).unwrap();
    r.set(&form, "smoke", Answer::Boolean(false)).unwrap();
    assert!(!form.is_enabled("packs", &r));
    assert!(
        !form.is_enabled("heavy", &r),
        "a hidden answer counts as none"
    );
    assert_eq!(form.effective(&r).get("packs"), None);
    assert_eq!(
        form.effective(&r).get("smoke"),
        Some(&Answer::Boolean(false))
    );
}

#[test]
fn any_behavior_needs_one_condition_and_all_needs_every_one() {
    let form = sample();
    let mut r = Response::new();
    r.set(&form, "mood", Answer::Coding("bad".into())).unwrap();
    assert!(form.is_enabled("why", &r), "any: mood alone is enough");
    r.set(&form, "mood", Answer::Coding("good".into())).unwrap();
    assert!(!form.is_enabled("why", &r));
    r.set(&form, "smoke", Answer::Boolean(true)).unwrap();
    assert!(form.is_enabled("why", &r));
}

#[test]
fn every_operator_compares_as_fhir_says() {
    use Operator::*;
    let int = |v| Some(Answer::Integer(v));
    let cases = [
        (Eq, 3, true),
        (Eq, 4, false),
        (Ne, 4, true),
        (Ne, 3, false),
        (Gt, 2, true),
        (Gt, 3, false),
        (Lt, 4, true),
        (Lt, 3, false),
        (Ge, 3, true),
        (Ge, 4, false),
        (Le, 3, true),
        (Le, 2, false),
    ];
    for (op, operand, expected) in cases {
        let c = when("q", op, Condition::Integer(operand));
        assert_eq!(
            condition_holds(&c, int(3).as_ref()),
            expected,
            "3 {} {operand}",
            op.as_str()
        );
        assert!(
            !condition_holds(&c, None),
            "no answer never satisfies {}",
            op.as_str()
        );
    }
    let exists = when("q", Exists, Condition::Boolean(true));
    let absent = when("q", Exists, Condition::Boolean(false));
    assert!(condition_holds(&exists, int(0).as_ref()) && !condition_holds(&exists, None));
    assert!(condition_holds(&absent, None) && !condition_holds(&absent, int(0).as_ref()));
    let yes = Some(Answer::Boolean(true));
    assert!(condition_holds(
        &when("q", Ne, Condition::Boolean(false)),
        yes.as_ref()
    ));
    let code = Some(Answer::Coding("a".into()));
    assert!(condition_holds(
        &when("q", Eq, Condition::Coding("a".into())),
        code.as_ref()
    ));
    assert!(condition_holds(
        &when("q", Ne, Condition::Coding("b".into())),
        code.as_ref()
    ));
}

#[test]
fn complete_means_every_enabled_required_question_answered() {
    let form = sample();
    let mut r = Response::new();
    assert_eq!(form.missing_required(&r), ["smoke", "mood"]);
    r.set(&form, "smoke", Answer::Boolean(true)).unwrap();
    r.set(&form, "mood", Answer::Coding("good".into())).unwrap();
    assert_eq!(
        form.missing_required(&r),
        ["packs"],
        "the group's question is now required"
    );
    assert!(!form.is_complete(&r));
    r.set(&form, "packs", Answer::Integer(0)).unwrap();
    assert!(form.is_complete(&r));
    r.set(&form, "smoke", Answer::Boolean(false)).unwrap();
    r.clear("packs");
    assert!(
        form.is_complete(&r),
        "a hidden required question is not needed"
    );
}

#[test]
fn answers_are_checked_against_their_item_without_echoing_values() {
    let form = sample();
    let mut r = Response::new();
    let err = |id: &str, a: Answer| form.validate_answer(id, &a).unwrap_err();
    assert_eq!(
        err("smoke", Answer::Integer(1)),
        QuestionnaireError::WrongType {
            link_id: "smoke".into(),
            expected: "boolean",
            got: "integer"
        }
    );
    assert_eq!(
        err("mood", Answer::Coding("meh".into())),
        QuestionnaireError::UnknownOption("mood".into())
    );
    assert_eq!(
        err("packs", Answer::Integer(11)),
        QuestionnaireError::OutOfRange {
            link_id: "packs".into(),
            min: 0,
            max: 10
        }
    );
    assert_eq!(
        err("intro", Answer::Boolean(true)),
        QuestionnaireError::NotAQuestion("intro".into())
    );
    assert_eq!(
        err("nope", Answer::Boolean(true)),
        QuestionnaireError::UnknownItem("nope".into())
    );
    assert_eq!(
        err("nope\u{202E}", Answer::Boolean(true)),
        QuestionnaireError::UnknownItem("(invalid linkId)".into())
    );
    let old = NaiveDate::from_ymd_opt(1899, 12, 31).unwrap();
    assert_eq!(
        err("last", Answer::Date(old)),
        QuestionnaireError::DateOutOfRange("last".into())
    );
    assert!(
        form.validate_answer("last", &Answer::Date(first_date()))
            .is_ok()
    );
    assert!(
        form.validate_answer("last", &Answer::Date(last_date()))
            .is_ok()
    );
    let secret = "x".repeat(21);
    let e = err("why", Answer::String(secret.clone()));
    assert_eq!(
        e,
        QuestionnaireError::BadString {
            link_id: "why".into(),
            max: 20
        }
    );
    assert!(!e.to_string().contains(&secret));
    for bad in ["", "   ", "a\nb", "a\u{200B}b"] {
        assert!(
            matches!(
                err("why", Answer::String(bad.into())),
                QuestionnaireError::BadString { .. }
            ),
            "{bad:?}"
        );
    }
    assert!(
        form.validate_answer("why", &Answer::String("ñandú, sí".into()))
            .is_ok()
    );
    // A refused answer changes nothing.
    assert!(r.set(&form, "packs", Answer::Integer(-1)).is_err());
    assert!(r.is_empty());
}

fn build(items: Vec<Item>) -> Result<Questionnaire, QuestionnaireError> {
    Questionnaire::new("f", t("F"), items)
}

#[test]
fn broken_forms_are_refused_with_the_link_id() {
    let yes = || Item::new("yes", t("Yes?"), ItemKind::Boolean);
    assert_eq!(build(vec![]), Err(QuestionnaireError::BadSize));
    assert_eq!(
        Questionnaire::new("bad id", t("F"), vec![yes()]),
        Err(QuestionnaireError::BadFormId)
    );
    assert_eq!(
        build(vec![yes(), yes()]),
        Err(QuestionnaireError::DuplicateLinkId("yes".into()))
    );
    assert_eq!(
        build(vec![Item::new("", t("x"), ItemKind::Boolean)]),
        Err(QuestionnaireError::BadLinkId(1))
    );
    let mut no_es = yes();
    no_es.text.es.clear();
    assert_eq!(
        build(vec![no_es]),
        Err(QuestionnaireError::MissingText {
            link_id: "yes".into(),
            language: "Spanish"
        })
    );
    let long = Item::new(
        "long",
        t(&"x".repeat(MAX_TEXT_CHARS + 1)),
        ItemKind::Display,
    );
    assert!(matches!(
        build(vec![long]),
        Err(QuestionnaireError::BadText { .. })
    ));
    assert_eq!(
        build(vec![Item::new("g", t("G"), ItemKind::Group(vec![]))]),
        Err(QuestionnaireError::EmptyGroup("g".into()))
    );
    let dup = ItemKind::Choice(vec![option("a", 0), option("a", 1)]);
    assert_eq!(
        build(vec![Item::new("c", t("C"), dup)]),
        Err(QuestionnaireError::BadOptions("c".into()))
    );
    assert_eq!(
        build(vec![Item::new("c", t("C"), ItemKind::Choice(vec![]))]),
        Err(QuestionnaireError::BadOptions("c".into()))
    );
    let range = ItemKind::Integer { min: 5, max: 4 };
    assert_eq!(
        build(vec![Item::new("n", t("N"), range)]),
        Err(QuestionnaireError::BadRange("n".into()))
    );
    let s = ItemKind::String {
        max_chars: MAX_STRING_ANSWER_CHARS + 1,
    };
    assert_eq!(
        build(vec![Item::new("s", t("S"), s)]),
        Err(QuestionnaireError::BadMaxLength("s".into()))
    );
    let req_display = required(Item::new("d", t("D"), ItemKind::Display));
    assert_eq!(
        build(vec![req_display]),
        Err(QuestionnaireError::RequiredNonQuestion("d".into()))
    );
}

#[test]
fn broken_enable_when_is_refused() {
    let mut a = Item::new("a", t("A"), ItemKind::Boolean);
    let mut b = Item::new("b", t("B"), ItemKind::Boolean);
    let mut orphan = Item::new("o", t("O"), ItemKind::Display);
    orphan.enable_when = vec![when("ghost", Operator::Exists, Condition::Boolean(true))];
    assert_eq!(
        build(vec![orphan]),
        Err(QuestionnaireError::EnableWhenUnknown {
            link_id: "o".into(),
            question: "ghost".into()
        })
    );
    let mut on_display = Item::new("o", t("O"), ItemKind::Display);
    on_display.enable_when = vec![when("d", Operator::Exists, Condition::Boolean(true))];
    let d = Item::new("d", t("D"), ItemKind::Display);
    assert!(matches!(
        build(vec![d, on_display]),
        Err(QuestionnaireError::EnableWhenUnknown { .. })
    ));
    let mut greater = b.clone();
    greater.enable_when = vec![when("a", Operator::Gt, Condition::Boolean(true))];
    assert_eq!(
        build(vec![a.clone(), greater]),
        Err(QuestionnaireError::EnableWhenMismatch {
            link_id: "b".into(),
            question: "a".into()
        })
    );
    let mut int_on_bool = b.clone();
    int_on_bool.enable_when = vec![when("a", Operator::Eq, Condition::Integer(1))];
    assert!(matches!(
        build(vec![a.clone(), int_on_bool]),
        Err(QuestionnaireError::EnableWhenMismatch { .. })
    ));
    a.enable_when = vec![when("b", Operator::Exists, Condition::Boolean(true))];
    b.enable_when = vec![when("a", Operator::Exists, Condition::Boolean(true))];
    assert!(matches!(
        build(vec![a.clone(), b]),
        Err(QuestionnaireError::EnableWhenCycle(_))
    ));
    // A question inside a group that depends on its own group's condition.
    let mut inner = Item::new("inner", t("I"), ItemKind::Boolean);
    inner.enable_when.clear();
    let mut g = Item::new("g", t("G"), ItemKind::Group(vec![inner]));
    g.enable_when = vec![when("inner", Operator::Eq, Condition::Boolean(true))];
    assert_eq!(
        build(vec![g]),
        Err(QuestionnaireError::EnableWhenCycle("g".into()))
    );
}
