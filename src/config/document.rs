//! Stage one of loading a configuration: the TOML text, parsed once with
//! spans, so any error can be placed at a dotted key and a line and column;
//! and deserializing the raw serde structs, turning the TOML and serde
//! errors into [`ConfigError`]s a person can act on.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Location};

/// A configuration file's text and where each key and value sits in it.
#[derive(Debug)]
pub(super) struct Document {
    /// The file, as the caller named it, for messages.
    file: PathBuf,
    /// The whole text, to deserialize and to turn offsets into lines.
    text: String,
    /// Every key, table and array entry in the file, in no particular order.
    nodes: Vec<Node>,
    /// The byte range toml gives the whole document; errors at this range
    /// belong to no key.
    root_span: Range<usize>,
}

/// One key, or one entry of an array, found in the file.
#[derive(Debug)]
struct Node {
    /// Its dotted path, such as `flow.idle_warning_secs` or `clinic[0].id`.
    path: String,
    /// Where its key is written; `None` for array entries, which have none.
    key_span: Option<Range<usize>>,
    /// Where its value is written; for a `[table]` this is the header.
    value_span: Range<usize>,
    /// Its TOML type, as toml names it: `"string"`, `"table"` and so on.
    kind: &'static str,
}

/// The shape a top-level key must have. Serde lets a struct be written as an
/// array, so `[[kiosk]]` would otherwise give a baffling message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A single table, written `[name]`.
    Table,
    /// Any number of tables, each written `[[name]]`.
    ArrayOfTables,
}

