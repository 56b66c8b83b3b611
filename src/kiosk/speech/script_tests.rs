//! Tests of the spoken script: every screen and state in English and
//! Spanish, and the privacy invariant: no public utterance carries any of
//! the view model's patient data, and the private ones do.

use super::*;
use crate::domain::MaskedDemographics;
use crate::kiosk::speech::Route;
use crate::kiosk::view::{
    ChoiceView, CoPayView, DoneView, EditDemographicsView, EditInsuranceView, FormView,
    IdentityView, InsuranceView, NotFoundView, PayPhoneView,
};

const LANGS: [Language; 2] = [Language::En, Language::Es];

/// Every piece of patient data the test view models hold, in the forms it
/// is shown and spoken: none may reach a public utterance.
const PHI: &[&str] = &[
    "Zebulon",
    "10:47",
    "Quillfeather",
    "8:13",
    "Vantablack",
    "3:29",
    "Okonkwo",
    "Pocatello",
    "9876",
    "9 8 7 6",
    "xyz",
    "Ysolde",
    "5432",
    "5 4 3 2",
    "Kestrel",
    "Aurora",
    "7531",
    "7, 5, 3, 1",
    "$83.19",
    "83 dollars",
    "83 dólares",
    "19 cents",
    "19 centavos",
    "$12.40",
    "12 dollars",
    "12 dólares",
    "QX9Z7",
    "9, zee",
    "9, zeta",
    "07141962",
    "0 7, 1 4",
    "1 9 6 2",
    "6 2",
    "ZEB",
    "zee, ee, bee",
    "zeta, e, be",
    "MAPLEWOOD",
    "HERONCARE",
];

/// A view model on `screen` full of distinctive fake patient data.
fn view(screen: Screen, language: Language) -> ViewModel {
    let es = language == Language::Es;
    let time = |en: &str, es_time: &str| if es { es_time } else { en }.to_string();
    let mut edit_demographics = EditDemographicsView::default();
    edit_demographics.fields[DemographicsField::Street] = "MAPLEWOOD 9".into();
    let mut edit_insurance = EditInsuranceView::default();
    edit_insurance.fields[InsuranceField::Payer] = "HERONCARE".into();
    ViewModel {
        screen,
        language,
        progress: 2,
        progress_steps: 4,
        identity: Some(IdentityView {
            name: "Zebulon Q.".into(),
            time: time("10:47 AM", "10:47 a. m."),
            clinician: "Dr. Quillfeather".into(),
        }),
        notice: None,
        idle_warning: false,
        dob_display: "07 / 14 / 1962".into(),
        dob_digits: "07141962".into(),
        dob_problem: None,
        name_letters: "ZEB".into(),
        name_prefix_len: 3,
        name_problem: None,
        name_wait_seconds: 0,
        not_found: NotFoundView {
            dob: "07 / 14 / ••62".into(),
            letters: "ZEB".into(),
            attempts_left: 2,
        },
        choices: vec![
            ChoiceView {
                time: time("8:13 AM", "8:13 a. m."),
                clinician: "Dr. Vantablack".into(),
            },
            ChoiceView {
                time: time("3:29 PM", "3:29 p. m."),
                clinician: "Dr. Okonkwo-Birch".into(),
            },
        ],
        pass_problem: None,
        desk_reason: None,
        demographics: MaskedDemographics {
            address: "4•• W••••••• L•••, Pocatello, ID 83•••".into(),
            phone: "•••-•••-9876".into(),
            email: "z•••@q•••.xyz".into(),
            emergency_contact: "Ysolde K. · •••-•••-5432".into(),
        },
        edit_demographics,
        insurance: InsuranceView {
            has_coverage: true,
            expired: false,
            payer: "Kestrel Mutual".into(),
            plan: "Plan Aurora".into(),
            member_id: "••••7531".into(),
            confirm_no_insurance: false,
        },
        edit_insurance,
        copay: CoPayView {
            amount: "$83.19".into(),
            self_pay: false,
            balance: "$12.40".into(),
            allow_phone: true,
            allow_bill_later: true,
        },
        pay_phone: PayPhoneView {
            url: "https://pay.example/QX9Z7".into(),
            reference: "QX9Z7".into(),
            amount: "$83.19".into(),
        },
        done: DoneView {
            choice: Some(CoPayChoice::FrontDesk),
            amount: "$83.19".into(),
            self_pay: false,
        },
        help_can_resume: true,
        form: FormView::default(),
    }
}

/// A view model before any match: nothing typed, no patient data.
fn blank(screen: Screen, language: Language) -> ViewModel {
    let mut v = view(screen, language);
    v.identity = None;
    v.progress = 0;
    v.dob_digits.clear();
    v.dob_display = "MM / DD / YYYY".into();
    v.name_letters.clear();
    v
}

/// Checks what holds for every utterance: the language, words in it, and
/// no patient data in a public one. Returns all the text, public first
/// then private, for the test's own assertions.
fn check(us: &[Utterance], language: Language) -> (String, String) {
    let mut public = Vec::new();
    let mut private = Vec::new();
    for u in us {
        assert_eq!(u.language, language, "{u:?}");
        assert!(
            u.text.chars().any(char::is_alphanumeric),
            "empty utterance {u:?}"
        );
        match u.audience {
            Audience::Anyone => {
                for needle in PHI {
                    assert!(
                        !u.text.contains(needle),
                        "patient data {needle:?} in a public utterance: {:?}",
                        u.text
                    );
                }
                public.push(u.text.as_str());
            }
            Audience::PrivateListening => private.push(u.text.as_str()),
            Audience::LoudspeakerOnly => {
                panic!("a screen's words are for every route: {:?}", u.text)
            }
        }
    }
    (public.join(" "), private.join(" "))
}

fn whole(v: &ViewModel) -> (String, String) {
    let us = whole_screen(v);
    assert!(!us.is_empty(), "{:?} says nothing", v.screen);
    assert!(
        us.iter().any(|u| u.audience == Audience::Anyone),
        "{:?} says nothing through a loudspeaker",
        v.screen
    );
    check(&us, v.language)
}

fn pick(language: Language, en: &'static str, es: &'static str) -> &'static str {
    match language {
        Language::En => en,
        Language::Es => es,
    }
}

const ALL_SCREENS: [Screen; 15] = [
    Screen::Welcome,
    Screen::EnterDob,
    Screen::EnterName,
    Screen::NotFound,
    Screen::Choose,
    Screen::PassRejected,
    Screen::SeeDesk,
    Screen::Demographics,
    Screen::EditDemographics,
    Screen::Insurance,
    Screen::EditInsurance,
    Screen::CoPay,
    Screen::PayPhone,
    Screen::Done,
    Screen::Help,
];

#[test]
fn every_screen_speaks_in_its_language_with_no_patient_data_in_public() {
    for lang in LANGS {
        for screen in ALL_SCREENS {
            let v = view(screen, lang);
            whole(&v);
            // Arriving from Welcome says the same kinds of things.
            let us = view_changes(Some(&blank(Screen::Welcome, lang)), &v);
            assert!(!us.is_empty(), "{screen:?}");
            check(&us, lang);
            // Every screen arrived at from every other.
            for from in ALL_SCREENS {
                let us = view_changes(Some(&view(from, lang)), &v);
                check(&us, lang);
                if from != screen {
                    assert!(!us.is_empty(), "{from:?} -> {screen:?} says nothing");
                }
            }
        }
    }
}

