//! Tests of the check-in flow: every transition, help and idle from every
//! step, and the flow-level reason codes.

use super::*;
use crate::domain::money::Currency;
use crate::domain::testkit::{appointment, day};
use chrono::TimeZone;

fn settings() -> FlowSettings {
    FlowSettings::with_location(LocationId("main".into()))
}

fn maria() -> Appointment {
    appointment("a1", "Maria", "Garcia", (1980, 5, 17), 10, 0)
}

/// 09:55 local on the test day: five minutes before Maria's appointment.
fn now() -> DateTime<Utc> {
    crate::domain::testkit::TZ
        .with_ymd_and_hms(2026, 3, 2, 9, 55, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn dob() -> NaiveDate {
    NaiveDate::from_ymd_opt(1980, 5, 17).unwrap()
}

fn flags(events: &[DomainEvent]) -> Vec<ReasonCode> {
    events
        .iter()
        .filter_map(|e| match e {
            DomainEvent::Flag(f) => Some(f.code),
            _ => None,
        })
        .collect()
}

fn kinds(events: &[DomainEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            DomainEvent::Arrived { .. } => "arrived",
            DomainEvent::CheckedIn { .. } => "checked_in",
            DomainEvent::Flag(_) => "flag",
            DomainEvent::DemographicsConfirmed { .. } => "demographics_confirmed",
            DomainEvent::DemographicsProposed { .. } => "demographics_proposed",
            DomainEvent::CoverageProposed { .. } => "coverage_proposed",
            DomainEvent::CoPayChosen { .. } => "copay_chosen",
            DomainEvent::PhiShown { .. } => "phi_shown",
            DomainEvent::FormCompleted { .. } => "form_completed",
        })
        .collect()
}

fn ok(flow: &mut CheckInFlow, input: Input) -> Vec<DomainEvent> {
    flow.handle(input.clone(), now())
        .unwrap_or_else(|e| panic!("{input:?} on {:?}: {e}", flow.step()))
}

fn scanned(a: Appointment) -> CheckInFlow {
    let mut flow = CheckInFlow::new(settings());
    ok(&mut flow, Input::PassAccepted(Box::new(a)));
    flow
}

/// A flow brought to `target` by the shortest route from Welcome.
fn at_step(target: Step) -> CheckInFlow {
    let mut flow = CheckInFlow::new(settings());
    match target {
        Step::Welcome => {}
        Step::EnterDob => {
            ok(&mut flow, Input::UseDateOfBirth);
        }
        Step::EnterLastName => {
            ok(&mut flow, Input::UseDateOfBirth);
            ok(&mut flow, Input::DateOfBirth(dob()));
        }
        Step::NotFound => {
            ok(&mut flow, Input::UseDateOfBirth);
            ok(&mut flow, Input::DateOfBirth(dob()));
            ok(&mut flow, Input::LookupResult(vec![]));
        }
        Step::ChooseAppointment => {
            ok(&mut flow, Input::UseDateOfBirth);
            ok(&mut flow, Input::DateOfBirth(dob()));
            let twin = appointment("a2", "Marta", "Garcia", (1980, 5, 17), 10, 30);
            ok(&mut flow, Input::LookupResult(vec![maria(), twin]));
        }
        Step::PassRejected(p) => {
            ok(&mut flow, Input::PassRefused(p));
        }
        Step::SeeDesk(_) => {
            let mut a = maria();
            a.status = AppointmentStatus::Cancelled;
            ok(&mut flow, Input::PassAccepted(Box::new(a)));
        }
        Step::Demographics => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
        }
        Step::EditDemographics => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::UpdateDemographics);
        }
        Step::Insurance => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::DemographicsCorrect);
        }
        Step::EditInsurance => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::DemographicsCorrect);
            ok(&mut flow, Input::InsuranceChanged);
        }
        Step::CoPay => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::DemographicsCorrect);
            ok(&mut flow, Input::InsuranceStillCorrect);
        }
        Step::PayOnPhone => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::DemographicsCorrect);
            ok(&mut flow, Input::InsuranceStillCorrect);
            ok(&mut flow, Input::CoPay(CoPayChoice::Phone));
        }
        Step::Done => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            ok(&mut flow, Input::DemographicsCorrect);
            ok(&mut flow, Input::InsuranceStillCorrect);
            ok(&mut flow, Input::CoPay(CoPayChoice::FrontDesk));
        }
        Step::Help => {
            ok(&mut flow, Input::Help);
        }
        Step::Forms => {
            ok(&mut flow, Input::PassAccepted(Box::new(maria())));
            flow.set_forms(phq2_only());
            ok(&mut flow, Input::DemographicsCorrect);
            ok(&mut flow, Input::InsuranceStillCorrect);
            ok(&mut flow, Input::CoPay(CoPayChoice::FrontDesk));
        }
    }
    assert_eq!(flow.step(), target, "could not reach {target:?}");
    flow
}

