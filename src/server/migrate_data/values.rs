//! One value on its way from SQLite to PostgreSQL: the PostgreSQL column
//! kinds the copy knows, the parameter a SQLite value becomes, and the
//! canonical form both sides are hashed in, so a row read back from
//! PostgreSQL hashes the same as the row SQLite gave only when it holds
//! the same data.

use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;

/// A PostgreSQL column type the copy knows how to fill from SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `text`, from TEXT.
    Text,
    /// `bigint`, from INTEGER.
    BigInt,
    /// `integer`, from INTEGER in its range.
    Int,
    /// `smallint`, from INTEGER in its range.
    SmallInt,
    /// `boolean`, from INTEGER 0 or 1.
    Bool,
    /// `jsonb` (or `json`), from TEXT holding one JSON document.
    Json,
    /// `uuid`, from TEXT holding a UUID.
    Uuid,
    /// `bytea`, from BLOB.
    Bytes,
}

impl ColumnKind {
    /// The kind for `information_schema.columns.data_type`; `None` for a
    /// type the copy does not fill.
    pub fn from_pg(data_type: &str) -> Option<Self> {
        Some(match data_type {
            "text" | "character varying" => Self::Text,
            "bigint" => Self::BigInt,
            "integer" => Self::Int,
            "smallint" => Self::SmallInt,
            "boolean" => Self::Bool,
            "jsonb" | "json" => Self::Json,
            "uuid" => Self::Uuid,
            "bytea" => Self::Bytes,
            _ => return None,
        })
    }

    /// What a SQLite value must be to fill this kind, for errors.
    fn expected(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::BigInt => "an integer",
            Self::Int => "an integer within 32 bits",
            Self::SmallInt => "an integer within 16 bits",
            Self::Bool => "the integer 0 or 1",
            Self::Json => "text holding a JSON document",
            Self::Uuid => "text holding a UUID",
            Self::Bytes => "a blob",
        }
    }
}

/// A value as it is hashed and compared: booleans are integers, JSON is
/// its canonical text (keys sorted, numbers in one form), a UUID is its
/// lower-case hyphenated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canon {
    /// SQL NULL.
    Null,
    /// An integer or a boolean (0 or 1).
    Int(i64),
    /// Text, canonical JSON or a UUID.
    Text(String),
    /// A blob.
    Bytes(Vec<u8>),
}

impl Canon {
    /// Appends the value's unambiguous encoding: a tag, then a fixed-size
    /// integer or a length and the bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.push(0),
            Self::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Self::Text(s) => {
                out.push(2);
                out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Self::Bytes(b) => {
                out.push(3);
                out.extend_from_slice(&(b.len() as u64).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }

    /// The value for a report line: text as is, blobs by their size.
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "NULL".into(),
            Self::Int(i) => i.to_string(),
            Self::Text(s) => s.clone(),
            Self::Bytes(b) => format!("<{} bytes>", b.len()),
        }
    }
}

/// The encoding of a whole row (or key), for hashing and ordering.
pub fn encode_all(values: &[Canon]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        v.encode(&mut out);
    }
    out
}

/// The SHA-256 of a row's canonical encoding.
pub fn digest(values: &[Canon]) -> [u8; 32] {
    Sha256::digest(encode_all(values)).into()
}

/// A value bound as a PostgreSQL parameter of its column's kind.
#[derive(Debug)]
pub enum PgParam {
    /// `text`.
    Text(Option<String>),
    /// `bigint`.
    BigInt(Option<i64>),
    /// `integer`.
    Int(Option<i32>),
    /// `smallint`.
    SmallInt(Option<i16>),
    /// `boolean`.
    Bool(Option<bool>),
    /// `jsonb`.
    Json(Option<serde_json::Value>),
    /// `uuid`.
    Uuid(Option<uuid::Uuid>),
    /// `bytea`.
    Bytes(Option<Vec<u8>>),
}

