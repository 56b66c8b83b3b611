//! What may be typed into each field, by patients at the kiosk, by staff in
//! the console, and by kiosks on the wire: length limits, allowed characters,
//! and the formats of phone numbers, email addresses, ZIP codes, US state
//! codes, names and member IDs.
//!
//! The kiosk checks a patient's edits with these rules before it records
//! them, and the clinic server applies the same rules to what arrives, so the
//! server refuses exactly what the kiosk would. No error message carries the
//! value that was refused: values are PHI.

use super::types::{CoverageUpdate, Demographics, EmergencyContact};

/// A field with its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Street and number.
    AddressLine1,
    /// Apartment, suite or unit.
    AddressLine2,
    /// City or town.
    City,
    /// US state or territory code.
    State,
    /// ZIP code.
    PostalCode,
    /// The patient's phone.
    Phone,
    /// The patient's email.
    Email,
    /// The emergency contact's name.
    ContactName,
    /// The emergency contact's relationship to the patient.
    ContactRelation,
    /// The emergency contact's phone.
    ContactPhone,
    /// The insurance company.
    Payer,
    /// The insurance member ID.
    MemberId,
    /// The insurance group number.
    Group,
    /// A given or family name.
    PersonName,
    /// A short free text: a flag's text, a staff note.
    Note,
    /// A kiosk's display name.
    KioskName,
    /// A program version string.
    AppVersion,
    /// An identifier: appointment, patient, clinic, step or kind names.
    Id,
}

impl Field {
    /// Every field, for tests and tables.
    pub const ALL: [Field; 18] = [
        Self::AddressLine1,
        Self::AddressLine2,
        Self::City,
        Self::State,
        Self::PostalCode,
        Self::Phone,
        Self::Email,
        Self::ContactName,
        Self::ContactRelation,
        Self::ContactPhone,
        Self::Payer,
        Self::MemberId,
        Self::Group,
        Self::PersonName,
        Self::Note,
        Self::KioskName,
        Self::AppVersion,
        Self::Id,
    ];

