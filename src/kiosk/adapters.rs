//! Connects the Slint adapter globals to the `CheckInController`: forwards
//! every callback as a `UiAction`, renders the view model back into the
//! globals, and runs the idle, Done and scanner timers on Slint's clock.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, VecModel};

use super::controller::{CheckInController, CheckInRepository, UiAction};
use super::ui::{
    self, AppWindow, AppointmentChoice, ChooseAdapter, CoPayAdapter, DemographicsAdapter,
    DeskReason, DobAdapter, DobError, DoneAdapter, EditDemographicsAdapter, EditError,
    EditInsuranceAdapter, HelpAdapter, InsuranceAdapter, KioskAdapter, NameAdapter, NameError,
    NotFoundAdapter, NoticeKind, PassProblemKind, PassRejectedAdapter, PayPhoneAdapter, Screen,
    SeeDeskAdapter, WelcomeAdapter,
};
use super::view::{
    self, DemographicsField, DobProblem, EditProblem, InsuranceField, NameProblem, ViewModel,
};
use crate::domain::{CoPayChoice, Field, Language, PassProblem, ReasonCode};

/// The kiosk's timings, from config.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Idle time before the warning.
    pub idle_warning: Duration,
    /// Idle time before the reset.
    pub idle_reset: Duration,
    /// Time on Done before returning to Welcome.
    pub done_return: Duration,
    /// The longest pause inside a scanner burst.
    pub scanner_gap: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            idle_warning: Duration::from_secs(45),
            idle_reset: Duration::from_secs(60),
            done_return: Duration::from_secs(10),
            scanner_gap: Duration::from_millis(300),
        }
    }
}

/// What the kiosk shows about its connection, from the sync worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionMark {
    /// Whether the last contact with the server worked.
    pub online: bool,
    /// Events waiting in the outbox.
    pub waiting: u64,
}

/// Shows the sync worker's view of the connection: the offline mark is
/// the only sign of it a patient could see.
pub fn show_connection(window: &AppWindow, mark: ConnectionMark) {
    let k = window.global::<KioskAdapter>();
    k.set_online(mark.online);
    k.set_waiting(i32::try_from(mark.waiting).unwrap_or(i32::MAX));
}

/// The running UI: the window, the controller and the timers that keep it alive.
pub struct KioskUi<R: CheckInRepository + 'static> {
    /// Shared with every callback.
    inner: Rc<Inner<R>>,
    /// Ticks once a second for the idle and Done countdowns.
    _tick: slint::Timer,
}

struct Inner<R: CheckInRepository> {
    window: slint::Weak<AppWindow>,
    controller: RefCell<CheckInController<R>>,
    timings: Timings,
    /// Whole seconds since the last touch, counted by the tick.
    idle_seconds: RefCell<u64>,
    /// Seconds spent on Done.
    done_seconds: RefCell<u64>,
    /// Drops a scanner burst that pauses too long.
    scanner_timer: slint::Timer,
    /// The language the translations are set to.
    language: RefCell<Option<Language>>,
    /// The payment link the QR image was made from, and the image.
    qr_cache: RefCell<Option<(String, Image)>>,
}

impl<R: CheckInRepository + 'static> KioskUi<R> {
    /// Connects `window` to `controller` and renders the first screen.
    pub fn connect(
        window: &AppWindow,
        controller: CheckInController<R>,
        clinic_name: &str,
        timings: Timings,
    ) -> Self {
        let inner = Rc::new(Inner {
            window: window.as_weak(),
            controller: RefCell::new(controller),
            timings,
            idle_seconds: RefCell::new(0),
            done_seconds: RefCell::new(0),
            scanner_timer: slint::Timer::default(),
            language: RefCell::new(None),
            qr_cache: RefCell::new(None),
        });
        window
            .global::<KioskAdapter>()
            .set_clinic_name(clinic_name.into());
        wire(window, &inner);
        let tick = slint::Timer::default();
        let weak = Rc::downgrade(&inner);
        tick.start(
            slint::TimerMode::Repeated,
            Duration::from_secs(1),
            move || {
                if let Some(inner) = weak.upgrade() {
                    inner.tick();
                }
            },
        );
        inner.render();
        Self { inner, _tick: tick }
    }

    /// Runs `f` on the controller, then renders.
    pub fn with_controller<T>(&self, f: impl FnOnce(&mut CheckInController<R>) -> T) -> T {
        let out = f(&mut self.inner.controller.borrow_mut());
        self.inner.render();
        out
    }

    /// The current view model, for tests and screenshots.
    pub fn view(&self) -> ViewModel {
        self.inner.controller.borrow().view()
    }
}