#[test]
fn neighbouring_utterances_of_one_audience_are_joined() {
    for lang in LANGS {
        for screen in ALL_SCREENS {
            let us = whole_screen(&view(screen, lang));
            for pair in us.windows(2) {
                assert_ne!(pair[0].audience, pair[1].audience, "{screen:?}: {us:?}");
            }
        }
    }
}

#[test]
fn welcome_greets_with_the_clinic_name_and_the_two_ways_in() {
    let ctx = ScriptContext {
        clinic_name: "Harbor Family Clinic".into(),
        online: true,
    };
    let en = whole_screen_in(&ctx, &blank(Screen::Welcome, Language::En));
    let (public, private) = check(&en, Language::En);
    assert!(private.is_empty());
    assert!(
        public.starts_with("Welcome to Harbor Family Clinic."),
        "{public}"
    );
    assert!(public.contains("Scan your check-in code"));
    assert!(public.contains("Use my date of birth"));
    let es = whole_screen_in(&ctx, &blank(Screen::Welcome, Language::Es));
    let (public, _) = check(&es, Language::Es);
    assert!(
        public.starts_with("Bienvenido a Harbor Family Clinic."),
        "{public}"
    );
    assert!(public.contains("Escanee su código de registro"));
    assert!(public.contains("Usar mi fecha de nacimiento"));
    let (public, _) = whole(&blank(Screen::Welcome, Language::En));
    assert!(public.starts_with("Welcome. Check in"), "{public}");
}

#[test]
fn the_date_of_birth_screen_asks_and_reads_typed_digits_privately() {
    for lang in LANGS {
        let mut v = blank(Screen::EnterDob, lang);
        v.dob_digits = "07141962".into();
        let (public, private) = whole(&v);
        assert!(public.contains(pick(
            lang,
            "What is your date of birth?",
            "¿Cuál es su fecha de nacimiento?"
        )));
        assert!(public.contains(pick(
            lang,
            "Type month, day, then year",
            "Escriba mes, día y año"
        )));
        assert_eq!(private, "0 7, 1 4, 1 9 6 2.");
        // Nothing typed: nothing private.
        let (_, private) = whole(&blank(Screen::EnterDob, lang));
        assert!(private.is_empty());
    }
}

#[test]
fn typed_digits_are_spoken_one_by_one_and_privately() {
    for lang in LANGS {
        let mut prev = blank(Screen::EnterDob, lang);
        for (i, digit) in "07141962".chars().enumerate() {
            let mut next = prev.clone();
            next.dob_digits.push(digit);
            let us = view_changes(Some(&prev), &next);
            assert_eq!(us.len(), 1, "{us:?}");
            assert_eq!(us[0].audience, Audience::PrivateListening);
            assert_eq!(us[0].language, lang);
            assert_eq!(us[0].text, format!("{digit}."), "digit {i}");
            prev = next;
        }
    }
}

#[test]
fn an_erase_and_a_clear_are_said_without_the_digits() {
    for lang in LANGS {
        let mut prev = view(Screen::EnterDob, lang);
        prev.dob_digits = "071".into();
        let mut next = prev.clone();
        next.dob_digits = "07".into();
        let us = view_changes(Some(&prev), &next);
        let (public, private) = check(&us, lang);
        assert_eq!(public, pick(lang, "Deleted.", "Borrado."));
        assert!(private.is_empty());
        next.dob_digits.clear();
        let us = view_changes(Some(&prev), &next);
        let (public, _) = check(&us, lang);
        assert_eq!(public, pick(lang, "Cleared.", "Todo borrado."));
        // Deleting the only digit is a delete.
        prev.dob_digits = "0".into();
        let us = view_changes(Some(&prev), &next);
        assert_eq!(check(&us, lang).0, pick(lang, "Deleted.", "Borrado."));
    }
}

#[test]
fn each_date_of_birth_problem_is_said_when_it_appears_and_not_again() {
    let cases = [
        (
            DobProblem::Incomplete,
            "Please type all 8 digits",
            "Escriba los 8 dígitos",
        ),
        (
            DobProblem::Month,
            "The month must be from 01 to 12.",
            "El mes debe estar entre 01 y 12.",
        ),
        (
            DobProblem::Day,
            "That day does not exist in that month.",
            "Ese día no existe en ese mes.",
        ),
        (
            DobProblem::Year,
            "Please check the year.",
            "Revise el año, por favor.",
        ),
        (
            DobProblem::Future,
            "A date of birth cannot be in the future.",
            "La fecha de nacimiento no puede estar en el futuro.",
        ),
    ];
    for lang in LANGS {
        for (problem, en, es) in cases {
            let prev = view(Screen::EnterDob, lang);
            let mut next = prev.clone();
            next.dob_problem = Some(problem);
            let us = view_changes(Some(&prev), &next);
            assert_eq!(us.len(), 1, "{us:?}");
            let (public, _) = check(&us, lang);
            assert!(public.contains(pick(lang, en, es)), "{public}");
            // Repeat says it too; the same view again says nothing.
            assert!(whole(&next).0.contains(pick(lang, en, es)));
            assert!(view_changes(Some(&next), &next).is_empty());
        }
    }
}

#[test]
fn typed_letters_are_spoken_by_name_and_privately() {
    let cases = [
        (Language::En, 'B', "bee"),
        (Language::Es, 'B', "be"),
        (Language::En, 'W', "double you"),
        (Language::Es, 'W', "uve doble"),
        (Language::Es, 'V', "uve"),
        (Language::Es, 'H', "hache"),
        (Language::Es, 'Ñ', "eñe"),
        (Language::Es, 'ñ', "eñe"),
        (Language::En, 'Ñ', "en with tilde"),
        (Language::Es, 'É', "e con tilde"),
        (Language::En, 'É', "ee with acute accent"),
        (Language::Es, 'Ü', "u con diéresis"),
        (Language::Es, 'Ç', "ce con cedilla"),
        (Language::En, '\'', "apostrophe"),
        (Language::Es, '\'', "apóstrofo"),
        (Language::Es, '-', "guion"),
        (Language::En, ' ', "space"),
        (Language::Es, '@', "arroba"),
    ];
    for (lang, letter, name) in cases {
        let mut prev = blank(Screen::EnterName, lang);
        prev.name_letters = "GA".into();
        let mut next = prev.clone();
        next.name_letters.push(letter);
        let us = view_changes(Some(&prev), &next);
        assert_eq!(us.len(), 1, "{us:?}");
        assert_eq!(us[0].audience, Audience::PrivateListening);
        assert_eq!(us[0].language, lang);
        assert_eq!(us[0].text, format!("{name}."), "{letter:?} in {lang:?}");
    }
}

#[test]
fn the_name_screen_asks_for_the_letters_and_reads_them_back_privately() {
    for lang in LANGS {
        let mut v = blank(Screen::EnterName, lang);
        v.name_letters = "ZEB".into();
        let (public, private) = whole(&v);
        assert!(public.contains(pick(
            lang,
            "Type the first 3 letters of your last name.",
            "Escriba las primeras 3 letras de su apellido."
        )));
        assert!(public.contains(pick(lang, "Find my appointment", "Buscar mi cita")));
        assert_eq!(private, pick(lang, "zee, ee, bee.", "zeta, e, be."));
    }
}