    /// The wire path of the field, used in error messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AddressLine1 => "address.line1",
            Self::AddressLine2 => "address.line2",
            Self::City => "address.city",
            Self::State => "address.region",
            Self::PostalCode => "address.postal_code",
            Self::Phone => "phone",
            Self::Email => "email",
            Self::ContactName => "emergency_contact.name",
            Self::ContactRelation => "emergency_contact.relation",
            Self::ContactPhone => "emergency_contact.phone",
            Self::Payer => "payer",
            Self::MemberId => "member_id",
            Self::Group => "group",
            Self::PersonName => "name",
            Self::Note => "note",
            Self::KioskName => "kiosk_name",
            Self::AppVersion => "app_version",
            Self::Id => "id",
        }
    }

    /// The most characters the field holds.
    pub fn max_chars(&self) -> usize {
        match self {
            Self::AddressLine1 => 100,
            Self::AddressLine2 => 60,
            Self::City => 60,
            Self::State => 2,
            Self::PostalCode => 10,
            Self::Phone | Self::ContactPhone => 20,
            Self::Email => 254,
            Self::ContactName | Self::PersonName => 100,
            Self::ContactRelation => 40,
            Self::Payer => 80,
            Self::MemberId | Self::Group => 30,
            Self::Note => 1000,
            Self::KioskName => 60,
            Self::AppVersion => 40,
            Self::Id => 64,
        }
    }

    /// Whether `c` may appear in the field at all. Formats (phone, email,
    /// ZIP, state) are checked on top of this by [`check`].
    pub fn allows(&self, c: char) -> bool {
        if is_invisible(c) {
            return false;
        }
        match self {
            Self::AddressLine1 | Self::AddressLine2 => {
                is_letter(c) || c.is_ascii_digit() || " .,'’#-/&()".contains(c)
            }
            Self::City | Self::PersonName | Self::ContactName | Self::ContactRelation => {
                is_letter(c) || " '’-".contains(c) || (*self == Self::City && c == '.')
            }
            Self::State => c.is_ascii_alphabetic(),
            Self::PostalCode => c.is_ascii_digit() || c == '-',
            Self::Phone | Self::ContactPhone => c.is_ascii_digit() || " +-.()".contains(c),
            Self::Email => c.is_ascii_graphic() && !"\"(),:;<>[\\]".contains(c),
            Self::Payer => is_letter(c) || c.is_ascii_digit() || " .,'’&-/()+".contains(c),
            Self::MemberId | Self::Group => c.is_ascii_alphanumeric() || c == '-' || c == ' ',
            Self::Note => true,
            Self::KioskName => is_letter(c) || c.is_ascii_digit() || " .,'’#-_/()".contains(c),
            Self::AppVersion => c.is_ascii_alphanumeric() || ".+-_~ ()".contains(c),
            Self::Id => c.is_ascii_graphic(),
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a value was refused. Messages name the field, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The field is required and was left empty.
    #[error("{0} is required")]
    Empty(Field),
    /// Longer than [`Field::max_chars`].
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: Field,
        /// Its limit.
        max: usize,
    },
    /// A control character, a direction override or another invisible
    /// formatting character.
    #[error("{field} contains an invisible or control character (U+{code:04X})")]
    Invisible {
        /// The field.
        field: Field,
        /// The code point.
        code: u32,
    },
    /// A visible character the field does not allow.
    #[error("{field} contains a character that is not allowed there (U+{code:04X})")]
    BadCharacter {
        /// The field.
        field: Field,
        /// The code point.
        code: u32,
    },
    /// Not a 10-digit North American number.
    #[error("{0} must be a 10-digit US phone number, such as 212-555-0123")]
    Phone(Field),
    /// Not of the shape `name@example.org`.
    #[error("email must be an address such as name@example.org")]
    Email,
    /// Neither 5 nor 9 digits.
    #[error("address.postal_code must be a 5-digit or 9-digit ZIP code")]
    PostalCode,
    /// Not a US state or territory code.
    #[error("address.region must be a two-letter US state or territory code, such as NY")]
    State,
    /// A member ID or group shorter than its minimum.
    #[error("{field} must have at least {min} letters or digits")]
    TooShort {
        /// The field.
        field: Field,
        /// Its minimum.
        min: usize,
    },
}

impl FieldError {
    /// The field that was refused.
    pub fn field(&self) -> Field {
        match *self {
            Self::Empty(f) | Self::Phone(f) => f,
            Self::TooLong { field, .. }
            | Self::Invisible { field, .. }
            | Self::BadCharacter { field, .. }
            | Self::TooShort { field, .. } => field,
            Self::Email => Field::Email,
            Self::PostalCode => Field::PostalCode,
            Self::State => Field::State,
        }
    }
}

/// Letters of any alphabet, with their combining accents.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() || ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Control characters, bidirectional overrides and isolates, zero-width and
/// other invisible formatting characters, and line separators: characters
/// that can hide or reorder text on a screen. Never allowed anywhere, except
/// that [`Field::Note`] keeps line breaks.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// The limits every string shares: its length and its characters. Empty is
/// allowed; see [`require`].
pub fn check_chars(field: Field, value: &str) -> Result<(), FieldError> {
    let max = field.max_chars();
    if value.chars().count() > max {
        return Err(FieldError::TooLong { field, max });
    }
    let line_break = |c: char| field == Field::Note && matches!(c, '\n' | '\r' | '\t');
    // Hidden characters first: they are the worse problem.
    if let Some(c) = value.chars().find(|&c| is_invisible(c) && !line_break(c)) {
        return Err(FieldError::Invisible {
            field,
            code: c as u32,
        });
    }
    match value.chars().find(|&c| !field.allows(c) && !line_break(c)) {
        Some(c) => Err(FieldError::BadCharacter {
            field,
            code: c as u32,
        }),
        None => Ok(()),
    }
}