/// Forwards one action from a callback.
fn forward<R: CheckInRepository + 'static>(
    inner: &Rc<Inner<R>>,
) -> impl Fn(UiAction) + Clone + 'static {
    let weak = Rc::downgrade(inner);
    move |action| {
        if let Some(inner) = weak.upgrade() {
            inner.dispatch(action);
        }
    }
}

fn wire<R: CheckInRepository + 'static>(window: &AppWindow, inner: &Rc<Inner<R>>) {
    let send = forward(inner);

    let k = window.global::<KioskAdapter>();
    let s = send.clone();
    k.on_help(move || s(UiAction::Help));
    let s = send.clone();
    k.on_set_language(move |code| {
        if let Some(lang) = Language::parse(code.as_str()) {
            s(UiAction::SetLanguage(lang));
        }
    });
    let s = send.clone();
    k.on_still_here(move || s(UiAction::StillHere));
    let s = send.clone();
    k.on_activity(move || s(UiAction::StillHere));
    {
        let weak = Rc::downgrade(inner);
        k.on_key_input(move |text| {
            if let Some(inner) = weak.upgrade() {
                inner.key_input(text.to_string());
            }
        });
    }

    let s = send.clone();
    window
        .global::<WelcomeAdapter>()
        .on_use_dob(move || s(UiAction::UseDob));

    let d = window.global::<DobAdapter>();
    let s = send.clone();
    d.on_typed(move |t| {
        for c in t.chars() {
            s(UiAction::DobDigit(c));
        }
    });
    let s = send.clone();
    d.on_erase(move || s(UiAction::DobErase));
    let s = send.clone();
    d.on_clear(move || s(UiAction::DobClear));
    let s = send.clone();
    d.on_submit(move || s(UiAction::DobSubmit));
    let s = send.clone();
    d.on_back(move || s(UiAction::Back));

    let n = window.global::<NameAdapter>();
    let s = send.clone();
    n.on_typed(move |t| s(UiAction::NameLetter(t.to_string())));
    let s = send.clone();
    n.on_erase(move || s(UiAction::NameErase));
    let s = send.clone();
    n.on_submit(move || s(UiAction::NameSubmit));
    let s = send.clone();
    n.on_back(move || s(UiAction::Back));

    let nf = window.global::<NotFoundAdapter>();
    let s = send.clone();
    nf.on_try_again(move || s(UiAction::TryAgain));
    let s = send.clone();
    nf.on_start_over(move || s(UiAction::Finish));

    let c = window.global::<ChooseAdapter>();
    let s = send.clone();
    c.on_choose(move |i| {
        if let Ok(i) = usize::try_from(i) {
            s(UiAction::Choose(i));
        }
    });
    let s = send.clone();
    c.on_start_over(move || s(UiAction::Finish));

    let p = window.global::<PassRejectedAdapter>();
    let s = send.clone();
    p.on_use_dob(move || s(UiAction::UseDob));
    let s = send.clone();
    p.on_start_over(move || s(UiAction::Finish));

    let s = send.clone();
    window
        .global::<SeeDeskAdapter>()
        .on_finish(move || s(UiAction::Finish));

    let dm = window.global::<DemographicsAdapter>();
    let s = send.clone();
    dm.on_correct(move || s(UiAction::DemographicsCorrect));
    let s = send.clone();
    dm.on_update(move || s(UiAction::DemographicsUpdate));

    let ed = window.global::<EditDemographicsAdapter>();
    let s = send.clone();
    ed.on_select(move |f| s(UiAction::EditSelect(demographics_field(f).into())));
    let s = send.clone();
    ed.on_typed(move |t| s(UiAction::EditTyped(t.to_string())));
    let s = send.clone();
    ed.on_erase(move || s(UiAction::EditErase));
    let s = send.clone();
    ed.on_submit(move || s(UiAction::EditSubmit));
    let s = send.clone();
    ed.on_back(move || s(UiAction::Back));

    let ins = window.global::<InsuranceAdapter>();
    let s = send.clone();
    ins.on_still_correct(move || s(UiAction::InsuranceStillCorrect));
    let s = send.clone();
    ins.on_changed(move || s(UiAction::InsuranceChanged));
    let s = send.clone();
    ins.on_no_insurance(move || s(UiAction::NoInsurance));

    let ei = window.global::<EditInsuranceAdapter>();
    let s = send.clone();
    ei.on_select(move |f| s(UiAction::EditSelect(insurance_field(f).into())));
    let s = send.clone();
    ei.on_typed(move |t| s(UiAction::EditTyped(t.to_string())));
    let s = send.clone();
    ei.on_erase(move || s(UiAction::EditErase));
    let s = send.clone();
    ei.on_submit(move || s(UiAction::EditSubmit));
    let s = send.clone();
    ei.on_back(move || s(UiAction::Back));

    let cp = window.global::<CoPayAdapter>();
    let s = send.clone();
    cp.on_front_desk(move || s(UiAction::CoPay(CoPayChoice::FrontDesk)));
    let s = send.clone();
    cp.on_phone(move || s(UiAction::CoPay(CoPayChoice::Phone)));
    let s = send.clone();
    cp.on_bill_later(move || s(UiAction::CoPay(CoPayChoice::BillLater)));

    let s = send.clone();
    window
        .global::<PayPhoneAdapter>()
        .on_done(move || s(UiAction::PayPhoneDone));
    let s = send.clone();
    window
        .global::<DoneAdapter>()
        .on_finish(move || s(UiAction::Finish));
    let s = send;
    window
        .global::<HelpAdapter>()
        .on_resume(move || s(UiAction::Resume));
}