#[test]
fn each_name_problem_is_said_with_its_number() {
    for lang in LANGS {
        let prev = view(Screen::EnterName, lang);
        let mut next = prev.clone();
        next.name_problem = Some(NameProblem::TooShort);
        let (public, _) = check(&view_changes(Some(&prev), &next), lang);
        assert_eq!(
            public,
            pick(
                lang,
                "Please type at least 3 letters.",
                "Escriba al menos 3 letras."
            )
        );
        next.name_problem = Some(NameProblem::Wait);
        next.name_wait_seconds = 30;
        let (public, _) = check(&view_changes(Some(&prev), &next), lang);
        assert_eq!(
            public,
            pick(
                lang,
                "Please wait 30 seconds, then try again.",
                "Espere 30 segundos y vuelva a intentarlo."
            )
        );
        // The countdown ticking is not news.
        let mut later = next.clone();
        later.name_wait_seconds = 29;
        assert!(view_changes(Some(&next), &later).is_empty());
        later.name_wait_seconds = 1;
        let (public, _) = whole(&later);
        assert!(public.contains(pick(lang, "wait 1 second,", "Espere 1 segundo ")));
    }
}

#[test]
fn not_found_reads_the_masked_lookup_privately() {
    for lang in LANGS {
        let (public, private) = whole(&blank(Screen::NotFound, lang));
        assert!(public.contains(pick(
            lang,
            "We could not find your appointment.",
            "No encontramos su cita."
        )));
        assert!(public.contains(pick(lang, "Try again", "Intentar de nuevo")));
        assert_eq!(
            private,
            pick(
                lang,
                "Date of birth you typed: 0 7, 1 4, year ending in 6 2. Letters you typed: zee, ee, bee.",
                "Fecha de nacimiento que escribió: 0 7, 1 4, año terminado en 6 2. Letras que escribió: zeta, e, be."
            )
        );
    }
}

#[test]
fn choose_lists_the_appointments_privately() {
    let (public, private) = whole(&blank(Screen::Choose, Language::En));
    assert!(public.contains("Which appointment is yours?"));
    assert!(public.contains("None of these"));
    assert_eq!(
        private,
        "Option 1: 8:13 AM with Dr. Vantablack. Option 2: 3:29 PM with Dr. Okonkwo-Birch."
    );
    let (public, private) = whole(&blank(Screen::Choose, Language::Es));
    assert!(public.contains("¿Cuál es su cita?"));
    assert!(public.contains("Ninguna de estas"));
    assert_eq!(
        private,
        "Opción 1: 8:13 de la mañana con Dr. Vantablack. Opción 2: 3:29 de la tarde con Dr. Okonkwo-Birch."
    );
}

#[test]
fn each_refused_pass_says_why() {
    let cases = [
        (
            Some(PassProblem::Expired),
            "This check-in code has expired.",
            "Este código de registro ha vencido.",
        ),
        (
            Some(PassProblem::WrongClinic),
            "This check-in code is for a different clinic.",
            "Este código de registro es de otra clínica.",
        ),
        (
            Some(PassProblem::UnknownAppointment),
            "This check-in code is not for an appointment here today.",
            "Este código de registro no corresponde a una cita de hoy aquí.",
        ),
        (
            Some(PassProblem::Malformed),
            "This code could not be read as a check-in code.",
            "No se pudo leer este código como código de registro.",
        ),
        (
            Some(PassProblem::BadSignature),
            "This code could not be read as a check-in code.",
            "No se pudo leer este código como código de registro.",
        ),
    ];
    for lang in LANGS {
        for (problem, en, es) in cases {
            let mut v = blank(Screen::PassRejected, lang);
            v.pass_problem = problem;
            let (public, private) = whole(&v);
            assert!(public.contains(pick(
                lang,
                "We could not use that code.",
                "No pudimos usar ese código."
            )));
            assert!(public.contains(pick(lang, en, es)), "{public}");
            assert!(private.is_empty());
        }
    }
}

#[test]
fn the_desk_screen_says_why_and_whether_the_desk_knows() {
    let cases = [
        (
            Some(DeskReason::Rule(ReasonCode::TooEarly)),
            "You are early for your appointment.",
            "Llegó temprano a su cita.",
        ),
        (
            Some(DeskReason::Rule(ReasonCode::Late)),
            "Your appointment time has passed.",
            "La hora de su cita ya pasó.",
        ),
        (
            Some(DeskReason::Rule(ReasonCode::AppointmentCancelled)),
            "This appointment was cancelled.",
            "Esta cita fue cancelada.",
        ),
        (
            Some(DeskReason::Rule(ReasonCode::WrongLocation)),
            "Your appointment is at a different location.",
            "Su cita es en otro lugar.",
        ),
        (
            Some(DeskReason::Rule(ReasonCode::MinorPatient)),
            "The front desk will help you.",
            "La recepción le ayudará.",
        ),
        (
            Some(DeskReason::Fault),
            "The front desk will help you.",
            "La recepción le ayudará.",
        ),
    ];
    for lang in LANGS {
        for (reason, en, es) in cases {
            for online in [true, false] {
                let ctx = ScriptContext {
                    online,
                    ..ScriptContext::default()
                };
                let mut v = view(Screen::SeeDesk, lang);
                v.desk_reason = reason;
                let us = whole_screen_in(&ctx, &v);
                let (public, _) = check(&us, lang);
                assert!(public.contains(pick(
                    lang,
                    "Please see the front desk.",
                    "Por favor, pase a la recepción."
                )));
                assert!(public.contains(pick(lang, en, es)), "{public}");
                let told = public.contains(pick(
                    lang,
                    "The front desk has been told you are here.",
                    "La recepción sabe que usted está aquí.",
                ));
                let tell = public.contains(pick(
                    lang,
                    "Please tell the front desk you are here.",
                    "Por favor, avise a la recepción que llegó.",
                ));
                // Only a rule the desk was flagged for, online, is "told".
                let flagged =
                    matches!(reason, Some(DeskReason::Rule(c)) if c != ReasonCode::MinorPatient);
                assert_eq!(told, online && flagged, "{reason:?} online {online}");
                assert_eq!(tell, !told);
            }
        }
        let mut v = view(Screen::SeeDesk, lang);
        v.desk_reason = Some(DeskReason::Rule(ReasonCode::AlreadyCheckedIn));
        let (public, _) = whole(&v);
        assert!(public.contains(pick(
            lang,
            "You are already checked in.",
            "Ya está registrado."
        )));
        assert!(!public.contains(pick(
            lang,
            "Please see the front desk",
            "pase a la recepción"
        )));
    }
}

#[test]
fn demographics_are_read_privately_in_speakable_form() {
    let (public, private) = whole(&view(Screen::Demographics, Language::En));
    assert!(public.contains("Are your contact details correct?"));
    assert!(public.contains("This is correct"));
    assert!(private.contains("Zebulon Q., appointment at 10:47 AM with Dr. Quillfeather."));
    assert!(
        private.contains("Address: 4, double you, el, Pocatello, ID 8, 3."),
        "{private}"
    );
    assert!(private.contains("Phone: ending in 9 8 7 6."));
    assert!(private.contains("Email: zee, at cue, dot xyz."));
    assert!(private.contains("Emergency contact: Ysolde K., phone ending in 5 4 3 2."));
    assert!(!private.contains(MASK), "the mask mark is never read");
    let (public, private) = whole(&view(Screen::Demographics, Language::Es));
    assert!(public.contains("¿Son correctos sus datos de contacto?"));
    assert!(private.contains("Zebulon Q., cita a las 10:47 de la mañana con Dr. Quillfeather."));
    assert!(private.contains("Teléfono: terminado en 9 8 7 6."));
    assert!(private.contains("Correo electrónico: zeta, arroba cu, punto xyz."));
    assert!(private.contains("Contacto de emergencia: Ysolde K., teléfono terminado en 5 4 3 2."));
    let mut v = view(Screen::Demographics, Language::Es);
    v.demographics.email.clear();
    assert!(whole(&v).1.contains("Correo electrónico: No registrado."));
}

