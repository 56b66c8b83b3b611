//! Masking of PHI for display on the kiosk after a match: "Maria G.",
//! `••••1234`, and partial address, phone and email.
//!
//! Every function works on characters, not bytes, so accented and non-Latin
//! text is never split inside a character, and every function accepts empty
//! input and returns an empty string for it.

use unicode_normalization::UnicodeNormalization;

use super::types::{Address, Demographics};

/// The character that stands in for a hidden one.
pub const MASK: char = '•';

/// "Maria G.": the first name in full and the last initial.
///
/// Only the first given name is shown ("Maria José" shows "Maria"), and the
/// initial is the first letter of the last name, upper-cased ("de la Cruz"
/// gives "D.").
pub fn patient_display_name(first_name: &str, last_name: &str) -> String {
    let first: String = first_name
        .nfc()
        .collect::<String>()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    let initial: String = last_name
        .nfc()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    match (first.is_empty(), initial.is_empty()) {
        (false, false) => format!("{first} {initial}."),
        (false, true) => first,
        (true, false) => format!("{initial}."),
        (true, true) => String::new(),
    }
}

/// A member ID with all but its last four characters hidden: `••••1234`.
///
/// At least four characters always stay hidden, so a short ID shows fewer
/// of its characters (a six-character ID shows its last two) and an ID of
/// four characters or fewer shows none.
pub fn mask_member_id(member_id: &str) -> String {
    let chars: Vec<char> = member_id
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if chars.is_empty() {
        return String::new();
    }
    let shown = chars.len().saturating_sub(4).min(4);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    format!("{}{tail}", MASK.to_string().repeat(4))
}

/// A phone number with only its last four digits shown: `•••-•••-4567`.
///
/// Numbers with fewer than eight digits show only their last two.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return String::new();
    }
    let shown = if digits.len() >= 8 { 4 } else { 2 }.min(digits.len() / 2);
    let tail: String = digits[digits.len() - shown..].iter().collect();
    let m = MASK.to_string();
    format!("{}-{}-{tail}", m.repeat(3), m.repeat(3))
}

/// An email with the first character of the mailbox and of the domain shown,
/// and the top-level domain: `m•••@g•••.com`.
pub fn mask_email(email: &str) -> String {
    let email = email.trim();
    if email.is_empty() {
        return String::new();
    }
    let m = MASK.to_string().repeat(3);
    let Some((local, domain)) = email.rsplit_once('@') else {
        return first_then_mask(email);
    };
    let local = first_then_mask(local);
    let (host, tld) = match domain.rsplit_once('.') {
        Some((host, tld)) if !host.is_empty() => (host, format!(".{tld}")),
        _ => (domain, String::new()),
    };
    let host = host.chars().next().map(|c| format!("{c}{m}")).unwrap_or(m);
    format!("{local}@{host}{tld}")
}

fn first_then_mask(s: &str) -> String {
    let m = MASK.to_string().repeat(3);
    s.chars()
        .next()
        .map(|c| format!("{c}{m}"))
        .unwrap_or_else(|| m.clone())
}