impl PgParam {
    /// The parameter for tokio-postgres.
    pub fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Text(v) => v,
            Self::BigInt(v) => v,
            Self::Int(v) => v,
            Self::SmallInt(v) => v,
            Self::Bool(v) => v,
            Self::Json(v) => v,
            Self::Uuid(v) => v,
            Self::Bytes(v) => v,
        }
    }
}

/// Converts one SQLite value for a column of `kind`: the parameter to
/// insert and the canonical value to hash. Refuses (with what was
/// expected, never the value) what the PostgreSQL column cannot hold.
pub fn from_sqlite(kind: ColumnKind, value: ValueRef<'_>) -> Result<(PgParam, Canon), String> {
    let wrong = || format!("expected {}", kind.expected());
    if let ValueRef::Null = value {
        let param = match kind {
            ColumnKind::Text => PgParam::Text(None),
            ColumnKind::BigInt => PgParam::BigInt(None),
            ColumnKind::Int => PgParam::Int(None),
            ColumnKind::SmallInt => PgParam::SmallInt(None),
            ColumnKind::Bool => PgParam::Bool(None),
            ColumnKind::Json => PgParam::Json(None),
            ColumnKind::Uuid => PgParam::Uuid(None),
            ColumnKind::Bytes => PgParam::Bytes(None),
        };
        return Ok((param, Canon::Null));
    }
    match (kind, value) {
        (ColumnKind::Text, ValueRef::Text(t)) => {
            let s = std::str::from_utf8(t).map_err(|_| "expected UTF-8 text".to_string())?;
            if s.contains('\0') {
                return Err("text with a NUL character, which PostgreSQL cannot store".into());
            }
            Ok((
                PgParam::Text(Some(s.to_string())),
                Canon::Text(s.to_string()),
            ))
        }
        (ColumnKind::BigInt, ValueRef::Integer(i)) => Ok((PgParam::BigInt(Some(i)), Canon::Int(i))),
        (ColumnKind::Int, ValueRef::Integer(i)) => {
            let small = i32::try_from(i).map_err(|_| wrong())?;
            Ok((PgParam::Int(Some(small)), Canon::Int(i)))
        }
        (ColumnKind::SmallInt, ValueRef::Integer(i)) => {
            let small = i16::try_from(i).map_err(|_| wrong())?;
            Ok((PgParam::SmallInt(Some(small)), Canon::Int(i)))
        }
        (ColumnKind::Bool, ValueRef::Integer(i @ (0 | 1))) => {
            Ok((PgParam::Bool(Some(i == 1)), Canon::Int(i)))
        }
        (ColumnKind::Json, ValueRef::Text(t)) => {
            let v: serde_json::Value = serde_json::from_slice(t).map_err(|_| wrong())?;
            let canon = canonical_json(&v);
            Ok((PgParam::Json(Some(v)), Canon::Text(canon)))
        }
        (ColumnKind::Uuid, ValueRef::Text(t)) => {
            let s = std::str::from_utf8(t).map_err(|_| wrong())?;
            let id = uuid::Uuid::parse_str(s).map_err(|_| wrong())?;
            Ok((
                PgParam::Uuid(Some(id)),
                Canon::Text(id.hyphenated().to_string()),
            ))
        }
        (ColumnKind::Bytes, ValueRef::Blob(b)) => {
            Ok((PgParam::Bytes(Some(b.to_vec())), Canon::Bytes(b.to_vec())))
        }
        _ => Err(wrong()),
    }
}

/// Reads column `i` of a PostgreSQL row of `kind` in canonical form.
pub fn from_pg(
    kind: ColumnKind,
    row: &tokio_postgres::Row,
    i: usize,
) -> Result<Canon, tokio_postgres::Error> {
    Ok(match kind {
        ColumnKind::Text => row.try_get::<_, Option<String>>(i)?.map(Canon::Text),
        ColumnKind::BigInt => row.try_get::<_, Option<i64>>(i)?.map(Canon::Int),
        ColumnKind::Int => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Canon::Int(v.into())),
        ColumnKind::SmallInt => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Canon::Int(v.into())),
        ColumnKind::Bool => row
            .try_get::<_, Option<bool>>(i)?
            .map(|v| Canon::Int(v.into())),
        ColumnKind::Json => row
            .try_get::<_, Option<serde_json::Value>>(i)?
            .map(|v| Canon::Text(canonical_json(&v))),
        ColumnKind::Uuid => row
            .try_get::<_, Option<uuid::Uuid>>(i)?
            .map(|v| Canon::Text(v.hyphenated().to_string())),
        ColumnKind::Bytes => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Canon::Bytes),
    }
    .unwrap_or(Canon::Null))
}