/// A PHQ-2 due, and nothing else.
fn phq2_only() -> crate::domain::forms_session::FormSet {
    crate::domain::forms_session::FormSet {
        due: vec![crate::domain::testkit::screener(
            crate::domain::screening::Instrument::Phq2,
        )],
        ..Default::default()
    }
}

fn every_step() -> Vec<Step> {
    vec![
        Step::Welcome,
        Step::EnterDob,
        Step::EnterLastName,
        Step::NotFound,
        Step::ChooseAppointment,
        Step::PassRejected(PassProblem::Expired),
        Step::SeeDesk(ReasonCode::AppointmentCancelled),
        Step::Demographics,
        Step::EditDemographics,
        Step::Insurance,
        Step::EditInsurance,
        Step::CoPay,
        Step::PayOnPhone,
        Step::Done,
        Step::Help,
        Step::Forms,
    ]
}

#[test]
fn step_names_are_exactly_the_names_steps_give() {
    let names: Vec<&str> = every_step().iter().map(Step::as_str).collect();
    assert_eq!(names, Step::NAMES.to_vec());
    for name in Step::NAMES {
        assert!(
            Step::staff_label(name).is_some_and(|l| !l.is_empty()),
            "{name}"
        );
    }
    assert_eq!(Step::staff_label("teleported"), None);
}

#[test]
fn qr_happy_path_records_arrival_then_check_in() {
    let mut flow = CheckInFlow::new(settings());
    let ev = ok(&mut flow, Input::PassAccepted(Box::new(maria())));
    assert_eq!(kinds(&ev), vec!["phi_shown", "arrived", "phi_shown"]);
    assert_eq!(flow.step(), Step::Demographics);
    assert_eq!(flow.display_name().as_deref(), Some("Maria G."));
    let ev = ok(&mut flow, Input::DemographicsCorrect);
    assert_eq!(kinds(&ev), vec!["demographics_confirmed", "phi_shown"]);
    assert_eq!(flow.step(), Step::Insurance);
    let ev = ok(&mut flow, Input::InsuranceStillCorrect);
    assert_eq!(kinds(&ev), vec!["phi_shown"]);
    assert_eq!(flow.step(), Step::CoPay);
    let ev = ok(&mut flow, Input::CoPay(CoPayChoice::FrontDesk));
    assert_eq!(kinds(&ev), vec!["copay_chosen", "checked_in"]);
    assert_eq!(flow.step(), Step::Done);
    match &ev[0] {
        DomainEvent::CoPayChosen { amount, choice, .. } => {
            assert_eq!(amount.cents, 2500);
            assert_eq!(*choice, CoPayChoice::FrontDesk);
        }
        other => panic!("unexpected {other:?}"),
    }
    let ev = ok(&mut flow, Input::Finish);
    assert!(ev.is_empty(), "a finished check-in is not incomplete");
    assert_eq!(flow.step(), Step::Welcome);
    assert!(flow.appointment().is_none());
}

#[test]
fn qr_path_for_a_returning_patient_takes_four_taps_or_fewer() {
    let mut a = maria();
    a.patient.demographics_confirmed_at = None;
    let mut flow = scanned(a);
    // Each screen's "no changes" answer, until Done; every answer is one tap.
    let mut taps = 0;
    while flow.step() != Step::Done && taps < 10 {
        let answer = match flow.step() {
            Step::Demographics => Input::DemographicsCorrect,
            Step::Insurance => Input::InsuranceStillCorrect,
            Step::CoPay => Input::CoPay(CoPayChoice::FrontDesk),
            other => panic!("unexpected screen {other:?} for a returning patient"),
        };
        ok(&mut flow, answer);
        taps += 1;
    }
    assert_eq!(flow.step(), Step::Done);
    assert!(taps <= 4, "{taps} taps after the scan");
}

#[test]
fn dob_path_identifies_and_moves_on() {
    let mut flow = CheckInFlow::new(settings());
    ok(&mut flow, Input::UseDateOfBirth);
    assert_eq!(flow.step(), Step::EnterDob);
    ok(&mut flow, Input::DateOfBirth(dob()));
    assert_eq!(flow.step(), Step::EnterLastName);
    assert_eq!(flow.entered_dob(), Some(dob()));
    let ev = ok(&mut flow, Input::LookupResult(vec![maria()]));
    assert!(kinds(&ev).contains(&"arrived"));
    assert_eq!(flow.step(), Step::Demographics);
    assert_eq!(
        flow.entered_dob(),
        None,
        "the typed DOB is dropped after a match"
    );
}