#[test]
fn the_demographics_form_says_the_field_and_keeps_what_was_typed_private() {
    for lang in LANGS {
        let v = view(Screen::EditDemographics, lang);
        let (public, private) = whole(&v);
        assert!(public.contains(pick(lang, "What has changed?", "¿Qué ha cambiado?")));
        assert!(public.contains(pick(lang, "Street, text field:", "Calle, campo de texto:")));
        assert!(public.contains(pick(lang, "Save changes", "Guardar cambios")));
        assert!(
            !public.contains(pick(lang, "Step 2", "Paso 2")),
            "the form hides the step"
        );
        assert_eq!(private, "MAPLEWOOD 9.");
        // Moving to another field says it, empty.
        let mut next = v.clone();
        next.edit_demographics.active = DemographicsField::ContactPhone;
        let (public, private) = check(&view_changes(Some(&v), &next), lang);
        assert_eq!(
            public,
            pick(
                lang,
                "Contact's phone, text field, empty.",
                "Teléfono del contacto, campo de texto, vacío."
            )
        );
        assert!(private.is_empty());
        // A letter typed into it.
        let mut typed = next.clone();
        typed.edit_demographics.fields[DemographicsField::ContactPhone] = "5".into();
        let us = view_changes(Some(&next), &typed);
        assert_eq!(us.len(), 1);
        assert_eq!(us[0].audience, Audience::PrivateListening);
        assert_eq!(us[0].text, "5.");
    }
}

#[test]
fn each_edit_problem_is_said_in_both_languages() {
    let problems = [
        EditProblem::NothingTyped,
        EditProblem::NeedStreetOrPhone,
        EditProblem::MissingPayer,
        EditProblem::MissingMemberId,
        EditProblem::Required(Field::ContactName),
        EditProblem::Required(Field::ContactPhone),
        EditProblem::Required(Field::City),
    ];
    let invalid = [
        Field::AddressLine1,
        Field::AddressLine2,
        Field::City,
        Field::State,
        Field::PostalCode,
        Field::Phone,
        Field::Email,
        Field::ContactName,
        Field::ContactPhone,
        Field::ContactRelation,
        Field::Payer,
        Field::MemberId,
        Field::Group,
        Field::Note,
    ];
    let all: Vec<EditProblem> = problems
        .into_iter()
        .chain(invalid.into_iter().map(EditProblem::Invalid))
        .collect();
    for lang in LANGS {
        let mut said = std::collections::HashSet::new();
        for problem in &all {
            for screen in [Screen::EditDemographics, Screen::EditInsurance] {
                let prev = view(screen, lang);
                let mut next = prev.clone();
                next.edit_demographics.problem = Some(*problem);
                next.edit_insurance.problem = Some(*problem);
                let us = view_changes(Some(&prev), &next);
                assert_eq!(us.len(), 1, "{problem:?}: {us:?}");
                let (public, _) = check(&us, lang);
                assert!(public.starts_with(pick(lang, "Please", "")), "{public}");
                assert!(
                    !public.contains(" / ") && !public.contains(" # "),
                    "{public}"
                );
                said.insert(public);
            }
        }
        // Required(City) falls back to "nothing typed", Invalid(Note) to
        // "check what you typed": every other problem has its own words.
        assert_eq!(said.len(), all.len() - 1, "{said:?}");
        let es_nothing = "Escriba al menos un dato nuevo, o vuelva atrás.";
        assert_eq!(lang == Language::Es, said.contains(es_nothing));
    }
}

#[test]
fn insurance_reads_the_coverage_privately_and_the_choices_publicly() {
    for lang in LANGS {
        let v = view(Screen::Insurance, lang);
        let (public, private) = whole(&v);
        assert!(public.contains(pick(
            lang,
            "Is your insurance still the same?",
            "¿Su seguro sigue siendo el mismo?"
        )));
        assert!(public.contains(pick(lang, "Still correct", "Sigue igual")));
        assert!(private.contains(pick(
            lang,
            "Insurance company: Kestrel Mutual. Plan: Plan Aurora. Member ID: ending in 7, 5, 3, 1.",
            "Compañía de seguros: Kestrel Mutual. Plan: Plan Aurora. Número de afiliado: terminado en 7, 5, 3, 1."
        )), "{private}");
        let mut expired = v.clone();
        expired.insurance.expired = true;
        let (_, private) = whole(&expired);
        assert!(private.contains(pick(
            lang,
            "this coverage is not active today",
            "esta cobertura no está activa hoy"
        )));
        let mut none = v.clone();
        none.insurance = InsuranceView::default();
        let (public, private) = whole(&none);
        assert!(public.contains(pick(
            lang,
            "Do you have insurance?",
            "¿Tiene seguro médico?"
        )));
        assert!(public.contains(pick(lang, "Add my insurance", "Agregar mi seguro")));
        assert!(private.contains(pick(
            lang,
            "We do not have insurance on file for you.",
            "No tenemos un seguro registrado para usted."
        )));
        // "I have no insurance" asks again, as a page of its own.
        let mut confirm = v.clone();
        confirm.insurance.confirm_no_insurance = true;
        let (public, _) = check(&view_changes(Some(&v), &confirm), lang);
        assert!(public.contains(pick(
            lang,
            "Continue without insurance?",
            "¿Continuar sin seguro?"
        )));
        assert!(public.contains(pick(
            lang,
            "Yes, I have no insurance",
            "Sí, no tengo seguro"
        )));
        // Going back to the coverage says it again.
        let (_, private) = check(&view_changes(Some(&confirm), &v), lang);
        assert!(private.contains("Kestrel Mutual"));
    }
}

#[test]
fn the_insurance_form_says_its_fields() {
    for lang in LANGS {
        let v = view(Screen::EditInsurance, lang);
        let (public, private) = whole(&v);
        assert!(public.contains(pick(lang, "Your new insurance.", "Su seguro nuevo.")));
        assert!(public.contains(pick(
            lang,
            "Insurance company, text field:",
            "Compañía de seguros, campo de texto:"
        )));
        assert!(public.contains(pick(lang, "Save insurance", "Guardar seguro")));
        assert_eq!(private, "HERONCARE.");
        let mut next = v.clone();
        next.edit_insurance.active = InsuranceField::Group;
        let (public, _) = check(&view_changes(Some(&v), &next), lang);
        assert_eq!(
            public,
            pick(
                lang,
                "Group, optional, text field, empty.",
                "Grupo, opcional, campo de texto, vacío."
            )
        );
        let mut typed = v.clone();
        typed.edit_insurance.fields[InsuranceField::Payer].push('&');
        let us = view_changes(Some(&v), &typed);
        assert_eq!(us[0].text, "ampersand.");
        assert_eq!(us[0].audience, Audience::PrivateListening);
    }
}

