//! The view model: everything the kiosk screen shows, as plain Rust values.
//! The controller builds it from the flow; the adapters copy it into the
//! Slint globals. Tests read it without a window.

use crate::domain::{CoPayChoice, Field, Language, PassProblem, ReasonCode};

/// The screen that shows; mirrors the UI's `Screen` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Welcome.
    Welcome,
    /// The date-of-birth keypad.
    EnterDob,
    /// The last-name keyboard.
    EnterName,
    /// A lookup missed.
    NotFound,
    /// Several matches.
    Choose,
    /// A refused pass.
    PassRejected,
    /// Sent to the front desk.
    SeeDesk,
    /// Masked demographics.
    Demographics,
    /// Editing demographics.
    EditDemographics,
    /// Coverage on file.
    Insurance,
    /// Editing coverage.
    EditInsurance,
    /// The amount due.
    CoPay,
    /// The payment QR code.
    PayPhone,
    /// Checked in.
    Done,
    /// Help is coming.
    Help,
    /// A page of the intake forms: a question, the consent, or the
    /// thank-you after the last form. [`ViewModel::form`] says which.
    Form,
}

/// What is wrong with the date typed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DobProblem {
    /// Fewer than eight digits.
    Incomplete,
    /// Month outside 01–12.
    Month,
    /// No such day in that month.
    Day,
    /// A year before 1900.
    Year,
    /// After today.
    Future,
}

/// What is wrong with the typed last-name letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Fewer letters than the configured prefix length, and no short name matched.
    TooShort,
    /// Too many misses on this kiosk; wait before the next search.
    Wait,
}

/// What is wrong with an edit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditProblem {
    /// Nothing was typed.
    NothingTyped,
    /// Neither a street nor a phone would be on file after the change.
    NeedStreetOrPhone,
    /// No insurance company.
    MissingPayer,
    /// No member ID.
    MissingMemberId,
    /// A field the others make necessary was left empty: the emergency
    /// contact's name or phone.
    Required(Field),
    /// A typed value breaks this field's rule.
    Invalid(Field),
}

/// Why the patient is sent to the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskReason {
    /// A stopping rule fired.
    Rule(ReasonCode),
    /// The kiosk could not save the step; nothing was recorded.
    Fault,
}

/// "Maria G. — 10:30 AM with Dr. Patel".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityView {
    /// "Maria G."
    pub name: String,
    /// The start time in the clinic's zone, in the patient's language's style.
    pub time: String,
    /// The clinician's display name.
    pub clinician: String,
}

/// One of several matches: time and clinician only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceView {
    /// The start time.
    pub time: String,
    /// The clinician.
    pub clinician: String,
}

/// The masked coverage on file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsuranceView {
    /// Whether any coverage is on file.
    pub has_coverage: bool,
    /// Whether it is out of force today.
    pub expired: bool,
    /// The insurer.
    pub payer: String,
    /// The plan.
    pub plan: String,
    /// `••••1234`.
    pub member_id: String,
    /// Whether "I have no insurance" waits for the patient to confirm it.
    pub confirm_no_insurance: bool,
}

/// The co-pay screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoPayView {
    /// "$25.00": the plan's co-pay, or the clinic's self-pay amount; empty
    /// when the patient is self-pay and the clinic set no amount.
    pub amount: String,
    /// Whether the patient said they have no insurance.
    pub self_pay: bool,
    /// A prior balance, formatted, or empty.
    pub balance: String,
    /// Whether "Pay on my phone" is offered.
    pub allow_phone: bool,
    /// Whether "Bill me later" is offered.
    pub allow_bill_later: bool,
}

/// The payment QR code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayPhoneView {
    /// The link the QR code holds.
    pub url: String,
    /// The reference shown under it.
    pub reference: String,
    /// "$25.00".
    pub amount: String,
}

/// The Done screen: what the patient chose, and so what happens next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoneView {
    /// How they chose to pay; `None` when nothing was due.
    pub choice: Option<CoPayChoice>,
    /// The amount of that choice, formatted, or empty when not known.
    pub amount: String,
    /// Whether they are self-pay.
    pub self_pay: bool,
}