#[test]
fn a_future_date_of_birth_is_refused() {
    let mut flow = at_step(Step::EnterDob);
    // The day after today in the easternmost zone, UTC+14.
    let tomorrow = (now() + Duration::hours(14))
        .date_naive()
        .succ_opt()
        .unwrap();
    assert_eq!(
        flow.handle(Input::DateOfBirth(tomorrow), now()),
        Err(FlowError::DobInFuture)
    );
    assert_eq!(flow.step(), Step::EnterDob);
}

#[test]
fn a_lookup_result_for_another_dob_is_refused() {
    let mut flow = at_step(Step::EnterLastName);
    let other = appointment("x", "Ana", "Garcia", (1981, 1, 1), 10, 0);
    assert_eq!(
        flow.handle(Input::LookupResult(vec![other]), now()),
        Err(FlowError::LookupMismatch)
    );
    assert_eq!(flow.step(), Step::EnterLastName);
}

#[test]
fn three_misses_raise_identity_not_found_and_call_for_help() {
    let mut flow = at_step(Step::EnterLastName);
    let ev = ok(&mut flow, Input::LookupResult(vec![]));
    assert!(ev.is_empty());
    assert_eq!(flow.step(), Step::NotFound);
    assert_eq!(flow.failed_lookups(), 1);
    ok(&mut flow, Input::UseDateOfBirth);
    ok(&mut flow, Input::DateOfBirth(dob()));
    let ev = ok(&mut flow, Input::LookupResult(vec![]));
    assert!(flags(&ev).is_empty(), "two misses are not yet a flag");
    ok(&mut flow, Input::UseDateOfBirth);
    ok(&mut flow, Input::DateOfBirth(dob()));
    let ev = ok(&mut flow, Input::LookupResult(vec![]));
    assert_eq!(flags(&ev), vec![ReasonCode::IdentityNotFound]);
    assert_eq!(flow.step(), Step::Help);
    // Dismissing help returns to Welcome, not to the failed lookup, and the
    // next patient starts with a clean count.
    ok(&mut flow, Input::Continue);
    assert_eq!(flow.step(), Step::Welcome);
    assert_eq!(flow.failed_lookups(), 0);
}

#[test]
fn the_miss_limit_comes_from_settings() {
    let mut s = settings();
    s.max_failed_lookups = 1;
    let mut flow = CheckInFlow::new(s);
    ok(&mut flow, Input::UseDateOfBirth);
    ok(&mut flow, Input::DateOfBirth(dob()));
    let ev = ok(&mut flow, Input::LookupResult(vec![]));
    assert_eq!(flags(&ev), vec![ReasonCode::IdentityNotFound]);
}

#[test]
fn several_matches_are_chosen_by_index_and_flagged() {
    let mut flow = at_step(Step::EnterLastName);
    let twin = appointment("a2", "Marta", "Garcia", (1980, 5, 17), 10, 30);
    let ev = ok(&mut flow, Input::LookupResult(vec![maria(), twin]));
    assert_eq!(flags(&ev), vec![ReasonCode::MultipleMatches]);
    assert_eq!(kinds(&ev).iter().filter(|k| **k == "phi_shown").count(), 2);
    assert!(
        !kinds(&ev).contains(&"arrived"),
        "nobody has arrived until they choose"
    );
    assert_eq!(flow.candidates().len(), 2);
    assert_eq!(
        flow.handle(Input::ChooseAppointment(2), now()),
        Err(FlowError::NoSuchChoice(2))
    );
    let ev = ok(&mut flow, Input::ChooseAppointment(1));
    assert!(kinds(&ev).contains(&"arrived"));
    assert_eq!(flow.appointment().unwrap().id.0, "a2");
    assert!(flow.candidates().is_empty());
    assert_eq!(flow.step(), Step::Demographics);
}

#[test]
fn a_refused_pass_raises_pass_invalid_and_offers_dob() {
    for problem in [
        PassProblem::Malformed,
        PassProblem::BadSignature,
        PassProblem::Expired,
        PassProblem::WrongClinic,
        PassProblem::UnknownAppointment,
    ] {
        let mut flow = CheckInFlow::new(settings());
        let ev = ok(&mut flow, Input::PassRefused(problem));
        assert_eq!(flags(&ev), vec![ReasonCode::PassInvalid]);
        assert_eq!(flow.step(), Step::PassRejected(problem));
        ok(&mut flow, Input::UseDateOfBirth);
        assert_eq!(flow.step(), Step::EnterDob);
    }
}