/// The full rule of `field`: [`check_chars`], then its format. An empty
/// value passes; whether a field is required is up to the caller.
pub fn check(field: Field, value: &str) -> Result<(), FieldError> {
    if let Err(e) = check_chars(field, value) {
        // A letter in a phone number says more as "not a phone number".
        return Err(match (e, format_error(field)) {
            (FieldError::BadCharacter { .. }, Some(format)) => format,
            _ => e,
        });
    }
    let v = value.trim();
    if v.is_empty() {
        return Ok(());
    }
    match field {
        Field::Phone | Field::ContactPhone => check_phone(field, v),
        Field::Email => check_email(v),
        Field::PostalCode => check_zip(v),
        Field::State => check_state(v),
        Field::MemberId => check_min_alnum(field, v, 3),
        Field::PersonName | Field::ContactName | Field::City | Field::ContactRelation => {
            check_min_alnum(field, v, 1)
        }
        _ => Ok(()),
    }
}

/// The error of a field with a format, for any value that breaks it.
fn format_error(field: Field) -> Option<FieldError> {
    match field {
        Field::Phone | Field::ContactPhone => Some(FieldError::Phone(field)),
        Field::Email => Some(FieldError::Email),
        Field::PostalCode => Some(FieldError::PostalCode),
        Field::State => Some(FieldError::State),
        _ => None,
    }
}

/// [`check`], and the value must not be blank.
pub fn require(field: Field, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::Empty(field));
    }
    check(field, value)
}

fn check_min_alnum(field: Field, v: &str, min: usize) -> Result<(), FieldError> {
    if v.chars().filter(|c| c.is_alphanumeric()).count() < min {
        return Err(FieldError::TooShort { field, min });
    }
    Ok(())
}

/// The 10 digits of a North American (NANP) number, without a leading
/// country code 1, or `None` when it is not one. Area code and exchange
/// start with 2–9, and the area code is not an N11 service code.
pub fn phone_digits(value: &str) -> Option<String> {
    let mut digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let only_punctuation = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    let plus_ok = !value.contains('+') || value.trim_start().starts_with("+1");
    if !only_punctuation || !plus_ok {
        return None;
    }
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    let d = digits.as_bytes();
    let valid = d.len() == 10
        && (b'2'..=b'9').contains(&d[0])
        && !(d[1] == b'1' && d[2] == b'1')
        && (b'2'..=b'9').contains(&d[3]);
    valid.then_some(digits)
}

fn check_phone(field: Field, v: &str) -> Result<(), FieldError> {
    phone_digits(v).map(|_| ()).ok_or(FieldError::Phone(field))
}

/// `local@domain.tld`: a local part of up to 64 characters without leading,
/// trailing or double dots, and a domain of at least two labels of letters,
/// digits and inner hyphens, ending in an alphabetic top-level label.
pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

fn check_email(v: &str) -> Result<(), FieldError> {
    if is_email(v) {
        Ok(())
    } else {
        Err(FieldError::Email)
    }
}

fn check_zip(v: &str) -> Result<(), FieldError> {
    let b = v.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let ok = match b.len() {
        5 | 9 => digits(b),
        10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(FieldError::PostalCode)
    }
}

/// The US states, the District of Columbia, the inhabited territories and
/// the military postal codes.
pub const US_STATES: [&str; 59] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI", "AA", "AE", "AP",
];

fn check_state(v: &str) -> Result<(), FieldError> {
    let upper = v.to_ascii_uppercase();
    if US_STATES.contains(&upper.as_str()) {
        Ok(())
    } else {
        Err(FieldError::State)
    }
}

/// Checks proposed demographics against what is on file. Every string gets
/// its length and character limits; the formats are checked on the values
/// that differ from the file, which are the ones the patient typed. What
/// came from the EHR or an import is taken as it is.
pub fn check_demographics_change(
    proposed: &Demographics,
    on_file: &Demographics,
) -> Result<(), FieldError> {
    let (p, f) = (&proposed.address, &on_file.address);
    let pairs = [
        (Field::AddressLine1, &p.line1, &f.line1),
        (Field::AddressLine2, &p.line2, &f.line2),
        (Field::City, &p.city, &f.city),
        (Field::State, &p.region, &f.region),
        (Field::PostalCode, &p.postal_code, &f.postal_code),
        (Field::Phone, &proposed.phone, &on_file.phone),
        (Field::Email, &proposed.email, &on_file.email),
    ];
    for (field, new, old) in pairs {
        check_changed(field, new, old)?;
    }
    if let Some(c) = &proposed.emergency_contact {
        let none = EmergencyContact::default();
        let old = on_file.emergency_contact.as_ref().unwrap_or(&none);
        check_contact(c, old)?;
    }
    Ok(())
}