#[test]
fn the_copay_amount_and_balance_are_private_and_the_choices_public() {
    let v = view(Screen::CoPay, Language::En);
    let (public, private) = whole(&v);
    assert!(public.contains("Your co-pay today."));
    assert!(public.contains(
        "How would you like to pay? Choose Pay at the front desk, Pay on my phone, or Bill me later."
    ));
    assert!(private.contains("Amount due: 83 dollars and 19 cents."));
    assert!(
        private.contains("You also have a balance of 12 dollars and 40 cents from earlier visits.")
    );
    let v = view(Screen::CoPay, Language::Es);
    let (public, private) = whole(&v);
    assert!(public.contains("Su copago de hoy."));
    assert!(
        public
            .contains("Elija Pagar en la recepción, Pagar con mi teléfono o Envíenme la factura.")
    );
    assert!(private.contains("Importe a pagar: 83 dólares con 19 centavos."));
    assert!(private.contains("También tiene un saldo de 12 dólares con 40 centavos"));
    for lang in LANGS {
        let mut v = view(Screen::CoPay, lang);
        v.copay = CoPayView {
            self_pay: true,
            ..CoPayView::default()
        };
        let (public, private) = whole(&v);
        assert!(public.contains(pick(
            lang,
            "Paying for your visit yourself. Without insurance, this visit is self-pay.",
            "Usted paga su consulta. Sin seguro, usted paga esta consulta por su cuenta."
        )));
        assert!(public.contains(pick(
            lang,
            "The front desk will tell you the amount.",
            "La recepción le dirá el importe."
        )));
        assert!(public.contains(pick(
            lang,
            "Choose Pay at the front desk.",
            "Elija Pagar en la recepción."
        )));
        assert!(!private.contains(pick(lang, "Amount", "Importe")));
    }
}

#[test]
fn pay_on_phone_keeps_the_amount_and_reference_private() {
    for lang in LANGS {
        let (public, private) = whole(&view(Screen::PayPhone, lang));
        assert!(public.contains(pick(lang, "Scan the code", "Escanee con su teléfono")));
        assert!(public.contains(pick(lang, "I've paid", "Ya pagué")));
        assert_eq!(
            private.strip_prefix(pick(
                lang,
                "Zebulon Q., appointment at 10:47 AM with Dr. Quillfeather. ",
                "Zebulon Q., cita a las 10:47 de la mañana con Dr. Quillfeather. "
            )),
            Some(pick(
                lang,
                "Amount: 83 dollars and 19 cents. Reference: cue, ex, 9, zee, 7.",
                "Importe: 83 dólares con 19 centavos. Referencia: cu, equis, 9, zeta, 7."
            ))
        );
        assert!(!private.contains("https"), "the link is never read");
    }
}

#[test]
fn done_says_the_result_for_each_payment_choice() {
    type Case = (
        Option<CoPayChoice>,
        &'static str,
        (&'static str, &'static str),
        (&'static str, &'static str),
    );
    let cases: [Case; 6] = [
        (
            None,
            "",
            ("", ""),
            ("We will call you soon.", "Le llamaremos pronto."),
        ),
        (
            Some(CoPayChoice::FrontDesk),
            "$83.19",
            (
                "You chose to pay 83 dollars and 19 cents at the front desk.",
                "Eligió pagar 83 dólares con 19 centavos en la recepción.",
            ),
            (
                "The front desk will call you to pay",
                "La recepción le llamará para pagar",
            ),
        ),
        (
            Some(CoPayChoice::FrontDesk),
            "",
            (
                "You chose to pay at the front desk. They will tell you the amount.",
                "Eligió pagar en la recepción. Allí le dirán el importe.",
            ),
            (
                "The front desk will call you to pay",
                "La recepción le llamará para pagar",
            ),
        ),
        (
            Some(CoPayChoice::Phone),
            "$83.19",
            (
                "You chose to pay 83 dollars and 19 cents on your phone.",
                "Eligió pagar 83 dólares con 19 centavos en su teléfono.",
            ),
            ("We will call you soon.", "Le llamaremos pronto."),
        ),
        (
            Some(CoPayChoice::Phone),
            "",
            (
                "You chose to pay on your phone.",
                "Eligió pagar en su teléfono.",
            ),
            ("We will call you soon.", "Le llamaremos pronto."),
        ),
        (
            Some(CoPayChoice::BillLater),
            "",
            (
                "You chose to get a bill later. It will come by mail or email.",
                "Eligió recibir una factura más tarde. Le llegará por correo postal o electrónico.",
            ),
            ("We will call you soon.", "Le llamaremos pronto."),
        ),
    ];
    for lang in LANGS {
        for (choice, amount, (en, es), (next_en, next_es)) in cases {
            let mut v = view(Screen::Done, lang);
            v.done = DoneView {
                choice,
                amount: amount.into(),
                self_pay: false,
            };
            let (public, private) = whole(&v);
            assert!(public.contains(pick(lang, "You're checked in.", "Ya está registrado.")));
            let result = pick(lang, en, es);
            if amount.is_empty() {
                assert!(public.contains(result), "{public}");
            } else {
                assert!(private.contains(result), "{private}");
            }
            assert!(public.contains(pick(lang, next_en, next_es)), "{public}");
            // How the screen ends, once, without the changing seconds.
            assert!(
                public.ends_with(pick(
                    lang,
                    "When you are ready, choose Finish. The screen also starts over by itself for the next patient.",
                    "Cuando esté listo, elija Terminar. La pantalla también vuelve al inicio sola para el siguiente paciente.",
                )),
                "{public}"
            );
            assert!(!public.contains("seconds") && !public.contains("segundos"));
        }
    }
}

#[test]
fn help_says_who_comes_online_and_where_to_go_offline() {
    for lang in LANGS {
        for (online, can_resume) in [(true, true), (true, false), (false, true), (false, false)] {
            let ctx = ScriptContext {
                online,
                ..ScriptContext::default()
            };
            let mut v = view(Screen::Help, lang);
            v.help_can_resume = can_resume;
            v.notice = Some(ReasonCode::Late);
            let (public, _) = check(&whole_screen_in(&ctx, &v), lang);
            let coming = pick(
                lang,
                "Someone from the front desk is coming.",
                "Alguien de la recepción viene a ayudarle.",
            );
            let go = pick(
                lang,
                "This kiosk cannot reach the front desk right now.",
                "Este quiosco no puede avisar a la recepción ahora.",
            );
            assert_eq!(public.contains(coming), online);
            assert_eq!(public.contains(go), !online);
            assert_eq!(
                public.contains(pick(lang, "Continue check-in", "Continuar el registro")),
                can_resume
            );
            assert_eq!(
                public.contains(pick(lang, "Start over", "Empezar de nuevo")),
                !can_resume
            );
            assert!(
                !public.contains(pick(lang, "late", "tarde")),
                "help hides the notice"
            );
        }
    }
}

#[test]
fn each_notice_is_said_when_it_appears_with_offline_wording_offline() {
    let cases = [
        (
            ReasonCode::Late,
            "You are late for your appointment.",
            "Llegó tarde a su cita.",
        ),
        (ReasonCode::TooEarly, "You are early.", "Llegó temprano."),
        (
            ReasonCode::WrongLocation,
            "Your appointment is at another location.",
            "Su cita es en otro lugar.",
        ),
    ];
    for lang in LANGS {
        for (code, en, es) in cases {
            for online in [true, false] {
                let ctx = ScriptContext {
                    online,
                    ..ScriptContext::default()
                };
                let prev = blank(Screen::EnterName, lang);
                let mut next = view(Screen::Demographics, lang);
                next.notice = Some(code);
                let us = view_changes_in(&ctx, Some(&prev), &next);
                let (public, private) = check(&us, lang);
                assert!(public.contains(pick(lang, en, es)), "{public}");
                let told = pick(
                    lang,
                    "The front desk has been told.",
                    "Ya avisamos a la recepción.",
                );
                let tell = pick(
                    lang,
                    "Please tell the front desk.",
                    "Por favor, avise a la recepción.",
                );
                assert_eq!(public.contains(told), online);
                assert_eq!(public.contains(tell), !online);
                // The match comes with it: the banner, privately.
                assert!(private.starts_with("Zebulon Q.,"), "{private}");
                // The next screen does not say the notice or banner again;
                // Repeat does.
                let mut after = next.clone();
                after.screen = Screen::Insurance;
                let (public, private) = check(&view_changes_in(&ctx, Some(&next), &after), lang);
                assert!(!public.contains(pick(lang, en, es)));
                assert!(!private.contains("Zebulon"));
                let (public, private) = check(&whole_screen_in(&ctx, &after), lang);
                assert!(public.contains(pick(lang, en, es)));
                assert!(private.contains("Zebulon"));
            }
        }
    }
}