/// What a missed lookup was made with, masked for the "not found" screen:
/// enough for the patient to spot a typo, not enough for a passer-by to
/// read a whole date of birth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotFoundView {
    /// Month and day in full, the year's last two digits: "05 / 17 / ••80".
    pub dob: String,
    /// The letters typed, as typed (a few letters, not a name on file).
    pub letters: String,
    /// Lookups left before help is called.
    pub attempts_left: u32,
}

/// A field of the demographics form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DemographicsField {
    /// Street and number.
    #[default]
    Street,
    /// Apartment, suite or unit (address line 2).
    Apartment,
    /// City.
    City,
    /// State.
    State,
    /// ZIP code.
    Zip,
    /// Phone.
    Phone,
    /// Email.
    Email,
    /// The emergency contact's name.
    ContactName,
    /// The emergency contact's phone.
    ContactPhone,
    /// How the emergency contact relates to the patient.
    ContactRelation,
}

impl DemographicsField {
    /// Every field, in the form's order.
    pub const ALL: [Self; 10] = [
        Self::Street,
        Self::Apartment,
        Self::City,
        Self::State,
        Self::Zip,
        Self::Phone,
        Self::Email,
        Self::ContactName,
        Self::ContactPhone,
        Self::ContactRelation,
    ];

    /// The domain rule the field's value follows.
    pub fn rule(self) -> Field {
        match self {
            Self::Street => Field::AddressLine1,
            Self::Apartment => Field::AddressLine2,
            Self::City => Field::City,
            Self::State => Field::State,
            Self::Zip => Field::PostalCode,
            Self::Phone => Field::Phone,
            Self::Email => Field::Email,
            Self::ContactName => Field::ContactName,
            Self::ContactPhone => Field::ContactPhone,
            Self::ContactRelation => Field::ContactRelation,
        }
    }

    /// Whether the field belongs to the emergency contact.
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            Self::ContactName | Self::ContactPhone | Self::ContactRelation
        )
    }

    /// The most characters the on-screen keyboard types into it: what fits
    /// the field's chip, and never more than the rule allows.
    pub fn typing_limit(self) -> usize {
        let fits = match self {
            Self::Street | Self::Email | Self::ContactName => 80,
            Self::City | Self::Apartment | Self::ContactRelation => 40,
            Self::State => 30,
            Self::Zip => 12,
            Self::Phone | Self::ContactPhone => 20,
        };
        self.rule().max_chars().min(fits)
    }
}

/// A field of the insurance form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum InsuranceField {
    /// The insurance company.
    #[default]
    Payer,
    /// The member ID.
    MemberId,
    /// The group number.
    Group,
}

impl InsuranceField {
    /// Every field, in the form's order.
    pub const ALL: [Self; 3] = [Self::Payer, Self::MemberId, Self::Group];

    /// The domain rule the field's value follows.
    pub fn rule(self) -> Field {
        match self {
            Self::Payer => Field::Payer,
            Self::MemberId => Field::MemberId,
            Self::Group => Field::Group,
        }
    }

    /// The most characters the on-screen keyboard types into it.
    pub fn typing_limit(self) -> usize {
        let fits = match self {
            Self::Payer => 60,
            Self::MemberId | Self::Group => 30,
        };
        self.rule().max_chars().min(fits)
    }
}

/// A field of whichever form is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormField {
    /// A demographics field.
    Demographics(DemographicsField),
    /// An insurance field.
    Insurance(InsuranceField),
}

impl From<DemographicsField> for FormField {
    fn from(f: DemographicsField) -> Self {
        Self::Demographics(f)
    }
}

impl From<InsuranceField> for FormField {
    fn from(f: InsuranceField) -> Self {
        Self::Insurance(f)
    }
}

/// What was typed into a form, by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormValues<F, const N: usize> {
    /// The values, in the order of the field enum's variants.
    values: [String; N],
    /// The field type that indexes them.
    fields: std::marker::PhantomData<F>,
}