/// The limits every demographics value must meet, typed or on file: each
/// string's length, and no invisible characters.
pub fn check_stored_demographics(d: &Demographics) -> Result<(), FieldError> {
    check_demographics_change(d, d)
}

fn check_changed(field: Field, new: &str, old: &str) -> Result<(), FieldError> {
    if new == old {
        // As on file: only the shared limits, which stop an oversized or
        // hidden-character value from ever travelling further.
        check_chars_lenient(field, new)
    } else {
        check(field, new)
    }
}

/// The limits of a value kept on file (from an import or the EHR), which
/// keeps any visible character: at most the field's length or 1,000
/// characters, whichever is more, and no invisible character.
pub fn check_stored(field: Field, value: &str) -> Result<(), FieldError> {
    check_chars_lenient(field, value)
}

/// On-file values keep any visible character but obey the length limit and
/// carry no invisible characters.
fn check_chars_lenient(field: Field, value: &str) -> Result<(), FieldError> {
    let max = field.max_chars().max(Field::Note.max_chars());
    if value.chars().count() > max {
        return Err(FieldError::TooLong { field, max });
    }
    match value.chars().find(|&c| is_invisible(c)) {
        Some(c) => Err(FieldError::Invisible {
            field,
            code: c as u32,
        }),
        None => Ok(()),
    }
}

/// A new or changed emergency contact: a name and a phone are required, the
/// relationship may be left out.
fn check_contact(c: &EmergencyContact, old: &EmergencyContact) -> Result<(), FieldError> {
    if c == old {
        check_chars_lenient(Field::ContactName, &c.name)?;
        check_chars_lenient(Field::ContactRelation, &c.relation)?;
        return check_chars_lenient(Field::ContactPhone, &c.phone);
    }
    for (field, value) in [
        (Field::ContactName, &c.name),
        (Field::ContactPhone, &c.phone),
    ] {
        if value.trim().is_empty() {
            return Err(FieldError::Empty(field));
        }
    }
    check_changed(Field::ContactName, &c.name, &old.name)?;
    check_changed(Field::ContactRelation, &c.relation, &old.relation)?;
    check_changed(Field::ContactPhone, &c.phone, &old.phone)
}