#[test]
fn a_scan_mid_identification_takes_over() {
    let mut flow = at_step(Step::EnterLastName);
    ok(&mut flow, Input::PassAccepted(Box::new(maria())));
    assert_eq!(flow.step(), Step::Demographics);
    // But a scan after identification is refused, and nothing changes.
    assert!(
        flow.handle(Input::PassAccepted(Box::new(maria())), now())
            .is_err()
    );
    assert_eq!(flow.step(), Step::Demographics);
}

#[test]
fn a_stopping_rule_sends_the_patient_to_the_desk_before_any_work() {
    let mut early = maria();
    early.start += Duration::hours(3);
    early.end += Duration::hours(3);
    let mut flow = CheckInFlow::new(settings());
    let ev = ok(&mut flow, Input::PassAccepted(Box::new(early)));
    assert_eq!(flags(&ev), vec![ReasonCode::TooEarly]);
    assert!(kinds(&ev).contains(&"arrived"), "an early patient is here");
    assert_eq!(flow.step(), Step::SeeDesk(ReasonCode::TooEarly));
    assert!(flow.handle(Input::DemographicsCorrect, now()).is_err());
    // Leaving the desk screen is not an abandoned check-in.
    let ev = ok(&mut flow, Input::Finish);
    assert!(ev.is_empty());
    assert_eq!(flow.step(), Step::Welcome);
}

#[test]
fn cancelled_wrong_location_and_already_checked_in_are_not_arrivals() {
    let mut cancelled = maria();
    cancelled.status = AppointmentStatus::Cancelled;
    let mut elsewhere = maria();
    elsewhere.location_id = LocationId("annex".into());
    let mut done = maria();
    done.status = AppointmentStatus::CheckedIn;
    for (a, code) in [
        (cancelled, ReasonCode::AppointmentCancelled),
        (elsewhere, ReasonCode::WrongLocation),
        (done, ReasonCode::AlreadyCheckedIn),
    ] {
        let mut flow = CheckInFlow::new(settings());
        let ev = ok(&mut flow, Input::PassAccepted(Box::new(a)));
        assert_eq!(flags(&ev), vec![code]);
        assert!(!kinds(&ev).contains(&"arrived"), "{code}");
        assert_eq!(flow.step(), Step::SeeDesk(code));
    }
}

#[test]
fn a_flagging_rule_carries_on_with_a_notice() {
    let mut late = maria();
    late.start -= Duration::minutes(40);
    late.end -= Duration::minutes(40);
    let mut flow = CheckInFlow::new(settings());
    let ev = ok(&mut flow, Input::PassAccepted(Box::new(late)));
    assert_eq!(flags(&ev), vec![ReasonCode::Late]);
    assert_eq!(flow.step(), Step::Demographics);
    assert_eq!(flow.notices(), &[ReasonCode::Late]);
}

#[test]
fn minor_and_balance_flags_ride_along_with_identification() {
    let mut a = appointment("k1", "Leo", "Ruiz", (2015, 6, 1), 10, 0);
    a.prior_balance = Money::new(4000, Currency::USD);
    let flow_events = ok(
        &mut CheckInFlow::new(settings()),
        Input::PassAccepted(Box::new(a)),
    );
    assert_eq!(
        flags(&flow_events),
        vec![ReasonCode::MinorPatient, ReasonCode::BalanceDue]
    );
}

#[test]
fn recently_confirmed_demographics_are_skipped() {
    let mut a = maria();
    a.patient.demographics_confirmed_at = Some(now() - Duration::days(7));
    let mut flow = scanned(a.clone());
    assert_eq!(flow.step(), Step::Insurance);
    assert!(!flow.demographics_shown());
    let ev = ok(&mut flow, Input::Back);
    assert_eq!(
        kinds(&ev),
        vec!["phi_shown"],
        "skipped details can still be changed"
    );
    assert_eq!(flow.step(), Step::Demographics);
    assert!(flow.demographics_shown());
    a.patient.demographics_confirmed_at = Some(now() - Duration::days(7) - Duration::seconds(1));
    let flow = scanned(a.clone());
    assert_eq!(flow.step(), Step::Demographics);
    let mut s = settings();
    s.demographics_skip_days = 0;
    a.patient.demographics_confirmed_at = Some(now() - Duration::hours(1));
    let mut flow = CheckInFlow::new(s);
    ok(&mut flow, Input::PassAccepted(Box::new(a)));
    assert_eq!(flow.step(), Step::Demographics);
}