impl Document {
    /// Parses `text` as TOML, refusing it with [`ConfigError::Syntax`] when
    /// it is not.
    pub(super) fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let root = DeTable::parse(text).map_err(|e| {
            let location = e.span().map(|s| Location::of_offset(text, s.start));
            let mut message = e.message().to_string();
            // Name the key: "duplicate key" alone sends people hunting.
            if message == "duplicate key"
                && let Some(key) = e.span().and_then(|s| text.get(s))
            {
                message = format!("duplicate key `{key}`");
            }
            ConfigError::Syntax {
                file: file.to_path_buf(),
                location,
                message,
            }
        })?;
        let mut nodes = Vec::new();
        walk_table(root.get_ref(), "", &mut nodes);
        Ok(Self {
            file: file.to_path_buf(),
            text: text.to_string(),
            nodes,
            root_span: root.span(),
        })
    }

    /// The file, as the caller named it.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// Deserializes the raw serde struct `T` that mirrors the file, after
    /// checking that the top-level keys in `shapes` have their shape.
    /// Unknown keys and wrong types are reported with their dotted key and
    /// location.
    pub(super) fn deserialize<T: DeserializeOwned>(
        &self,
        shapes: &[(&str, Shape)],
    ) -> Result<T, ConfigError> {
        for (name, shape) in shapes {
            self.check_shape(name, *shape)?;
        }
        toml::from_str(&self.text).map_err(|e| self.stage_one_error(&e))
    }

    fn check_shape(&self, name: &str, shape: Shape) -> Result<(), ConfigError> {
        let Some(node) = self.nodes.iter().find(|n| n.path == name) else {
            return Ok(());
        };
        let (ok, expected) = match shape {
            Shape::Table => (node.kind == "table", format!("a table, written [{name}]")),
            Shape::ArrayOfTables => {
                let prefix = format!("{name}[");
                let entries_are_tables = self
                    .nodes
                    .iter()
                    .filter(|n| {
                        n.path
                            .strip_prefix(&prefix)
                            .is_some_and(|rest| !rest.contains(['.', '[']))
                    })
                    .all(|n| n.kind == "table");
                (
                    node.kind == "array" && entries_are_tables,
                    format!("one or more tables, each written [[{name}]]"),
                )
            }
        };
        if ok {
            return Ok(());
        }
        let found = match (shape, node.kind) {
            (Shape::Table, "array") => format!("an array, as if written [[{name}]]"),
            (_, "table") => format!("a table written [{name}]"),
            (_, "array") => "an array of other values".to_string(),
            (_, kind) => describe_kind(kind).to_string(),
        };
        Err(ConfigError::WrongType {
            file: self.file.clone(),
            location: Some(self.location(node.value_span.start)),
            key: name.to_string(),
            expected,
            found,
        })
    }

    /// Where the value of the dotted `key` is written, if it is in the file.
    pub(super) fn value_location(&self, key: &str) -> Option<Location> {
        self.nodes
            .iter()
            .find(|n| n.path == key)
            .map(|n| self.location(n.value_span.start))
    }

    /// Where a missing `key` would go: its table's header, or the nearest
    /// enclosing table that is in the file.
    pub(super) fn missing_location(&self, key: &str) -> Option<Location> {
        let mut path = key;
        loop {
            if let Some(at) = self.value_location(path) {
                return Some(at);
            }
            path = parent(path)?;
        }
    }

    fn location(&self, offset: usize) -> Location {
        Location::of_offset(&self.text, offset)
    }

    /// The dotted path of the node an error span points at: the key or
    /// value written exactly there, else the smallest value that encloses
    /// it, else the top level (an empty path).
    fn path_at(&self, span: &Range<usize>) -> &str {
        if *span == self.root_span {
            return "";
        }
        let exact = self
            .nodes
            .iter()
            .find(|n| n.key_span.as_ref() == Some(span) || n.value_span == *span);
        let enclosing = || {
            self.nodes
                .iter()
                .filter(|n| n.value_span.start <= span.start && span.end <= n.value_span.end)
                .min_by_key(|n| n.value_span.len())
        };
        exact.or_else(enclosing).map_or("", |n| n.path.as_str())
    }

    fn stage_one_error(&self, e: &toml::de::Error) -> ConfigError {
        let file = self.file.clone();
        let span = e.span();
        let location = span.as_ref().map(|s| self.location(s.start));
        let path = span.as_ref().map_or("", |s| self.path_at(s)).to_string();
        let message = e.message();

        if let Some((key, valid)) = parse_unknown_field(message) {
            // The span is the unknown key itself, so its path ends in it.
            let table = if path.is_empty() {
                String::new()
            } else {
                parent(&path).unwrap_or("").to_string()
            };
            return ConfigError::UnknownKey {
                file,
                location,
                table,
                key,
                valid,
            };
        }
        let mismatch = message
            .strip_prefix("invalid type: ")
            .or_else(|| message.strip_prefix("invalid value: "))
            .and_then(|rest| rest.rsplit_once(", expected "));
        if let Some((found, expected)) = mismatch {
            // toml hands a datetime to serde as a map; say what it really is.
            let kind = self.nodes.iter().find(|n| n.path == path).map(|n| n.kind);
            let found = match kind {
                Some("datetime") => describe_kind("datetime").to_string(),
                _ => describe_found(found),
            };
            return ConfigError::WrongType {
                file,
                location,
                key: path,
                expected: describe_expected(expected),
                found,
            };
        }
        ConfigError::Malformed {
            file,
            location,
            key: path,
            message: message.to_string(),
        }
    }
}

/// The dotted path of the table holding `path`, or `None` at the top level.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

fn walk_table(table: &DeTable<'_>, prefix: &str, nodes: &mut Vec<Node>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        walk_value(value.get_ref(), &path, nodes);
        nodes.push(Node {
            path,
            key_span: Some(key.span()),
            value_span: value.span(),
            kind: value.get_ref().type_str(),
        });
    }
}

fn walk_value(value: &DeValue<'_>, path: &str, nodes: &mut Vec<Node>) {
    match value {
        DeValue::Table(table) => walk_table(table, path, nodes),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{path}[{i}]");
                walk_value(item.get_ref(), &path, nodes);
                nodes.push(Node {
                    path,
                    key_span: None,
                    value_span: item.span(),
                    kind: item.get_ref().type_str(),
                });
            }
        }
        _ => {}
    }
}