impl<R: CheckInRepository + 'static> Inner<R> {
    fn dispatch(&self, action: UiAction) {
        // Every touch restarts the idle clock.
        *self.idle_seconds.borrow_mut() = 0;
        let result = self.controller.borrow_mut().handle(action);
        if let Err(err) = result {
            // The error names no patient data: flow errors name steps,
            // storage errors name files and operations.
            eprintln!("kiosk: {err}");
        }
        self.render();
    }

    fn key_input(self: &Rc<Self>, text: String) {
        let gap = self.timings.scanner_gap;
        let weak = Rc::downgrade(self);
        self.scanner_timer
            .start(slint::TimerMode::SingleShot, gap, move || {
                if let Some(inner) = weak.upgrade() {
                    let _ = inner.controller.borrow_mut().handle(UiAction::ScanTimeout);
                }
            });
        let before = self.controller.borrow().step();
        let result = self
            .controller
            .borrow_mut()
            .handle(UiAction::KeyInput(text));
        if let Err(err) = result {
            eprintln!("kiosk: {err}");
        }
        if self.controller.borrow().step() != before {
            *self.idle_seconds.borrow_mut() = 0;
            self.render();
        }
    }

    fn tick(&self) {
        let view = self.controller.borrow().view();
        let watches = !matches!(view.screen, view::Screen::Welcome | view::Screen::Done);
        if view.screen == view::Screen::Done {
            let mut done = self.done_seconds.borrow_mut();
            *done += 1;
            let finished = *done >= self.timings.done_return.as_secs();
            drop(done);
            if finished {
                self.dispatch(UiAction::Finish);
                return;
            }
        } else {
            *self.done_seconds.borrow_mut() = 0;
        }
        if watches {
            let mut idle = self.idle_seconds.borrow_mut();
            *idle += 1;
            let secs = *idle;
            drop(idle);
            if secs >= self.timings.idle_reset.as_secs() {
                let _ = self.controller.borrow_mut().handle(UiAction::IdleTimeout);
                *self.idle_seconds.borrow_mut() = 0;
            } else if secs >= self.timings.idle_warning.as_secs() && !view.idle_warning {
                let _ = self.controller.borrow_mut().handle(UiAction::IdleWarning);
            }
        } else {
            *self.idle_seconds.borrow_mut() = 0;
        }
        self.render();
    }

    fn render(&self) {
        let Some(window) = self.window.upgrade() else {
            return;
        };
        let view = self.controller.borrow().view();
        if self.language.borrow().as_ref() != Some(&view.language) {
            // "en" returns to the source strings.
            let _ = slint::select_bundled_translation(view.language.code());
            *self.language.borrow_mut() = Some(view.language);
        }
        let idle = *self.idle_seconds.borrow();

        let k = window.global::<KioskAdapter>();
        k.set_screen(screen(view.screen));
        k.set_language(view.language.code().into());
        k.set_idle_warning(view.idle_warning);
        let left = self.timings.idle_reset.as_secs().saturating_sub(idle);
        k.set_idle_seconds_left(i32::try_from(left).unwrap_or(0));
        k.set_progress(i32::from(view.progress));
        let identity = view.identity.clone().unwrap_or_default();
        k.set_patient_name(identity.name.into());
        k.set_appointment_time(identity.time.into());
        k.set_clinician(identity.clinician.into());
        k.set_notice(match view.notice {
            Some(ReasonCode::Late) => NoticeKind::Late,
            Some(ReasonCode::TooEarly) => NoticeKind::Early,
            Some(ReasonCode::WrongLocation) => NoticeKind::WrongLocation,
            _ => NoticeKind::None,
        });

        let d = window.global::<DobAdapter>();
        d.set_display(view.dob_display.clone().into());
        d.set_digits(view.dob_digits.clone().into());
        d.set_error(match view.dob_problem {
            None => DobError::None,
            Some(DobProblem::Incomplete) => DobError::Incomplete,
            Some(DobProblem::Month) => DobError::Month,
            Some(DobProblem::Day) => DobError::Day,
            Some(DobProblem::Year) => DobError::Year,
            Some(DobProblem::Future) => DobError::Future,
        });

        let n = window.global::<NameAdapter>();
        n.set_letters(view.name_letters.clone().into());
        n.set_prefix_len(i32::try_from(view.name_prefix_len).unwrap_or(3));
        n.set_error(match view.name_problem {
            None => NameError::None,
            Some(NameProblem::TooShort) => NameError::TooShort,
            Some(NameProblem::Wait) => NameError::Wait,
        });
        n.set_wait_seconds(i32::try_from(view.name_wait_seconds).unwrap_or(i32::MAX));

        window
            .global::<NotFoundAdapter>()
            .set_attempts_left(i32::try_from(view.attempts_left).unwrap_or(0));

        let choices: Vec<AppointmentChoice> = view
            .choices
            .iter()
            .map(|c| AppointmentChoice {
                time: c.time.clone().into(),
                clinician: c.clinician.clone().into(),
            })
            .collect();
        window
            .global::<ChooseAdapter>()
            .set_choices(ModelRc::new(VecModel::from(choices)));

        window
            .global::<PassRejectedAdapter>()
            .set_problem(match view.pass_problem {
                Some(PassProblem::Expired) => PassProblemKind::Expired,
                Some(PassProblem::WrongClinic) => PassProblemKind::OtherClinic,
                Some(PassProblem::UnknownAppointment) => PassProblemKind::NotToday,
                _ => PassProblemKind::Unreadable,
            });

        window
            .global::<SeeDeskAdapter>()
            .set_reason(match view.desk_reason {
                Some(view::DeskReason::Rule(ReasonCode::TooEarly)) => DeskReason::TooEarly,
                Some(view::DeskReason::Rule(ReasonCode::Late)) => DeskReason::Late,
                Some(view::DeskReason::Rule(ReasonCode::AppointmentCancelled)) => {
                    DeskReason::Cancelled
                }
                Some(view::DeskReason::Rule(ReasonCode::WrongLocation)) => {
                    DeskReason::WrongLocation
                }
                Some(view::DeskReason::Rule(ReasonCode::AlreadyCheckedIn)) => {
                    DeskReason::AlreadyCheckedIn
                }
                _ => DeskReason::Other,
            });

        let dm = window.global::<DemographicsAdapter>();
        dm.set_address(view.demographics.address.clone().into());
        dm.set_phone(view.demographics.phone.clone().into());
        dm.set_email(view.demographics.email.clone().into());
        dm.set_emergency_contact(view.demographics.emergency_contact.clone().into());

        let ed = window.global::<EditDemographicsAdapter>();
        let f = &view.edit_demographics.fields;
        ed.set_street(f[DemographicsField::Street].clone().into());
        ed.set_city(f[DemographicsField::City].clone().into());
        ed.set_region(f[DemographicsField::State].clone().into());
        ed.set_postal_code(f[DemographicsField::Zip].clone().into());
        ed.set_phone(f[DemographicsField::Phone].clone().into());
        ed.set_email(f[DemographicsField::Email].clone().into());
        ed.set_active(ui_demographics_field(view.edit_demographics.active));
        ed.set_error(edit_error(view.edit_demographics.problem));

        let ins = window.global::<InsuranceAdapter>();
        ins.set_has_coverage(view.insurance.has_coverage);
        ins.set_expired(view.insurance.expired);
        ins.set_payer(view.insurance.payer.clone().into());
        ins.set_plan(view.insurance.plan.clone().into());
        ins.set_member_id(view.insurance.member_id.clone().into());

        let ei = window.global::<EditInsuranceAdapter>();
        let f = &view.edit_insurance.fields;
        ei.set_payer(f[InsuranceField::Payer].clone().into());
        ei.set_member_id(f[InsuranceField::MemberId].clone().into());
        ei.set_group(f[InsuranceField::Group].clone().into());
        ei.set_active(ui_insurance_field(view.edit_insurance.active));
        ei.set_error(edit_error(view.edit_insurance.problem));

        let cp = window.global::<CoPayAdapter>();
        cp.set_amount(view.copay.amount.clone().into());
        cp.set_balance(view.copay.balance.clone().into());
        cp.set_allow_phone(view.copay.allow_phone);
        cp.set_allow_bill_later(view.copay.allow_bill_later);

        let pp = window.global::<PayPhoneAdapter>();
        pp.set_amount(view.pay_phone.amount.clone().into());
        pp.set_reference(view.pay_phone.reference.clone().into());
        pp.set_qr(self.qr_image(&view.pay_phone.url));

        let done_left = self
            .timings
            .done_return
            .as_secs()
            .saturating_sub(*self.done_seconds.borrow());
        window
            .global::<DoneAdapter>()
            .set_seconds_left(i32::try_from(done_left).unwrap_or(0));
        window
            .global::<HelpAdapter>()
            .set_can_resume(view.help_can_resume);
    }

    /// The QR image of a payment link, made once per link. An empty link
    /// gives an empty image, so no stale code survives a reset.
    fn qr_image(&self, url: &str) -> Image {
        if url.is_empty() {
            *self.qr_cache.borrow_mut() = None;
            return Image::default();
        }
        if let Some((cached, image)) = self.qr_cache.borrow().as_ref()
            && cached == url
        {
            return image.clone();
        }
        let image = render_qr(url).unwrap_or_default();
        *self.qr_cache.borrow_mut() = Some((url.to_string(), image.clone()));
        image
    }
}