#[test]
fn updating_demographics_proposes_and_flags() {
    let mut flow = at_step(Step::Demographics);
    ok(&mut flow, Input::UpdateDemographics);
    assert_eq!(flow.step(), Step::EditDemographics);
    assert_eq!(
        flow.handle(Input::SubmitDemographics(Demographics::default()), now()),
        Err(FlowError::Empty("the address and phone"))
    );
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::Demographics);
    ok(&mut flow, Input::UpdateDemographics);
    let mut proposed = maria().patient.demographics;
    proposed.phone = "541-555-0000".into();
    let ev = ok(&mut flow, Input::SubmitDemographics(proposed.clone()));
    assert_eq!(flags(&ev), vec![ReasonCode::DemographicsChanged]);
    assert!(ev.iter().any(|e| matches!(e,
        DomainEvent::DemographicsProposed { proposed: p, .. } if *p == proposed)));
    assert_eq!(flow.step(), Step::Insurance);
    // The record on file is not changed by a proposal.
    assert_eq!(
        flow.appointment().unwrap().patient.demographics.phone,
        "541-555-0134"
    );
}

#[test]
fn typed_demographics_that_break_a_field_rule_are_refused() {
    use crate::domain::{Field, FieldError};
    let mut flow = at_step(Step::EditDemographics);
    let mut bad = maria().patient.demographics;
    bad.phone = "AIJ28".into();
    assert_eq!(
        flow.handle(Input::SubmitDemographics(bad), now()),
        Err(FlowError::Field(FieldError::Phone(Field::Phone)))
    );
    let mut bad = maria().patient.demographics;
    bad.email = "AB".into();
    assert_eq!(
        flow.handle(Input::SubmitDemographics(bad), now()),
        Err(FlowError::Field(FieldError::Email))
    );
    // Refused inputs leave the patient where they were.
    assert_eq!(flow.step(), Step::EditDemographics);
    let mut bad = CoverageUpdate {
        payer: "Aetna".into(),
        member_id: "W1".into(),
        group: String::new(),
    };
    let mut flow = at_step(Step::EditInsurance);
    assert!(matches!(
        flow.handle(Input::SubmitCoverage(bad.clone()), now()),
        Err(FlowError::Field(FieldError::TooShort { .. }))
    ));
    bad.member_id = "W1234/5".into();
    assert!(matches!(
        flow.handle(Input::SubmitCoverage(bad), now()),
        Err(FlowError::Field(FieldError::BadCharacter { .. }))
    ));
    assert_eq!(flow.step(), Step::EditInsurance);
}

#[test]
fn a_birth_today_in_a_zone_ahead_of_utc_is_not_the_future() {
    // 11:00 UTC on 2 March is already 3 March in Auckland (UTC+13).
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0).unwrap();
    let mut flow = CheckInFlow::new(settings());
    flow.handle(Input::UseDateOfBirth, at).unwrap();
    let march = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    assert_eq!(
        flow.handle(Input::DateOfBirth(march(4)), at),
        Err(FlowError::DobInFuture)
    );
    assert!(flow.handle(Input::DateOfBirth(march(3)), at).is_ok());
    assert_eq!(flow.step(), Step::EnterLastName);
}

#[test]
fn changing_insurance_proposes_and_flags() {
    let mut flow = at_step(Step::EditInsurance);
    let empty = CoverageUpdate {
        payer: " ".into(),
        member_id: "M1".into(),
        group: String::new(),
    };
    assert_eq!(
        flow.handle(Input::SubmitCoverage(empty), now()),
        Err(FlowError::Empty("the insurance company"))
    );
    let no_id = CoverageUpdate {
        payer: "Aetna".into(),
        member_id: "".into(),
        group: String::new(),
    };
    assert_eq!(
        flow.handle(Input::SubmitCoverage(no_id), now()),
        Err(FlowError::Empty("the member ID"))
    );
    let update = CoverageUpdate {
        payer: "Aetna".into(),
        member_id: "W123456789".into(),
        group: "77".into(),
    };
    let ev = ok(&mut flow, Input::SubmitCoverage(update.clone()));
    assert_eq!(flags(&ev), vec![ReasonCode::InsuranceChanged]);
    assert!(ev.iter().any(|e| matches!(e,
        DomainEvent::CoverageProposed { proposed: Some(p), .. } if *p == update)));
    assert_eq!(flow.step(), Step::CoPay);
}

#[test]
fn no_insurance_selects_self_pay() {
    for from in [Step::Insurance, Step::EditInsurance] {
        let mut flow = at_step(from);
        let ev = ok(&mut flow, Input::NoInsurance);
        assert_eq!(flags(&ev), vec![ReasonCode::SelfPaySelected]);
        assert!(
            ev.iter()
                .any(|e| matches!(e, DomainEvent::CoverageProposed { proposed: None, .. }))
        );
        assert_eq!(flow.step(), Step::CoPay);
    }
}

