//! Money as integer minor units (cents) with an ISO 4217 currency code; never floats.

use std::fmt;
use std::str::FromStr;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not three ASCII letters.
    #[error("currency code {0:?} is not a three-letter ISO 4217 code such as USD")]
    BadCurrency(String),
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    /// An amount overflowed the range of 64-bit cents.
    #[error("amount overflow")]
    Overflow,
}

/// A three-letter ISO 4217 currency code, stored upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// United States dollar, the default for a clinic with no configured currency.
    pub const USD: Currency = Currency(*b"USD");

    /// The code as text, for example `"USD"`.
    pub fn code(&self) -> &str {
        // The bytes are checked to be ASCII letters on construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The symbol shown before an amount, where a common one exists.
    fn symbol(&self) -> Option<&'static str> {
        match &self.0 {
            b"USD" | b"CAD" | b"AUD" | b"NZD" | b"MXN" => Some("$"),
            b"EUR" => Some("€"),
            b"GBP" => Some("£"),
            _ => None,
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::BadCurrency(s.to_string()));
        }
        let mut code = [0u8; 3];
        for (slot, b) in code.iter_mut().zip(bytes) {
            *slot = b.to_ascii_uppercase();
        }
        Ok(Currency(code))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money in integer minor units (cents) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// The amount in cents; negative amounts are credits.
    pub cents: i64,
    /// The currency the cents are counted in.
    pub currency: Currency,
}

impl Money {
    /// An amount of `cents` in `currency`.
    pub const fn new(cents: i64, currency: Currency) -> Self {
        Self { cents, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self { cents: 0, currency }
    }

    /// True when the amount is more than zero.
    pub fn is_positive(&self) -> bool {
        self.cents > 0
    }

    /// The sum of two amounts in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let cents = self
            .cents
            .checked_add(other.cents)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(cents, self.currency))
    }
}

impl fmt::Display for Money {
    /// Formats as `$25.00`, `-$3.50` or `1,234.00 CHF` where no symbol is known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let abs = self.cents.unsigned_abs();
        let whole = group_thousands(abs / 100);
        let frac = abs % 100;
        match self.currency.symbol() {
            Some(sym) => write!(f, "{sign}{sym}{whole}.{frac:02}"),
            None => write!(f, "{sign}{whole}.{frac:02} {}", self.currency),
        }
    }
}

fn group_thousands(mut n: u64) -> String {
    let mut groups = Vec::new();
    loop {
        if n < 1000 {
            groups.push(n.to_string());
            break;
        }
        groups.push(format!("{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_normalised_and_checked() {
        assert_eq!("usd".parse::<Currency>().unwrap(), Currency::USD);
        assert_eq!("EUR".parse::<Currency>().unwrap().code(), "EUR");
        assert!(matches!(
            "US".parse::<Currency>(),
            Err(MoneyError::BadCurrency(_))
        ));
        assert!("US1".parse::<Currency>().is_err());
        assert!("DOLLAR".parse::<Currency>().is_err());
    }

    #[test]
    fn amounts_format_with_cents_and_grouping() {
        assert_eq!(Money::new(2500, Currency::USD).to_string(), "$25.00");
        assert_eq!(Money::new(5, Currency::USD).to_string(), "$0.05");
        assert_eq!(Money::new(-350, Currency::USD).to_string(), "-$3.50");
        assert_eq!(
            Money::new(123456789, Currency::USD).to_string(),
            "$1,234,567.89"
        );
        let chf: Currency = "CHF".parse().unwrap();
        assert_eq!(Money::new(100000, chf).to_string(), "1,000.00 CHF");
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(Money::new(1999, eur).to_string(), "€19.99");
    }

    #[test]
    fn addition_is_checked() {
        let a = Money::new(1050, Currency::USD);
        assert_eq!(a.checked_add(a).unwrap().cents, 2100);
        let eur: Currency = "EUR".parse().unwrap();
        assert!(matches!(
            a.checked_add(Money::new(1, eur)),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
        assert_eq!(
            Money::new(i64::MAX, Currency::USD).checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(i64::MIN, Currency::USD).to_string(),
            "-$92,233,720,368,547,758.08"
        );
    }
}