/// Renders `text` as a QR code image, four pixels a module with a quiet zone.
pub fn render_qr(text: &str) -> Option<Image> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let side = (modules + 2 * QUIET) * SCALE;
    let side_u32 = u32::try_from(side).ok()?;
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side_u32, side_u32);
    let pixels = buffer.make_mut_slice();
    for (i, px) in pixels.iter_mut().enumerate() {
        let (x, y) = (i % side / SCALE, i / side / SCALE);
        let dark = x >= QUIET
            && y >= QUIET
            && x < modules + QUIET
            && y < modules + QUIET
            && colors[(y - QUIET) * modules + (x - QUIET)] == qrcode::Color::Dark;
        let v = if dark { 0 } else { 255 };
        *px = Rgb8Pixel { r: v, g: v, b: v };
    }
    Some(Image::from_rgb8(buffer))
}

/// The demographics form's field, from Slint's enum to the controller's:
/// the one place the two meet (with [`ui_demographics_field`]).
fn demographics_field(f: ui::DemographicsField) -> DemographicsField {
    match f {
        ui::DemographicsField::Street => DemographicsField::Street,
        ui::DemographicsField::City => DemographicsField::City,
        ui::DemographicsField::State => DemographicsField::State,
        ui::DemographicsField::Zip => DemographicsField::Zip,
        ui::DemographicsField::Phone => DemographicsField::Phone,
        ui::DemographicsField::Email => DemographicsField::Email,
    }
}