#[test]
fn missing_and_expired_coverage_are_flagged_when_insurance_shows() {
    let mut a = maria();
    a.coverage = None;
    let mut flow = scanned(a);
    let ev = ok(&mut flow, Input::DemographicsCorrect);
    assert_eq!(flags(&ev), vec![ReasonCode::InsuranceMissing]);
    assert!(
        !kinds(&ev).contains(&"phi_shown"),
        "no coverage, nothing shown"
    );
    // Nothing on file cannot be "still correct".
    assert!(flow.handle(Input::InsuranceStillCorrect, now()).is_err());
    assert_eq!(flow.step(), Step::Insurance);

    let mut b = maria();
    b.coverage.as_mut().unwrap().valid_to = day().pred_opt();
    let mut flow = scanned(b);
    let ev = ok(&mut flow, Input::DemographicsCorrect);
    assert_eq!(flags(&ev), vec![ReasonCode::InsuranceExpired]);
    assert_eq!(flow.masked_member_id().as_deref(), Some("••••3456"));
}

#[test]
fn each_copay_choice() {
    // Front desk finishes at once.
    let mut flow = at_step(Step::CoPay);
    ok(&mut flow, Input::CoPay(CoPayChoice::FrontDesk));
    assert_eq!(flow.step(), Step::Done);
    // Phone shows the QR code first, then finishes.
    let mut flow = at_step(Step::CoPay);
    let ev = ok(&mut flow, Input::CoPay(CoPayChoice::Phone));
    assert_eq!(kinds(&ev), vec!["copay_chosen"]);
    assert_eq!(flow.step(), Step::PayOnPhone);
}

#[test]
fn pay_on_phone_goes_back_to_the_choices_and_continue_finishes() {
    let mut flow = at_step(Step::PayOnPhone);
    assert_eq!(flow.copay_choice(), Some(CoPayChoice::Phone));
    assert!(ok(&mut flow, Input::Back).is_empty());
    assert_eq!((flow.step(), flow.copay_choice()), (Step::CoPay, None));
    ok(&mut flow, Input::CoPay(CoPayChoice::Phone));
    let ev = ok(&mut flow, Input::Continue);
    assert_eq!(kinds(&ev), vec!["checked_in"]);
    assert_eq!(flow.step(), Step::Done);
    assert_eq!(flow.copay_choice(), Some(CoPayChoice::Phone));
}

#[test]
fn no_insurance_is_self_pay_even_with_no_copay_due() {
    let mut a = maria();
    a.expected_copay = Money::zero(Currency::USD);
    let mut flow = scanned(a);
    ok(&mut flow, Input::DemographicsCorrect);
    assert!(!flow.self_pay());
    ok(&mut flow, Input::NoInsurance);
    assert_eq!(flow.step(), Step::CoPay, "self-pay always asks how to pay");
    assert!(flow.self_pay());
    // Back asks about insurance again, and self-pay is off until chosen.
    let ev = ok(&mut flow, Input::Back);
    assert_eq!(kinds(&ev), vec!["phi_shown"]);
    assert_eq!(flow.step(), Step::Insurance);
    assert!(!flow.self_pay());
    let ev = ok(&mut flow, Input::InsuranceStillCorrect);
    assert_eq!(kinds(&ev), vec!["checked_in"]);
}

#[test]
fn bill_later_and_phone_are_offered_only_where_allowed() {
    let mut flow = at_step(Step::CoPay);
    assert_eq!(
        flow.handle(Input::CoPay(CoPayChoice::BillLater), now()),
        Err(FlowError::ChoiceNotOffered("bill me later"))
    );
    assert_eq!(flow.step(), Step::CoPay);
    let mut s = settings();
    s.allow_bill_later = true;
    s.allow_pay_on_phone = false;
    let mut flow = CheckInFlow::new(s);
    ok(&mut flow, Input::PassAccepted(Box::new(maria())));
    ok(&mut flow, Input::DemographicsCorrect);
    ok(&mut flow, Input::InsuranceStillCorrect);
    assert_eq!(
        flow.handle(Input::CoPay(CoPayChoice::Phone), now()),
        Err(FlowError::ChoiceNotOffered("pay on my phone"))
    );
    let ev = ok(&mut flow, Input::CoPay(CoPayChoice::BillLater));
    assert_eq!(kinds(&ev), vec!["copay_chosen", "checked_in"]);
}