/// Reads serde's stable unknown-field message, "unknown field `x`, expected
/// one of `a`, `b`" (or "expected `a` or `b`", "expected `a`", "there are no
/// fields"), into the key and the valid keys.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, tail) = rest.split_once('`')?;
    let valid = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((key.to_string(), valid))
}

/// Names a TOML type, as toml's `type_str` gives it, for a person.
fn describe_kind(kind: &str) -> &'static str {
    match kind {
        "string" => "a string",
        "integer" => "a whole number",
        "float" => "a number",
        "boolean" => "`true` or `false`",
        "datetime" => "a date or time",
        "array" => "an array",
        _ => "a table",
    }
}

/// Puts serde's "expected" text in the words of a TOML file.
fn describe_expected(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number".to_string()
        }
        "f32" | "f64" => "a number".to_string(),
        "a boolean" => "`true` or `false`".to_string(),
        "a string" => "a string in quotes".to_string(),
        "path string" => "a path in quotes".to_string(),
        "a sequence" => "an array, such as [\"a\", \"b\"]".to_string(),
        "a map" => "a table".to_string(),
        other if other.starts_with("struct ") => "a table".to_string(),
        other => other.to_string(),
    }
}

/// Puts serde's "found" text in the words of a TOML file.
fn describe_found(found: &str) -> String {
    let unquote = |s: &str| s.trim_matches('`').to_string();
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {s}");
    }
    if let Some(n) = found.strip_prefix("integer ") {
        return format!("the whole number {}", unquote(n));
    }
    if let Some(n) = found.strip_prefix("floating point ") {
        return format!("the number {}", unquote(n));
    }
    if let Some(b) = found.strip_prefix("boolean ") {
        return unquote(b);
    }
    match found {
        "map" => "a table".to_string(),
        "sequence" => "an array".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_unknown_field_messages_are_read_in_all_their_forms() {
        let (key, valid) =
            parse_unknown_field("unknown field `idle_warnin_secs`, expected one of `a`, `b`, `c`")
                .unwrap_or_default();
        assert_eq!(key, "idle_warnin_secs");
        assert_eq!(valid, ["a", "b", "c"]);
        let (_, valid) =
            parse_unknown_field("unknown field `x`, expected `a` or `b`").unwrap_or_default();
        assert_eq!(valid, ["a", "b"]);
        let (_, valid) = parse_unknown_field("unknown field `x`, expected `a`").unwrap_or_default();
        assert_eq!(valid, ["a"]);
        let (_, valid) =
            parse_unknown_field("unknown field `x`, there are no fields").unwrap_or_default();
        assert!(valid.is_empty());
        assert_eq!(parse_unknown_field("missing field `x`"), None);
    }

    #[test]
    fn keys_and_array_entries_are_found_by_path_and_span() {
        let text =
            "[flow]\nidle_warning_secs = 45\n\n[[clinic]]\nid = \"a\"\n\n[[clinic]]\nid = \"b\"\n";
        let doc = Document::parse(text, Path::new("x.toml")).map_err(|e| e.to_string());
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            doc.value_location("flow.idle_warning_secs"),
            Some(Location {
                line: 2,
                column: 21
            })
        );
        assert_eq!(
            doc.value_location("clinic[1].id"),
            Some(Location { line: 8, column: 6 })
        );
        // A missing key points at its table's header.
        assert_eq!(
            doc.missing_location("clinic[1].name"),
            Some(Location { line: 7, column: 1 })
        );
        assert_eq!(doc.missing_location("kiosk.name"), None);
        let value = text.find("\"b\"").unwrap_or(0);
        assert_eq!(doc.path_at(&(value..value + 3)), "clinic[1].id");
        assert_eq!(parent("clinic[1].id"), Some("clinic[1]"));
        assert_eq!(parent("clinic[1]"), Some("clinic"));
        assert_eq!(parent("flow"), Some(""));
    }
}
