//! The details screens' adapters: the demographics and coverage on file,
//! and the two edit forms, whose fields map between Slint's enums and the
//! controller's here and nowhere else.

use slint::ComponentHandle;

use super::{Frame, Part, Sender};
use crate::domain::Field;
use crate::kiosk::controller::UiAction;
use crate::kiosk::ui::{
    self, AppWindow, DemographicsAdapter, EditDemographicsAdapter, EditError, EditInsuranceAdapter,
    InsuranceAdapter,
};
use crate::kiosk::view::{DemographicsField, EditProblem, InsuranceField};

/// Connects the details screens' callbacks.
pub(super) fn connect(window: &AppWindow, send: &Sender) {
    let dm = window.global::<DemographicsAdapter>();
    dm.on_correct(send.action(UiAction::DemographicsCorrect));
    dm.on_update(send.action(UiAction::DemographicsUpdate));
    dm.on_back(send.action(UiAction::Back));

    let ed = window.global::<EditDemographicsAdapter>();
    ed.on_select(send.map(|f| Some(UiAction::EditSelect(demographics_field(f).into()))));
    ed.on_typed(send.map(|t: slint::SharedString| Some(UiAction::EditTyped(t.to_string()))));
    ed.on_erase(send.action(UiAction::EditErase));
    ed.on_submit(send.action(UiAction::EditSubmit));
    ed.on_back(send.action(UiAction::Back));

    let ins = window.global::<InsuranceAdapter>();
    ins.on_still_correct(send.action(UiAction::InsuranceStillCorrect));
    ins.on_changed(send.action(UiAction::InsuranceChanged));
    ins.on_no_insurance(send.action(UiAction::NoInsurance));
    ins.on_no_insurance_confirmed(send.action(UiAction::ConfirmNoInsurance));
    ins.on_back(send.action(UiAction::Back));

    let ei = window.global::<EditInsuranceAdapter>();
    ei.on_select(send.map(|f| Some(UiAction::EditSelect(insurance_field(f).into()))));
    ei.on_typed(send.map(|t: slint::SharedString| Some(UiAction::EditTyped(t.to_string()))));
    ei.on_erase(send.action(UiAction::EditErase));
    ei.on_submit(send.action(UiAction::EditSubmit));
    ei.on_back(send.action(UiAction::Back));
}

/// Renders the details screens' parts that changed.
pub(super) fn render(f: &Frame<'_>) {
    f.part(
        Part::Demographics,
        |v| &v.demographics,
        |w, d| {
            let dm = w.global::<DemographicsAdapter>();
            dm.set_address(d.address.as_str().into());
            dm.set_phone(d.phone.as_str().into());
            dm.set_email(d.email.as_str().into());
            dm.set_emergency_contact(d.emergency_contact.as_str().into());
        },
    );
    f.part(
        Part::EditDemographics,
        |v| &v.edit_demographics,
        |w, form| {
            let ed = w.global::<EditDemographicsAdapter>();
            let f = &form.fields;
            let text = |d: DemographicsField| slint::SharedString::from(f[d].as_str());
            ed.set_street(text(DemographicsField::Street));
            ed.set_apartment(text(DemographicsField::Apartment));
            ed.set_city(text(DemographicsField::City));
            ed.set_region(text(DemographicsField::State));
            ed.set_postal_code(text(DemographicsField::Zip));
            ed.set_phone(text(DemographicsField::Phone));
            ed.set_email(text(DemographicsField::Email));
            ed.set_contact_name(text(DemographicsField::ContactName));
            ed.set_contact_phone(text(DemographicsField::ContactPhone));
            ed.set_contact_relation(text(DemographicsField::ContactRelation));
            ed.set_active(ui_demographics_field(form.active));
            ed.set_error(edit_error(form.problem));
        },
    );
    f.part(
        Part::Insurance,
        |v| &v.insurance,
        |w, i| {
            let ins = w.global::<InsuranceAdapter>();
            ins.set_has_coverage(i.has_coverage);
            ins.set_expired(i.expired);
            ins.set_payer(i.payer.as_str().into());
            ins.set_plan(i.plan.as_str().into());
            ins.set_member_id(i.member_id.as_str().into());
            ins.set_confirm_no_insurance(i.confirm_no_insurance);
        },
    );
    f.part(
        Part::EditInsurance,
        |v| &v.edit_insurance,
        |w, form| {
            let ei = w.global::<EditInsuranceAdapter>();
            let f = &form.fields;
            ei.set_payer(f[InsuranceField::Payer].as_str().into());
            ei.set_member_id(f[InsuranceField::MemberId].as_str().into());
            ei.set_group(f[InsuranceField::Group].as_str().into());
            ei.set_active(ui_insurance_field(form.active));
            ei.set_error(edit_error(form.problem));
        },
    );
}