/// New coverage typed at the kiosk: an insurance company and a member ID are
/// required, the group may be empty.
pub fn check_coverage_update(c: &CoverageUpdate) -> Result<(), FieldError> {
    require(Field::Payer, &c.payer)?;
    require(Field::MemberId, &c.member_id)?;
    check(Field::Group, &c.group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Address;

    #[test]
    fn phones_are_ten_digit_nanp_numbers() {
        for ok in [
            "212-555-0123",
            "(212) 555-0123",
            "2125550123",
            "+1 212 555 0123",
            "1-212-555-0123",
            "212.555.0123",
        ] {
            assert_eq!(check(Field::Phone, ok), Ok(()), "{ok}");
        }
        for bad in [
            "AIJ28",
            "555-0123",
            "012-555-0123",
            "212-055-0123",
            "911-555-0123",
            "212-555-01234",
            "+44 20 7946 0958",
            "212 555 0123 x4",
        ] {
            assert!(check(Field::Phone, bad).is_err(), "{bad}");
        }
        assert_eq!(
            check(Field::ContactPhone, "12"),
            Err(FieldError::Phone(Field::ContactPhone))
        );
        assert_eq!(
            phone_digits("+1 (212) 555-0123").as_deref(),
            Some("2125550123")
        );
    }

    #[test]
    fn emails_need_a_real_address_shape() {
        for ok in [
            "ana@example.org",
            "A.B+tag@mail.example.co",
            "x_y@sub-domain.io",
        ] {
            assert_eq!(check(Field::Email, ok), Ok(()), "{ok}");
        }
        for bad in [
            "AB",
            "ab@",
            "@example.org",
            "ab@example",
            "ab@example.c",
            "a..b@example.org",
            ".ab@example.org",
            "ab@-example.org",
            "ab@exa_mple.org",
            "ab@example.123",
            "a b@example.org",
            "ab@@example.org",
        ] {
            assert!(check(Field::Email, bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(check(Field::Email, &long_local), Err(FieldError::Email));
    }

    #[test]
    fn zip_codes_have_five_or_nine_digits() {
        for ok in ["10001", "100011234", "10001-1234"] {
            assert_eq!(check(Field::PostalCode, ok), Ok(()), "{ok}");
        }
        for bad in ["1000", "100012", "10001-123", "1000A", "10001--123"] {
            assert!(check(Field::PostalCode, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_are_us_state_or_territory_codes() {
        for ok in ["NY", "ny", "PR", "DC", "GU", "AE"] {
            assert_eq!(check(Field::State, ok), Ok(()), "{ok}");
        }
        for bad in ["XX", "N", "NYC", "N1", "ON"] {
            assert!(check(Field::State, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_take_letters_with_accents_spaces_apostrophes_and_hyphens() {
        for ok in [
            "Núñez",
            "O'Brien",
            "Brontë-Smith",
            "María José",
            "D’Angelo",
            "Zoë",
        ] {
            assert_eq!(check(Field::PersonName, ok), Ok(()), "{ok}");
            assert_eq!(check(Field::ContactName, ok), Ok(()), "{ok}");
        }
        // Combining accents, as NFD text has them.
        assert_eq!(check(Field::PersonName, "Nu\u{0301}n\u{0303}ez"), Ok(()));
        for bad in ["Ana2", "Ana!", "<b>Ana</b>", "Ana;DROP", "'-'"] {
            assert!(check(Field::PersonName, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn member_ids_and_groups_are_letters_digits_and_hyphens() {
        assert_eq!(check(Field::MemberId, "XJH-123456789"), Ok(()));
        assert_eq!(check(Field::Group, "GRP 0042"), Ok(()));
        assert_eq!(
            check(Field::MemberId, "AB"),
            Err(FieldError::TooShort {
                field: Field::MemberId,
                min: 3
            })
        );
        assert!(matches!(
            check(Field::MemberId, "ABC/123"),
            Err(FieldError::BadCharacter { .. })
        ));
        assert!(matches!(
            check(Field::Group, &"1".repeat(31)),
            Err(FieldError::TooLong { max: 30, .. })
        ));
    }

    #[test]
    fn every_field_refuses_overlong_and_invisible_text() {
        for field in Field::ALL {
            let long = "A".repeat(field.max_chars() + 1);
            assert_eq!(
                check_chars(field, &long),
                Err(FieldError::TooLong {
                    field,
                    max: field.max_chars()
                }),
                "{field}"
            );
            for c in [
                '\0', '\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}', '\u{1B}',
            ] {
                let v = format!("A{c}");
                assert_eq!(
                    check_chars(field, &v),
                    Err(FieldError::Invisible {
                        field,
                        code: c as u32
                    }),
                    "{field} {c:?}"
                );
            }
        }
        assert_eq!(check_chars(Field::Note, "line one\nline two"), Ok(()));
        assert!(check_chars(Field::KioskName, "<script>").is_err());
        assert_eq!(
            check_chars(Field::KioskName, "Lobby kiosk #2 (east)"),
            Ok(())
        );
        assert_eq!(check_chars(Field::AppVersion, "0.1.0+deb12"), Ok(()));
        assert!(check_chars(Field::Id, "no such appt").is_err());
        assert!(check_chars(Field::Id, "no/such/appt\0").is_err());
        assert_eq!(check_chars(Field::Id, "demo-001"), Ok(()));
        assert_eq!(check_chars(Field::Id, "Appointment/123"), Ok(()));
    }

    #[test]
    fn address_lines_take_the_usual_punctuation() {
        assert_eq!(check(Field::AddressLine1, "12 O'Neil St., #4-B"), Ok(()));
        assert_eq!(check(Field::AddressLine2, "Apt 4"), Ok(()));
        assert!(check(Field::AddressLine1, "12 Main St; rm -rf").is_err());
        assert_eq!(check(Field::City, "St. Paul"), Ok(()));
        assert!(check(Field::City, "Springfield 2").is_err());
    }

    fn on_file() -> Demographics {
        Demographics {
            address: Address {
                line1: "1 Main St".into(),
                line2: "Apt 4".into(),
                city: "New York".into(),
                region: "NY".into(),
                postal_code: "10001".into(),
            },
            phone: "212-555-0100".into(),
            email: "a@example.com".into(),
            emergency_contact: None,
        }
    }

    #[test]
    fn changed_fields_get_their_format_and_kept_ones_only_the_limits() {
        let file = on_file();
        let mut p = file.clone();
        p.phone = "AIJ28".into();
        assert_eq!(
            check_demographics_change(&p, &file),
            Err(FieldError::Phone(Field::Phone))
        );
        let mut p = file.clone();
        p.email = "AB".into();
        assert_eq!(check_demographics_change(&p, &file), Err(FieldError::Email));
        // A legacy value on file that the format would refuse is carried
        // along untouched...
        let mut legacy = file.clone();
        legacy.phone = "555-0100 ext 2".into();
        let mut p = legacy.clone();
        p.address.line2 = "Apt 5".into();
        assert_eq!(check_demographics_change(&p, &legacy), Ok(()));
        // ...but never an oversized one.
        let mut p = legacy.clone();
        p.address.line1 = "x".repeat(400_000);
        assert!(matches!(
            check_demographics_change(&p, &file),
            Err(FieldError::TooLong { .. })
        ));
    }

    #[test]
    fn an_emergency_contact_can_be_added_and_needs_a_name_and_phone() {
        let file = on_file();
        let mut p = file.clone();
        p.emergency_contact = Some(EmergencyContact {
            name: "Rosa Núñez".into(),
            relation: "Sister".into(),
            phone: "(212) 555-0199".into(),
        });
        assert_eq!(check_demographics_change(&p, &file), Ok(()));
        p.emergency_contact = Some(EmergencyContact {
            name: "Rosa".into(),
            relation: String::new(),
            phone: String::new(),
        });
        assert_eq!(
            check_demographics_change(&p, &file),
            Err(FieldError::Empty(Field::ContactPhone))
        );
        p.emergency_contact = Some(EmergencyContact {
            name: "R0sa".into(),
            relation: String::new(),
            phone: "2125550199".into(),
        });
        assert!(matches!(
            check_demographics_change(&p, &file),
            Err(FieldError::BadCharacter {
                field: Field::ContactName,
                ..
            })
        ));
    }

    #[test]
    fn coverage_updates_need_a_payer_and_a_member_id() {
        let ok = CoverageUpdate {
            payer: "Aetna".into(),
            member_id: "W123456789".into(),
            group: String::new(),
        };
        assert_eq!(check_coverage_update(&ok), Ok(()));
        let mut c = ok.clone();
        c.payer = " ".into();
        assert_eq!(
            check_coverage_update(&c),
            Err(FieldError::Empty(Field::Payer))
        );
        let mut c = ok.clone();
        c.member_id = "W1".into();
        assert!(check_coverage_update(&c).is_err());
        let mut c = ok;
        c.group = "G\u{202E}1".into();
        assert!(matches!(
            check_coverage_update(&c),
            Err(FieldError::Invisible { .. })
        ));
    }

    #[test]
    fn errors_never_carry_the_value() {
        let secret = "Zyxwvut@@";
        let e = check(Field::Email, secret).unwrap_err();
        assert!(!e.to_string().contains("Zyxw"), "{e}");
        assert_eq!(e.field(), Field::Email);
    }
}