#[test]
fn the_identity_banner_is_private_and_said_naturally() {
    let mut v = view(Screen::Insurance, Language::Es);
    let us = whole_screen(&v);
    let banner = us
        .iter()
        .find(|u| u.text.contains("Zebulon"))
        .expect("the banner is said");
    assert_eq!(banner.audience, Audience::PrivateListening);
    assert_eq!(
        banner.text,
        "Zebulon Q., cita a las 10:47 de la mañana con Dr. Quillfeather."
    );
    if let Some(id) = v.identity.as_mut() {
        id.time = "1:05 p. m.".into();
    }
    let (_, private) = whole(&v);
    assert!(private.contains("cita a la 1:05 de la tarde"), "{private}");
    if let Some(id) = v.identity.as_mut() {
        id.time = "9:40 p. m.".into();
    }
    assert!(whole(&v).1.contains("a las 9:40 de la noche"));
    assert_eq!(
        whole(&view(Screen::CoPay, Language::En))
            .0
            .split(' ')
            .next(),
        Some("Step"),
        "the step comes first"
    );
}

#[test]
fn a_language_switch_says_the_whole_screen_again_in_the_new_language() {
    let en = view(Screen::Demographics, Language::En);
    let mut es = en.clone();
    es.language = Language::Es;
    let us = view_changes(Some(&en), &es);
    let (public, private) = check(&us, Language::Es);
    assert!(public.contains("Paso 2 de 4."));
    assert!(public.contains("¿Son correctos sus datos de contacto?"));
    assert!(private.contains("Zebulon"));
}

#[test]
fn an_unchanged_view_says_nothing() {
    for lang in LANGS {
        for screen in ALL_SCREENS {
            let v = view(screen, lang);
            assert!(view_changes(Some(&v), &v).is_empty(), "{screen:?}");
        }
        // The idle warning is the clock's to say, with its countdown.
        let v = view(Screen::CoPay, lang);
        let mut idle = v.clone();
        idle.idle_warning = true;
        assert!(view_changes(Some(&v), &idle).is_empty());
    }
}

#[test]
fn the_idle_warning_says_the_seconds_left() {
    let u = idle_warning(20, Language::En);
    assert_eq!(u.audience, Audience::Anyone);
    assert_eq!(u.language, Language::En);
    assert!(u.text.starts_with("Are you still there?"));
    assert!(u.text.contains("start over in 20 seconds."));
    assert!(u.text.contains("Press any key"));
    let u = idle_warning(1, Language::Es);
    assert_eq!(u.language, Language::Es);
    assert!(u.text.starts_with("¿Sigue ahí?"));
    assert!(
        u.text.contains("volverá al inicio en 1 segundo."),
        "{}",
        u.text
    );
    assert!(u.text.contains("Pulse cualquier tecla"));
}

#[test]
fn speech_mode_explains_the_keys() {
    let u = speech_mode_started(Language::En);
    assert_eq!(u.audience, Audience::Anyone);
    for word in [
        "arrow keys",
        "Enter",
        "Back",
        "Help",
        "Repeat",
        "volume",
        "headphones",
    ] {
        assert!(u.text.contains(word), "{word}");
    }
    let u = speech_mode_started(Language::Es);
    assert_eq!(u.language, Language::Es);
    for word in [
        "flechas",
        "Intro",
        "Atrás",
        "Ayuda",
        "Repetir",
        "volumen",
        "auriculares",
    ] {
        assert!(u.text.contains(word), "{word}");
    }
}

#[test]
fn a_focused_control_says_its_label_role_and_state() {
    let control = |label: &str, role, state, phi| FocusedControl {
        label: label.into(),
        role,
        state,
        carries_patient_data: phi,
    };
    let cases = [
        (
            control("Next", ControlRole::Button, ControlState::Enabled, false),
            Language::En,
            "Next, button.",
        ),
        (
            control(
                "Siguiente",
                ControlRole::Button,
                ControlState::Disabled,
                false,
            ),
            Language::Es,
            "Siguiente, botón, no disponible.",
        ),
        (
            control("Back", ControlRole::Button, ControlState::Disabled, false),
            Language::En,
            "Back, button, unavailable.",
        ),
        (
            control(
                "Street",
                ControlRole::TextField,
                ControlState::Selected,
                false,
            ),
            Language::En,
            "Street, text field, selected.",
        ),
        (
            control(
                "Calle",
                ControlRole::TextField,
                ControlState::Selected,
                false,
            ),
            Language::Es,
            "Calle, campo de texto, seleccionado.",
        ),
        (
            control(
                "Larger text",
                ControlRole::Toggle,
                ControlState::Selected,
                false,
            ),
            Language::En,
            "Larger text, switch, on.",
        ),
        (
            control(
                "Larger text",
                ControlRole::Toggle,
                ControlState::Enabled,
                false,
            ),
            Language::En,
            "Larger text, switch, off.",
        ),
        (
            control(
                "Letra más grande",
                ControlRole::Toggle,
                ControlState::Selected,
                false,
            ),
            Language::Es,
            "Letra más grande, interruptor, activado.",
        ),
        (
            control(
                "Letra más grande",
                ControlRole::Toggle,
                ControlState::Enabled,
                false,
            ),
            Language::Es,
            "Letra más grande, interruptor, desactivado.",
        ),
    ];
    for (c, lang, text) in cases {
        assert_eq!(
            focused(&c, lang),
            [Utterance::prompt(text, lang)],
            "{c:?} is said to anyone"
        );
    }
    let choice = control(
        "8:13 AM with Dr. Vantablack",
        ControlRole::Button,
        ControlState::Enabled,
        true,
    );
    assert_eq!(
        focused(&choice, Language::En),
        [Utterance::private(
            "8:13 AM with Dr. Vantablack, button.",
            Language::En
        )]
    );
    // An unlabelled control still says what it is.
    let said = focused(
        &control("  ", ControlRole::Button, ControlState::Enabled, false),
        Language::Es,
    );
    assert_eq!(said, [Utterance::prompt("botón.", Language::Es)]);
}

/// What a loudspeaker plays of `said`, and what headphones play.
fn heard_on(said: &[Utterance]) -> (Vec<&str>, Vec<&str>) {
    let on = |route: Route| -> Vec<&str> {
        said.iter()
            .filter(|u| route.allows(u.audience))
            .map(|u| u.text.as_str())
            .collect()
    };
    (on(Route::Loudspeaker), on(Route::Private))
}