/// The demographics form's field, from Slint's enum to the controller's:
/// the one place the two meet (with [`ui_demographics_field`]).
fn demographics_field(f: ui::DemographicsField) -> DemographicsField {
    match f {
        ui::DemographicsField::Street => DemographicsField::Street,
        ui::DemographicsField::Apartment => DemographicsField::Apartment,
        ui::DemographicsField::City => DemographicsField::City,
        ui::DemographicsField::State => DemographicsField::State,
        ui::DemographicsField::Zip => DemographicsField::Zip,
        ui::DemographicsField::Phone => DemographicsField::Phone,
        ui::DemographicsField::Email => DemographicsField::Email,
        ui::DemographicsField::ContactName => DemographicsField::ContactName,
        ui::DemographicsField::ContactPhone => DemographicsField::ContactPhone,
        ui::DemographicsField::ContactRelation => DemographicsField::ContactRelation,
    }
}

/// The demographics form's field, from the controller's enum to Slint's.
fn ui_demographics_field(f: DemographicsField) -> ui::DemographicsField {
    match f {
        DemographicsField::Street => ui::DemographicsField::Street,
        DemographicsField::Apartment => ui::DemographicsField::Apartment,
        DemographicsField::City => ui::DemographicsField::City,
        DemographicsField::State => ui::DemographicsField::State,
        DemographicsField::Zip => ui::DemographicsField::Zip,
        DemographicsField::Phone => ui::DemographicsField::Phone,
        DemographicsField::Email => ui::DemographicsField::Email,
        DemographicsField::ContactName => ui::DemographicsField::ContactName,
        DemographicsField::ContactPhone => ui::DemographicsField::ContactPhone,
        DemographicsField::ContactRelation => ui::DemographicsField::ContactRelation,
    }
}

/// The insurance form's field, from Slint's enum to the controller's.
fn insurance_field(f: ui::InsuranceField) -> InsuranceField {
    match f {
        ui::InsuranceField::Payer => InsuranceField::Payer,
        ui::InsuranceField::MemberId => InsuranceField::MemberId,
        ui::InsuranceField::Group => InsuranceField::Group,
    }
}

/// The insurance form's field, from the controller's enum to Slint's.
fn ui_insurance_field(f: InsuranceField) -> ui::InsuranceField {
    match f {
        InsuranceField::Payer => ui::InsuranceField::Payer,
        InsuranceField::MemberId => ui::InsuranceField::MemberId,
        InsuranceField::Group => ui::InsuranceField::Group,
    }
}

fn edit_error(problem: Option<EditProblem>) -> EditError {
    match problem {
        None => EditError::None,
        Some(EditProblem::NothingTyped) => EditError::NothingTyped,
        Some(EditProblem::NeedStreetOrPhone) => EditError::NeedStreetOrPhone,
        Some(EditProblem::MissingPayer) => EditError::MissingPayer,
        Some(EditProblem::MissingMemberId) => EditError::MissingMemberId,
        Some(EditProblem::Required(Field::ContactName)) => EditError::NeedContactName,
        Some(EditProblem::Required(Field::ContactPhone)) => EditError::NeedContactPhone,
        Some(EditProblem::Required(_)) => EditError::NothingTyped,
        Some(EditProblem::Invalid(field)) => match field {
            Field::AddressLine1 => EditError::BadStreet,
            Field::AddressLine2 => EditError::BadApartment,
            Field::City => EditError::BadCity,
            Field::State => EditError::BadState,
            Field::PostalCode => EditError::BadZip,
            Field::Phone => EditError::BadPhone,
            Field::Email => EditError::BadEmail,
            Field::ContactName => EditError::BadContactName,
            Field::ContactPhone => EditError::BadContactPhone,
            Field::ContactRelation => EditError::BadRelation,
            Field::MemberId => EditError::BadMemberId,
            Field::Group => EditError::BadGroup,
            Field::Payer => EditError::BadPayer,
            // Fields no kiosk form has.
            Field::PersonName | Field::Note | Field::KioskName | Field::AppVersion | Field::Id => {
                EditError::BadValue
            }
        },
    }
}