#[test]
fn no_copay_due_skips_the_copay_step() {
    let mut a = maria();
    a.expected_copay = Money::zero(Currency::USD);
    let mut flow = scanned(a);
    ok(&mut flow, Input::DemographicsCorrect);
    let ev = ok(&mut flow, Input::InsuranceStillCorrect);
    assert_eq!(kinds(&ev), vec!["checked_in"]);
    assert_eq!(flow.step(), Step::Done);
}

#[test]
fn back_moves_one_step_where_offered() {
    let mut flow = at_step(Step::EnterLastName);
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::EnterDob);
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::Welcome);
    let mut flow = at_step(Step::EditInsurance);
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::Insurance);
    let ev = ok(&mut flow, Input::Back);
    assert_eq!(kinds(&ev), vec!["phi_shown"], "the details are shown again");
    assert_eq!(flow.step(), Step::Demographics);
    let mut flow = at_step(Step::CoPay);
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::Insurance);
    let mut flow = at_step(Step::ChooseAppointment);
    ok(&mut flow, Input::Back);
    assert_eq!(flow.step(), Step::EnterLastName);
    assert!(flow.candidates().is_empty());
    for step in [Step::Welcome, Step::Done] {
        let mut flow = at_step(step);
        assert!(flow.handle(Input::Back, now()).is_err(), "{step:?}");
        assert_eq!(flow.step(), step);
    }
}

