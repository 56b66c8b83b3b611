//! The configuration error type, [`ConfigError`], and the pieces it reports:
//! where in the file ([`Location`]) and what is wrong with one key
//! ([`Problem`]).

use std::fmt;
use std::path::PathBuf;

use super::check::closest;

/// A position in a configuration file, both counted from 1 as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text`. An offset past the end, or
    /// inside a multi-byte character, is clamped rather than refused.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One thing wrong with one key, found while validating values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key, such as `flow.idle_reset_secs` or `clinic[1].id`.
    pub key: String,
    /// Where the value (or, for a missing key, its table) is, when it is in
    /// the file at all.
    pub location: Option<Location>,
    /// What was expected and what was found, as a sentence fragment.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// Why a configuration file was refused. The `Display` text is a complete
/// message for a person: it names the file, the key, the line and column
/// where known, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read configuration file {}: {source}", file.display())]
    Read {
        /// The file that was asked for.
        file: PathBuf,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid TOML, so nothing in it could be checked.
    #[error("{}: invalid TOML: {message}", At(file, *location))]
    Syntax {
        /// The file.
        file: PathBuf,
        /// Where the parser gave up.
        location: Option<Location>,
        /// The parser's description of the mistake.
        message: String,
    },

    /// A key that this configuration does not have: usually a typo, or a
    /// key in the wrong table.
    #[error(
        "{}: unknown key `{key}` {}; {}",
        At(file, *location),
        TableName(table),
        Hint(key, valid)
    )]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// Where the unknown key is written.
        location: Option<Location>,
        /// The dotted path of the table holding the key; empty for the top level.
        table: String,
        /// The key as written.
        key: String,
        /// Every key the table accepts; the closest is suggested, see
        /// [`ConfigError::suggestion`].
        valid: Vec<String>,
    },

    /// A value of the wrong TOML type, such as a string where a number belongs.
    #[error("{}: `{key}`: expected {expected}, found {found}", At(file, *location))]
    WrongType {
        /// The file.
        file: PathBuf,
        /// Where the value is.
        location: Option<Location>,
        /// The dotted key.
        key: String,
        /// What this key takes, in words.
        expected: String,
        /// What the file has instead, in words.
        found: String,
    },

    /// The file's shape is wrong in a way no more specific variant covers.
    #[error("{}: {}{message}", At(file, *location), KeyPrefix(key))]
    Malformed {
        /// The file.
        file: PathBuf,
        /// Where the offending value is.
        location: Option<Location>,
        /// The dotted key; empty for the whole file.
        key: String,
        /// The deserializer's description.
        message: String,
    },

    /// The file is well-formed but values are missing, out of range,
    /// contradictory, or not a valid URL, time zone, currency or the like.
    /// Every such problem in the file is listed, not only the first.
    #[error("{}", Problems(file, problems))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every problem found, in file order where locations are known.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// For an unknown key, the valid key closest to what was written, when
    /// one is close enough to be the likely intent.
    pub fn suggestion(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, valid, .. } => closest(key, valid.iter().map(String::as_str)),
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &std::path::Path {
        match self {
            Self::Read { file, .. }
            | Self::Syntax { file, .. }
            | Self::UnknownKey { file, .. }
            | Self::WrongType { file, .. }
            | Self::Malformed { file, .. }
            | Self::Invalid { file, .. } => file,
        }
    }
}

/// Formats `file:line:column`, or `file` when the location is unknown.
struct At<'a>(&'a PathBuf, Option<Location>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(at) => write!(f, "{}:{at}", self.0.display()),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

/// "`key`: " before a message, or nothing when the message is about the
/// whole file.
struct KeyPrefix<'a>(&'a str);

impl fmt::Display for KeyPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "`{}`: ", self.0)
        }
    }
}

/// Names a table by its dotted path the way it is written in TOML.
struct TableName<'a>(&'a str);

impl fmt::Display for TableName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0;
        if path.is_empty() {
            return f.write_str("at the top level");
        }
        // An entry of an array of tables is written `[[clinic]]`; say which.
        match path.rsplit_once('[') {
            Some((array, index)) if index.ends_with(']') && !array.contains('[') => {
                let n = index
                    .trim_end_matches(']')
                    .parse::<usize>()
                    .map_or(0, |i| i + 1);
                write!(f, "in [[{array}]] entry {n}")
            }
            _ => write!(f, "in [{path}]"),
        }
    }
}

/// The end of an unknown-key message: the valid key nearest the unknown
/// one, or else every valid key.
struct Hint<'a>(&'a str, &'a [String]);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let near = closest(self.0, self.1.iter().map(String::as_str));
        match (near, self.1) {
            (Some(near), _) => write!(f, "did you mean `{near}`?"),
            (None, []) => f.write_str("this table takes no keys"),
            (None, valid) => {
                f.write_str("valid keys here are ")?;
                for (i, key) in valid.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{key}`")?;
                }
                Ok(())
            }
        }
    }
}

/// The multi-line list of problems in [`ConfigError::Invalid`].
struct Problems<'a>(&'a PathBuf, &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, problems) = (self.0, self.1);
        let noun = if problems.len() == 1 {
            "problem"
        } else {
            "problems"
        };
        write!(f, "{} has {} {noun}:", file.display(), problems.len())?;
        for p in problems {
            write!(f, "\n  {}: {p}", At(file, p.location))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns_counted_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        // `é` is two bytes but one column.
        assert_eq!(
            Location::of_offset(text, 10),
            Location { line: 2, column: 4 }
        );
        // Past the end and mid-character offsets are clamped, not a panic.
        assert_eq!(Location::of_offset(text, 999).line, 3);
        assert_eq!(
            Location::of_offset(text, 8),
            Location { line: 2, column: 2 }
        );
    }

    #[test]
    fn array_entries_are_named_as_written() {
        assert_eq!(TableName("").to_string(), "at the top level");
        assert_eq!(TableName("flow").to_string(), "in [flow]");
        assert_eq!(TableName("clinic[1]").to_string(), "in [[clinic]] entry 2");
    }
}