impl<F, const N: usize> Default for FormValues<F, N> {
    fn default() -> Self {
        Self {
            values: std::array::from_fn(|_| String::new()),
            fields: std::marker::PhantomData,
        }
    }
}

impl<F, const N: usize> FormValues<F, N> {
    /// Every value, in the form's order.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.values.iter()
    }
}

macro_rules! form_index {
    ($field:ty, $n:literal) => {
        impl std::ops::Index<$field> for FormValues<$field, $n> {
            type Output = String;
            fn index(&self, f: $field) -> &String {
                &self.values[f as usize]
            }
        }
        impl std::ops::IndexMut<$field> for FormValues<$field, $n> {
            fn index_mut(&mut self, f: $field) -> &mut String {
                &mut self.values[f as usize]
            }
        }
    };
}
form_index!(DemographicsField, 10);
form_index!(InsuranceField, 3);

/// The demographics edit form: what the patient typed, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditDemographicsView {
    /// What was typed into each field.
    pub fields: FormValues<DemographicsField, 10>,
    /// The field the keyboard types into.
    pub active: DemographicsField,
    /// What is wrong, if anything.
    pub problem: Option<EditProblem>,
}

/// The coverage edit form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditInsuranceView {
    /// What was typed into each field.
    pub fields: FormValues<InsuranceField, 3>,
    /// The field the keyboard types into.
    pub active: InsuranceField,
    /// What is wrong, if anything.
    pub problem: Option<EditProblem>,
}

// One page of the intake forms, what it asks for and what is wrong with
// its answer: the domain's form page as it stands, since it holds only
// what the screen shows, in the session's language.
pub use crate::domain::forms_session::{
    PageKind as FormItemKind, PageProblem as FormProblem, PageView as FormView,
};

/// Everything the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewModel {
    /// The screen.
    pub screen: Screen,
    /// The patient's language.
    pub language: Language,
    /// The step among those this patient sees (Identify when they typed,
    /// Details unless skipped, Insurance, Payment when due); 0 hides it.
    pub progress: u8,
    /// How many steps this patient sees.
    pub progress_steps: u8,
    /// The identity banner, after a match.
    pub identity: Option<IdentityView>,
    /// A rule that let check-in carry on.
    pub notice: Option<ReasonCode>,
    /// Whether the idle warning shows.
    pub idle_warning: bool,
    /// The date as typed over the guide: "05 / 1D / YYYY".
    pub dob_display: String,
    /// The digits typed.
    pub dob_digits: String,
    /// What is wrong with the date.
    pub dob_problem: Option<DobProblem>,
    /// The last-name letters typed.
    pub name_letters: String,
    /// How many letters are asked for.
    pub name_prefix_len: usize,
    /// What is wrong with the letters.
    pub name_problem: Option<NameProblem>,
    /// Seconds before the next search is allowed.
    pub name_wait_seconds: u32,
    /// The missed lookup, masked.
    pub not_found: NotFoundView,
    /// The matches to choose from.
    pub choices: Vec<ChoiceView>,
    /// Why a pass was refused.
    pub pass_problem: Option<PassProblem>,
    /// Why the patient is at the desk screen.
    pub desk_reason: Option<DeskReason>,
    /// Masked demographics.
    pub demographics: crate::domain::MaskedDemographics,
    /// The demographics form.
    pub edit_demographics: EditDemographicsView,
    /// Masked coverage.
    pub insurance: InsuranceView,
    /// The coverage form.
    pub edit_insurance: EditInsuranceView,
    /// The co-pay.
    pub copay: CoPayView,
    /// The payment QR code.
    pub pay_phone: PayPhoneView,
    /// The Done screen.
    pub done: DoneView,
    /// Whether help can return to the step (false after repeated misses).
    pub help_can_resume: bool,
    /// The form page, on [`Screen::Form`]; default elsewhere.
    pub form: FormView,
}