#[test]
fn keys_are_said_only_in_private_and_a_loudspeaker_says_how_to_hear_them() {
    let key = |label: &str, state| FocusedControl {
        label: label.into(),
        role: ControlRole::Key,
        state,
        carries_patient_data: false,
    };
    let en_hint = "To hear the keys, plug headphones into the jack, or ask at the front desk.";
    let es_hint = "Para escuchar las teclas, conecte unos auriculares en la entrada para \
                   auriculares, o pregunte en la recepción.";
    let cases = [
        (
            key("7", ControlState::Enabled),
            Language::En,
            "7, key.",
            en_hint,
        ),
        (
            key("Delete", ControlState::Enabled),
            Language::En,
            "Delete, key.",
            en_hint,
        ),
        (
            key("B", ControlState::Enabled),
            Language::Es,
            "be, tecla.",
            es_hint,
        ),
        (
            key("Ñ", ControlState::Enabled),
            Language::Es,
            "eñe, tecla.",
            es_hint,
        ),
        (
            key("A", ControlState::Selected),
            Language::Es,
            "a, tecla, seleccionada.",
            es_hint,
        ),
    ];
    for (c, lang, private, hint) in cases {
        let said = focused(&c, lang);
        assert!(said.iter().all(|u| u.language == lang), "{said:?}");
        let (loudspeaker, headphones) = heard_on(&said);
        assert_eq!(loudspeaker, [hint], "{c:?}: the key is not said aloud");
        assert_eq!(headphones, [private], "{c:?}: said as before, no hint");
        assert_eq!(said.last(), Some(&keys_are_private(lang)));
    }
}

#[test]
fn whether_an_answer_is_chosen_is_said_only_in_private() {
    let answer = |label: &str, state| FocusedControl {
        label: label.into(),
        role: ControlRole::Answer,
        state,
        carries_patient_data: false,
    };
    for (lang, label, button, selected) in [
        (
            Language::En,
            "Several days",
            "Several days, button.",
            "Selected.",
        ),
        (
            Language::Es,
            "Varios días",
            "Varios días, botón.",
            "Seleccionado.",
        ),
    ] {
        let chosen = focused(&answer(label, ControlState::Selected), lang);
        let other = focused(&answer(label, ControlState::Enabled), lang);
        let (loud_chosen, private_chosen) = heard_on(&chosen);
        let (loud_other, private_other) = heard_on(&other);
        // A loudspeaker says the answer the same whether it is chosen or
        // not: the lobby cannot tell the patient's answer.
        assert_eq!(loud_chosen, [button]);
        assert_eq!(loud_other, loud_chosen);
        assert_eq!(private_chosen, [button, selected]);
        assert_eq!(private_other, [button]);
        assert!(
            chosen
                .iter()
                .filter(|u| u.text.contains(selected))
                .all(|u| u.audience == Audience::PrivateListening),
            "{chosen:?}"
        );
    }
}

#[test]
fn amounts_times_and_masks_are_spoken_as_words() {
    let en = Language::En;
    let es = Language::Es;
    assert_eq!(spoken_amount("$25.00", en), "25 dollars");
    assert_eq!(spoken_amount("$1.00", en), "1 dollar");
    assert_eq!(spoken_amount("$1.00", es), "1 dólar");
    assert_eq!(spoken_amount("$1,234.05", en), "1234 dollars and 5 cents");
    assert_eq!(spoken_amount("$1,234.01", es), "1234 dólares con 1 centavo");
    assert_eq!(spoken_amount("-$3.50", en), "minus 3 dollars and 50 cents");
    assert_eq!(spoken_amount("€7.00", es), "7 euros");
    assert_eq!(spoken_amount("£2.00", es), "2 libras");
    assert_eq!(spoken_amount("1,234.00 CHF", en), "1234.00 CHF");
    assert_eq!(spoken_time("10:30 AM", en), "10:30 AM");
    assert_eq!(spoken_time("10:30 a. m.", es), "10:30 de la mañana");
    assert_eq!(spoken_time("12:15 p. m.", es), "12:15 de la tarde");
    assert_eq!(spoken_time("8:00 p. m.", es), "8:00 de la noche");
    assert_eq!(spoken_time("14:30", es), "14:30");
    assert_eq!(spoken_phone("•••-•••-0134", en), "ending in 0 1 3 4");
    assert_eq!(spoken_phone("", es), "oculto");
    assert_eq!(spoken_member_id("••••", en), "hidden");
    assert_eq!(spoken_member_id("••••AB12", es), "terminado en a, be, 1, 2");
    assert_eq!(
        spoken_masked_dob("05 / 17 / ••80", en),
        "0 5, 1 7, year ending in 8 0"
    );
    assert_eq!(spoken_dob_digits("051"), "0 5, 1");
    assert_eq!(spoken_dob_digits("05171"), "0 5, 1 7, 1");
    assert_eq!(spell("Ñu-Ö", es), "eñe, u, guion, o con diéresis");
    assert_eq!(char_name('Å', en), "eigh with ring");
    assert_eq!(char_name('Ã', es), "a con virgulilla");
    assert_eq!(char_name('ß', en), "ß", "an unknown character is itself");
}

#[test]
fn the_formats_the_kiosk_shows_are_the_ones_the_script_reads() {
    use crate::domain::{
        Address, Currency, Demographics, EmergencyContact, Money, mask_email, mask_member_id,
        mask_phone,
    };
    use crate::kiosk::controller::{format_clock, masked_dob};
    use chrono::NaiveTime;

    let (en, es) = (Language::En, Language::Es);
    let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
    assert_eq!(
        spoken_time(&format_clock(at(10, 30), es, false), es),
        "10:30 de la mañana"
    );
    let one_pm = format_clock(at(13, 5), es, false);
    assert_eq!(spoken_time(&one_pm, es), "1:05 de la tarde");
    assert_eq!(at_the_hour(&one_pm), "a la");
    assert_eq!(at_the_hour(&format_clock(at(15, 0), es, false)), "a las");
    assert_eq!(
        spoken_time(&format_clock(at(21, 15), es, false), es),
        "9:15 de la noche"
    );
    assert_eq!(
        spoken_masked_dob(&masked_dob("05171980"), en),
        "0 5, 1 7, year ending in 8 0"
    );
    let money = |cents| Money::new(cents, Currency::USD).to_string();
    assert_eq!(spoken_amount(&money(2550), en), "25 dollars and 50 cents");
    assert_eq!(spoken_amount(&money(123_400), es), "1234 dólares");
    assert_eq!(
        spoken_phone(&mask_phone("(212) 555-0134"), en),
        "ending in 0 1 3 4"
    );
    assert_eq!(
        spoken_member_id(&mask_member_id("XYZ-12345-6789"), es),
        "terminado en 6, 7, 8, 9"
    );
    assert_eq!(
        spoken_email(&mask_email("maria@example.com"), en),
        "em, at ee, dot com"
    );
    let masked = MaskedDemographics::from_demographics(&Demographics {
        address: Address {
            line1: "742 Evergreen Terrace".into(),
            line2: "Apt 4".into(),
            city: "Springfield".into(),
            region: "OR".into(),
            postal_code: "97403".into(),
        },
        phone: "212-555-0134".into(),
        email: "maria@example.com".into(),
        emergency_contact: Some(EmergencyContact {
            name: "Alex Doe".into(),
            relation: "Brother".into(),
            phone: "212 555 0199".into(),
        }),
    });
    assert_eq!(
        spoken_masked(&masked.address, en),
        "7, ee, tee, eigh, 4, Springfield, OR 9, 7"
    );
    assert_eq!(
        spoken_contact(&masked.emergency_contact, es),
        "Alex D., teléfono terminado en 0 1 9 9"
    );
    for text in [&masked.address, &masked.phone, &masked.email] {
        assert!(!spoken_masked(text, en).contains(MASK));
    }
}

// ---------------------------------------------------------------------------
// Intake form pages.

mod form_pages {
    use super::*;
    use crate::kiosk::view::{FormItemKind, FormProblem};