/// The demographics form's field, from the controller's enum to Slint's.
fn ui_demographics_field(f: DemographicsField) -> ui::DemographicsField {
    match f {
        DemographicsField::Street => ui::DemographicsField::Street,
        DemographicsField::City => ui::DemographicsField::City,
        DemographicsField::State => ui::DemographicsField::State,
        DemographicsField::Zip => ui::DemographicsField::Zip,
        DemographicsField::Phone => ui::DemographicsField::Phone,
        DemographicsField::Email => ui::DemographicsField::Email,
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
        Some(EditProblem::Invalid(field)) => match field {
            Field::AddressLine1 | Field::AddressLine2 => EditError::BadStreet,
            Field::City => EditError::BadCity,
            Field::State => EditError::BadState,
            Field::PostalCode => EditError::BadZip,
            Field::Phone | Field::ContactPhone => EditError::BadPhone,
            Field::Email => EditError::BadEmail,
            Field::MemberId => EditError::BadMemberId,
            Field::Group => EditError::BadGroup,
            Field::Payer => EditError::BadPayer,
            // Fields no kiosk form has.
            Field::ContactName
            | Field::ContactRelation
            | Field::PersonName
            | Field::Note
            | Field::KioskName
            | Field::AppVersion
            | Field::Id => EditError::BadValue,
        },
    }
}

fn screen(s: view::Screen) -> Screen {
    match s {
        view::Screen::Welcome => Screen::Welcome,
        view::Screen::EnterDob => Screen::EnterDob,
        view::Screen::EnterName => Screen::EnterName,
        view::Screen::NotFound => Screen::NotFound,
        view::Screen::Choose => Screen::Choose,
        view::Screen::PassRejected => Screen::PassRejected,
        view::Screen::SeeDesk => Screen::SeeDesk,
        view::Screen::Demographics => Screen::Demographics,
        view::Screen::EditDemographics => Screen::EditDemographics,
        view::Screen::Insurance => Screen::Insurance,
        view::Screen::EditInsurance => Screen::EditInsurance,
        view::Screen::CoPay => Screen::Copay,
        view::Screen::PayPhone => Screen::PayPhone,
        view::Screen::Done => Screen::Done,
        view::Screen::Help => Screen::Help,
    }
}