#[test]
fn help_from_every_step_flags_once_and_returns() {
    for step in every_step() {
        let mut flow = at_step(step);
        let before_appt = flow.appointment().map(|a| a.id.clone());
        let ev = ok(&mut flow, Input::Help);
        if step == Step::Help {
            assert!(ev.is_empty(), "a second press must not flag again");
            continue;
        }
        assert_eq!(flags(&ev), vec![ReasonCode::HelpRequested], "{step:?}");
        match &ev[0] {
            DomainEvent::Flag(f) => {
                assert_eq!(f.step, step, "the flag records the step reached");
                assert_eq!(f.appointment_id, before_appt);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(flow.step(), Step::Help);
        assert!(ok(&mut flow, Input::Help).is_empty());
        ok(&mut flow, Input::Continue);
        assert_eq!(flow.step(), step, "help returns to where the patient was");
    }
}

#[test]
fn staff_answering_help_ends_the_session_from_every_step_with_no_flag() {
    for step in every_step() {
        let mut flow = at_step(step);
        if step != Step::Help {
            assert!(
                flow.handle(Input::HelpAnswered, now()).is_err(),
                "{step:?}: only a waiting patient's session ends"
            );
            assert_eq!(flow.step(), step);
            ok(&mut flow, Input::Help);
        }
        let ev = ok(&mut flow, Input::HelpAnswered);
        assert!(ev.is_empty(), "{step:?}: the desk has the patient");
        assert_eq!(flow.step(), Step::Welcome);
        assert!(flow.appointment().is_none(), "{step:?}");
        assert!(flow.entered_dob().is_none(), "{step:?}");
    }
}

#[test]
fn idle_warning_then_reset_from_every_step() {
    for step in every_step() {
        let mut flow = at_step(step);
        let identified_not_done =
            flow.appointment().is_some() && !matches!(step, Step::Done | Step::SeeDesk(_));
        if !step.watches_idle() {
            assert!(flow.handle(Input::IdleWarning, now()).is_err(), "{step:?}");
            assert!(flow.handle(Input::IdleTimeout, now()).is_err(), "{step:?}");
            assert_eq!(flow.step(), step);
            continue;
        }
        ok(&mut flow, Input::IdleWarning);
        assert!(flow.idle_warning(), "{step:?}");
        assert_eq!(flow.step(), step, "the warning keeps the step");
        ok(&mut flow, Input::StillHere);
        assert!(!flow.idle_warning());
        assert_eq!(flow.step(), step);
        ok(&mut flow, Input::SetLanguage(Language::Es));
        ok(&mut flow, Input::IdleWarning);
        let ev = ok(&mut flow, Input::IdleTimeout);
        assert_eq!(flow.step(), Step::Welcome, "{step:?}");
        assert!(!flow.idle_warning());
        assert!(flow.appointment().is_none());
        assert!(flow.candidates().is_empty());
        assert_eq!(flow.entered_dob(), None);
        assert_eq!(flow.failed_lookups(), 0);
        assert_eq!(
            flow.language(),
            Language::En,
            "the next patient starts in English"
        );
        if identified_not_done {
            assert_eq!(flags(&ev), vec![ReasonCode::IncompleteCheckin], "{step:?}");
        } else {
            assert!(flags(&ev).is_empty(), "{step:?}: {ev:?}");
        }
    }
}

#[test]
fn an_accepted_touch_dismisses_the_idle_warning() {
    let mut flow = at_step(Step::Demographics);
    ok(&mut flow, Input::IdleWarning);
    ok(&mut flow, Input::DemographicsCorrect);
    assert!(!flow.idle_warning());
}

#[test]
fn abandoning_after_arrival_is_incomplete_but_before_it_is_not() {
    let mut flow = at_step(Step::Insurance);
    let ev = ok(&mut flow, Input::IdleTimeout);
    assert_eq!(flags(&ev), vec![ReasonCode::IncompleteCheckin]);
    match &ev[0] {
        DomainEvent::Flag(f) => assert_eq!(f.appointment_id.as_ref().unwrap().0, "a1"),
        other => panic!("unexpected {other:?}"),
    }
    let mut flow = at_step(Step::EnterLastName);
    assert!(ok(&mut flow, Input::IdleTimeout).is_empty());
    // Help after arrival, then walking away, is still incomplete.
    let mut flow = at_step(Step::CoPay);
    ok(&mut flow, Input::Help);
    let ev = ok(&mut flow, Input::IdleTimeout);
    assert_eq!(flags(&ev), vec![ReasonCode::IncompleteCheckin]);
}

#[test]
fn switching_language_keeps_progress_on_every_step() {
    for step in every_step() {
        let mut flow = at_step(step);
        let appt = flow.appointment().cloned();
        let ev = ok(&mut flow, Input::SetLanguage(Language::Es));
        assert!(ev.is_empty());
        assert_eq!(flow.language(), Language::Es);
        assert_eq!(flow.step(), step);
        assert_eq!(flow.appointment().cloned(), appt);
        ok(&mut flow, Input::SetLanguage(Language::En));
        assert_eq!(flow.language(), Language::En);
    }
}

#[test]
fn inputs_out_of_place_are_refused_and_change_nothing() {
    let stray = [
        Input::DemographicsCorrect,
        Input::InsuranceStillCorrect,
        Input::CoPay(CoPayChoice::FrontDesk),
        Input::ChooseAppointment(0),
        Input::LookupResult(vec![]),
        Input::Continue,
    ];
    let mut flow = at_step(Step::Welcome);
    for input in stray {
        let err = flow.handle(input.clone(), now()).unwrap_err();
        assert!(
            matches!(
                err,
                FlowError::NotHere {
                    step: "welcome",
                    ..
                }
            ),
            "{input:?}: {err}"
        );
        assert_eq!(flow.step(), Step::Welcome);
    }
    let mut flow = at_step(Step::Done);
    assert!(
        flow.handle(Input::Help, now()).is_ok(),
        "help works even on Done"
    );
}

#[test]
fn masked_views_are_available_only_after_a_match() {
    let flow = at_step(Step::EnterLastName);
    assert_eq!(flow.display_name(), None);
    assert_eq!(flow.masked_demographics(), None);
    assert_eq!(flow.masked_member_id(), None);
    let flow = at_step(Step::Demographics);
    let m = flow.masked_demographics().unwrap();
    assert_eq!(m.phone, "•••-•••-0134");
    assert!(!m.address.contains("Evergreen"));
}

#[test]
fn flags_carry_the_appointment_step_time_and_text() {
    let mut flow = at_step(Step::EditInsurance);
    let ev = ok(&mut flow, Input::NoInsurance);
    let f = ev
        .iter()
        .find_map(|e| match e {
            DomainEvent::Flag(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(f.code, ReasonCode::SelfPaySelected);
    assert_eq!(f.appointment_id.unwrap().0, "a1");
    assert_eq!(f.step, Step::EditInsurance);
    assert_eq!(f.at, now());
    assert_eq!(f.text, "Patient chose self-pay");
}

#[test]
fn sessions_start_and_reset_in_the_kiosks_language() {
    let mut s = settings();
    s.language = Language::Es;
    let mut flow = CheckInFlow::new(s);
    assert_eq!(flow.language(), Language::Es);
    ok(&mut flow, Input::SetLanguage(Language::En));
    ok(&mut flow, Input::PassAccepted(Box::new(maria())));
    ok(&mut flow, Input::IdleTimeout);
    assert_eq!(flow.language(), Language::Es);
}

#[test]
fn back_from_the_contact_details_leaves_the_session_and_flags_it_incomplete() {
    let mut flow = at_step(Step::Demographics);
    assert!(flow.appointment().is_some());
    let ev = ok(&mut flow, Input::Back);
    assert_eq!(flags(&ev), vec![ReasonCode::IncompleteCheckin]);
    assert_eq!(flow.step(), Step::Welcome);
    assert!(
        flow.appointment().is_none(),
        "nothing about the patient is kept"
    );
}