    /// A PHQ-2 question page, with answer 1 chosen.
    fn question(language: Language) -> ViewModel {
        let mut v = blank(Screen::Form, language);
        let es = language == Language::Es;
        v.form = FormView {
            form_title: "PHQ-2".into(),
            kind: FormItemKind::Choice,
            text: pick(language, "Feeling down?", "¿Se ha sentido decaído?").into(),
            options: if es {
                vec!["Para nada".into(), "Varios días".into()]
            } else {
                vec!["Not at all".into(), "Several days".into()]
            },
            selected: Some(1),
            required: true,
            position: 3,
            count: 11,
            ..FormView::default()
        };
        v
    }

    fn say(us: &[Utterance], language: Language) -> (String, String) {
        check(us, language)
    }

    #[test]
    fn a_question_page_says_form_position_question_and_options_aloud() {
        for lang in LANGS {
            let v = question(lang);
            let (public, private) = whole(&v);
            assert!(public.contains("PHQ-2."), "{public}");
            assert!(
                public.contains(pick(lang, "Page 3 of 11.", "Página 3 de 11.")),
                "{public}"
            );
            assert!(public.contains(&v.form.text), "{public}");
            assert!(public.contains(&v.form.options[0]), "{public}");
            assert!(
                public.contains(pick(lang, "Choose one:", "Elija una:")),
                "{public}"
            );
            // The answer is PHI: only in private.
            let answer = pick(
                lang,
                "Your answer: Several days.",
                "Su respuesta: Varios días.",
            );
            assert!(private.contains(answer), "{private}");
            assert!(!public.contains(pick(lang, "Your answer", "Su respuesta")));
        }
    }

    #[test]
    fn choosing_or_typing_an_answer_is_said_only_in_private() {
        for lang in LANGS {
            let mut prev = question(lang);
            prev.form.selected = None;
            let next = question(lang);
            let (public, private) = say(&view_changes(Some(&prev), &next), lang);
            assert_eq!(public, "");
            assert!(private.contains(&next.form.options[1]), "{private}");

            let mut prev = blank(Screen::Form, lang);
            prev.form.kind = FormItemKind::Integer;
            prev.form.position = 1;
            let mut next = prev.clone();
            next.form.typed = "7".into();
            let (public, private) = say(&view_changes(Some(&prev), &next), lang);
            assert_eq!((public.as_str(), private.as_str()), ("", "7."));
        }
    }

    #[test]
    fn a_new_page_is_said_whole_and_a_problem_is_said_when_it_appears() {
        for lang in LANGS {
            let prev = question(lang);
            let mut next = question(lang);
            next.form.position = 4;
            next.form.selected = None;
            let (public, _) = say(&view_changes(Some(&prev), &next), lang);
            assert!(public.contains(pick(lang, "Page 4 of 11.", "Página 4 de 11.")));
            let mut refused = next.clone();
            refused.form.problem = Some(FormProblem::Required);
            let (public, _) = say(&view_changes(Some(&next), &refused), lang);
            assert_eq!(
                public,
                pick(
                    lang,
                    "Please answer this question to continue.",
                    "Por favor, responda esta pregunta para continuar."
                )
            );
        }
    }

    #[test]
    fn the_consent_says_what_to_do_next_at_each_step() {
        for lang in LANGS {
            let mut v = blank(Screen::Form, lang);
            v.form.kind = FormItemKind::Consent;
            v.form.text = "Consent text.".into();
            v.form.position = 1;
            v.form.count = 1;
            let (public, _) = whole(&v);
            assert!(public.contains("Consent text."));
            assert!(public.contains(pick(lang, "press I agree", "pulse Acepto")));
            let mut agreed = v.clone();
            agreed.form.agreed = true;
            let (public, _) = say(&view_changes(Some(&v), &agreed), lang);
            assert!(
                public.contains(pick(lang, "Now sign", "Ahora firme")),
                "{public}"
            );
            let mut signed = agreed.clone();
            signed.form.signed = true;
            let (public, _) = say(&view_changes(Some(&agreed), &signed), lang);
            assert!(
                public.contains(pick(lang, "and signed", "y firmó")),
                "{public}"
            );
            let (public, _) = say(&view_changes(Some(&signed), &agreed), lang);
            assert!(public.starts_with(pick(lang, "Signature cleared.", "Firma borrada.")));
        }
    }

    #[test]
    fn signing_by_typing_a_name_is_offered_and_the_name_is_spelled_only_in_private() {
        for lang in LANGS {
            let mut agreed = blank(Screen::Form, lang);
            agreed.form.kind = FormItemKind::Consent;
            agreed.form.text = "Consent text.".into();
            agreed.form.position = 1;
            agreed.form.count = 1;
            agreed.form.agreed = true;
            let (public, _) = whole(&agreed);
            let offer = pick(
                lang,
                "press Sign by typing my name",
                "pulse Escribir mi nombre",
            );
            assert!(public.contains(offer), "{public}");

            // The keyboard opens: how to sign, not the consent again.
            let mut typing = agreed.clone();
            typing.form.typing_name = true;
            let (public, private) = say(&view_changes(Some(&agreed), &typing), lang);
            assert!(
                public.contains(pick(
                    lang,
                    "type your full name",
                    "escriba su nombre completo"
                )),
                "{public}"
            );
            assert_eq!(private, "");
            let (public, _) = whole(&typing);
            assert!(!public.contains("Consent text."), "{public}");

            // Each letter typed is said by name, privately.
            let mut one = typing.clone();
            one.form.typed = "Ñ".into();
            let mut two = one.clone();
            two.form.typed = "ÑA".into();
            let a = char_name('A', lang);
            let (public, private) = say(&view_changes(Some(&one), &two), lang);
            assert_eq!(public, "");
            assert_eq!(private, format!("{a}."));
            let (public, private) = say(&view_changes(Some(&typing), &one), lang);
            assert_eq!(public, "");
            let enye = char_name('Ñ', lang);
            assert_eq!(private, format!("{enye}."));
            // Repeat spells the whole name, privately.
            let (public, private) = whole(&two);
            assert!(
                !public.contains("ÑA") && !public.contains(&enye),
                "{public}"
            );
            let spelled = match lang {
                Language::En => format!("Your name: {enye}, {a}."),
                Language::Es => format!("Su nombre: {enye}, {a}."),
            };
            assert!(private.contains(&spelled), "{private}");

            // A blank name: the keyboard's own problem.
            let mut blank_name = typing.clone();
            blank_name.form.problem = Some(FormProblem::NotSigned);
            let (public, _) = say(&view_changes(Some(&typing), &blank_name), lang);
            assert_eq!(
                public,
                pick(
                    lang,
                    "Please type your name to sign.",
                    "Por favor, escriba su nombre para firmar."
                )
            );
            // Back to the box, signed by the name.
            let mut signed = agreed.clone();
            signed.form.signed = true;
            let (public, _) = say(&view_changes(Some(&typing), &signed), lang);
            assert!(
                public.contains(pick(lang, "and signed", "y firmó")),
                "{public}"
            );
        }
    }

    #[test]
    fn the_thank_you_says_the_crisis_text_aloud_when_there_is_one() {
        for lang in LANGS {
            let mut v = blank(Screen::Form, lang);
            v.form.kind = FormItemKind::ThankYou;
            let (public, private) = whole(&v);
            assert!(public.starts_with(pick(lang, "Thank you.", "Gracias.")));
            assert_eq!(private, "");
            v.form.crisis_text = pick(lang, "Call 988 now.", "Llame al 988 ahora.").into();
            let (public, _) = whole(&v);
            assert!(public.contains(&v.form.crisis_text), "{public}");
        }
    }
}