/// JSON in one form whatever its source: object keys sorted, no spaces,
/// and a number with no fraction written as an integer (PostgreSQL's
/// `jsonb` writes `1e2` back as `100`).
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Number(n) => out.push_str(&canonical_number(n)),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON number's one written form.
fn canonical_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    // Whole numbers within i64 are written as integers; the bounds are
    // -2^63 and 2^63, exact in f64, so the cast cannot overflow.
    const WHOLE: std::ops::Range<f64> = -9.223_372_036_854_776e18..9.223_372_036_854_776e18;
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && WHOLE.contains(&f) => (f as i64).to_string(),
        Some(f) => format!("{f:?}"),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_canonical_whatever_its_key_order_spacing_or_number_form() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2.50, 1e2], "a": {"y": null, "x": "é\"q"}}"#)
                .unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":"é\"q","y":null},"b":[1,2.5,100]}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&b),
            r#"{"a":{"x":"é\"q","y":null},"b":[1,2.5,100]}"#
        );
        let c: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":"é\"q"},"b":[1,2.5,100]}"#).unwrap();
        assert_ne!(
            canonical_json(&a),
            canonical_json(&c),
            "a missing key differs"
        );
    }

    #[test]
    fn sqlite_values_convert_to_their_column_kind_or_are_refused() {
        let (_, c) = from_sqlite(ColumnKind::Bool, ValueRef::Integer(1)).unwrap();
        assert_eq!(c, Canon::Int(1));
        assert!(from_sqlite(ColumnKind::Bool, ValueRef::Integer(2)).is_err());
        let (_, c) = from_sqlite(
            ColumnKind::Uuid,
            ValueRef::Text(b"6F9619FF-8B86-D011-B42D-00C04FC964FF"),
        )
        .unwrap();
        assert_eq!(
            c,
            Canon::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
        );
        assert!(from_sqlite(ColumnKind::Uuid, ValueRef::Text(b"not-a-uuid")).is_err());
        assert!(from_sqlite(ColumnKind::Json, ValueRef::Text(b"{oops")).is_err());
        assert!(from_sqlite(ColumnKind::Int, ValueRef::Integer(1 << 40)).is_err());
        assert!(from_sqlite(ColumnKind::SmallInt, ValueRef::Integer(1 << 20)).is_err());
        assert!(from_sqlite(ColumnKind::Text, ValueRef::Integer(3)).is_err());
        assert!(from_sqlite(ColumnKind::Text, ValueRef::Text(b"a\0b")).is_err());
        let err = from_sqlite(ColumnKind::BigInt, ValueRef::Text(b"Jane Doe")).unwrap_err();
        assert!(!err.contains("Jane"), "errors never hold the value: {err}");
        let (_, c) = from_sqlite(ColumnKind::Json, ValueRef::Null).unwrap();
        assert_eq!(c, Canon::Null);
    }

    #[test]
    fn the_encoding_tells_adjacent_values_apart() {
        let ab_c = encode_all(&[Canon::Text("ab".into()), Canon::Text("c".into())]);
        let a_bc = encode_all(&[Canon::Text("a".into()), Canon::Text("bc".into())]);
        assert_ne!(ab_c, a_bc);
        assert_ne!(
            encode_all(&[Canon::Null]),
            encode_all(&[Canon::Text(String::new())])
        );
        assert_ne!(
            encode_all(&[Canon::Int(1)]),
            encode_all(&[Canon::Text("1".into())])
        );
    }
}