/// Hides all but the first character of each word: "742 Evergreen Terrace"
/// becomes "7•• E•••••••• T••••••".
fn mask_words(s: &str) -> String {
    s.split_whitespace()
        .map(|word| {
            word.nfc()
                .enumerate()
                .map(|(i, c)| if i == 0 { c } else { MASK })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A partial address: the street line and unit masked to their first
/// characters, the city and region in full, and the first two characters of
/// the postal code. Empty parts are left out.
pub fn mask_address(address: &Address) -> String {
    let postal: String = {
        let chars: Vec<char> = address.postal_code.trim().chars().collect();
        if chars.is_empty() {
            String::new()
        } else {
            let shown = chars.len().min(2);
            let tail = MASK.to_string().repeat(chars.len() - shown);
            format!("{}{tail}", chars[..shown].iter().collect::<String>())
        }
    };
    let region_line = [address.region.trim(), postal.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    [
        mask_words(&address.line1),
        mask_words(&address.line2),
        address.city.trim().to_string(),
        region_line,
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

/// Demographics as the kiosk may show them after a match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedDemographics {
    /// See [`mask_address`].
    pub address: String,
    /// See [`mask_phone`].
    pub phone: String,
    /// See [`mask_email`].
    pub email: String,
    /// The contact's display name and masked phone, or empty.
    pub emergency_contact: String,
}

impl MaskedDemographics {
    /// Masks every field of `d`.
    pub fn from_demographics(d: &Demographics) -> Self {
        let emergency_contact = d
            .emergency_contact
            .as_ref()
            .map(|c| {
                let mut parts = c.name.split_whitespace();
                let first = parts.next().unwrap_or("");
                let last = parts.next_back().unwrap_or("");
                let name = patient_display_name(first, last);
                let phone = mask_phone(&c.phone);
                [name, phone]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default();
        Self {
            address: mask_address(&d.address),
            phone: mask_phone(&d.phone),
            email: mask_email(&d.email),
            emergency_contact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::EmergencyContact;

    #[test]
    fn display_name_is_first_name_and_last_initial() {
        assert_eq!(patient_display_name("Maria", "Garcia"), "Maria G.");
        assert_eq!(patient_display_name("Maria José", "Núñez"), "Maria N.");
        assert_eq!(patient_display_name("Ana", "de la Cruz"), "Ana D.");
        assert_eq!(patient_display_name("Sean", "O'Brien"), "Sean O.");
        assert_eq!(patient_display_name("Zoë", "Ødegaard"), "Zoë Ø.");
        assert_eq!(patient_display_name("Jo", "Ng"), "Jo N.");
        assert_eq!(patient_display_name("Émile", "élan"), "Émile É.");
        assert_eq!(patient_display_name("李", "王"), "李 王.");
    }

    #[test]
    fn display_name_handles_empty_parts_and_decomposed_accents() {
        assert_eq!(patient_display_name("Maria", ""), "Maria");
        assert_eq!(patient_display_name("", "Garcia"), "G.");
        assert_eq!(patient_display_name("  ", " "), "");
        // "É" written as E + combining acute is composed before the initial is taken.
        assert_eq!(patient_display_name("Ana", "E\u{301}lan"), "Ana É.");
    }

    #[test]
    fn member_ids_show_at_most_their_last_four() {
        assert_eq!(mask_member_id("XYZ123451234"), "••••1234");
        assert_eq!(mask_member_id("ABCD-1234-5678"), "••••5678");
        assert_eq!(mask_member_id("12345678"), "••••5678");
        assert_eq!(mask_member_id("123456"), "••••56");
        assert_eq!(mask_member_id("1234"), "••••");
        assert_eq!(mask_member_id("1"), "••••");
        assert_eq!(mask_member_id(""), "");
        assert_eq!(mask_member_id("ÄÖÜ12345"), "••••2345");
    }

    #[test]
    fn phones_show_their_last_digits() {
        assert_eq!(mask_phone("(555) 123-4567"), "•••-•••-4567");
        assert_eq!(mask_phone("+1 555 123 4567"), "•••-•••-4567");
        assert_eq!(mask_phone("12345"), "•••-•••-45");
        assert_eq!(mask_phone("12"), "•••-•••-2");
        assert_eq!(mask_phone("n/a"), "");
        assert_eq!(mask_phone(""), "");
    }

    #[test]
    fn emails_keep_first_letters_and_tld() {
        assert_eq!(mask_email("maria.garcia@gmail.com"), "m•••@g•••.com");
        assert_eq!(mask_email("ñandú@correo.es"), "ñ•••@c•••.es");
        assert_eq!(mask_email("a@b.co.uk"), "a•••@b•••.uk");
        assert_eq!(mask_email("@example.org"), "•••@e•••.org");
        assert_eq!(mask_email("nodomain"), "n•••");
        assert_eq!(mask_email("x@localhost"), "x•••@l•••");
        assert_eq!(mask_email("   "), "");
    }

    #[test]
    fn addresses_are_partial() {
        let a = Address {
            line1: "742 Evergreen Terrace".into(),
            line2: "Apt 5".into(),
            city: "Springfield".into(),
            region: "OR".into(),
            postal_code: "97403".into(),
        };
        assert_eq!(
            mask_address(&a),
            "7•• E•••••••• T••••••, A•• 5, Springfield, OR 97•••"
        );
        let b = Address {
            line1: "Calle Núñez 12".into(),
            city: "Ciudad de México".into(),
            ..Address::default()
        };
        assert_eq!(mask_address(&b), "C•••• N•••• 1•, Ciudad de México");
        assert_eq!(mask_address(&Address::default()), "");
    }

    #[test]
    fn demographics_mask_every_field() {
        let d = Demographics {
            address: Address {
                line1: "1 Main St".into(),
                city: "Reno".into(),
                ..Address::default()
            },
            phone: "775-555-0100".into(),
            email: "pat@example.com".into(),
            emergency_contact: Some(EmergencyContact {
                name: "José Luis Peña".into(),
                relation: "brother".into(),
                phone: "775-555-0199".into(),
            }),
        };
        let m = MaskedDemographics::from_demographics(&d);
        assert_eq!(m.address, "1 M••• S•, Reno");
        assert_eq!(m.phone, "•••-•••-0100");
        assert_eq!(m.email, "p•••@e•••.com");
        assert_eq!(m.emergency_contact, "José P. · •••-•••-0199");
        let empty = MaskedDemographics::from_demographics(&Demographics::default());
        assert_eq!(empty, MaskedDemographics::default());
    }
}
