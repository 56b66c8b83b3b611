//! Schedule import from CSV or JSON, validated in full before anything is
//! stored: a file with any bad row is reported row by row, with its line,
//! and imports nothing.
//!
//! Both formats carry the same columns. CSV has a header row; JSON is an
//! array of objects whose keys are the column names (values may be strings
//! or numbers). Unknown columns are refused, so a typo is not silently
//! dropped.
//!
//! | column | required | format |
//! |---|---|---|
//! | `appointment_id`, `patient_id`, `first_name`, `last_name`, `clinician` | yes | text |
//! | `date_of_birth` | yes | `YYYY-MM-DD` |
//! | `start` | yes | RFC 3339 (`2026-03-02T09:00:00-05:00`) or clinic-local `YYYY-MM-DD HH:MM` |
//! | `duration_minutes` | no (20) | 1 to 720 |
//! | `location_id` | no (the clinic's first) | one of the clinic's locations |
//! | `status` | no (`booked`) | `booked`, `arrived`, `checked_in`, `cancelled`, `no_show` |
//! | `expected_copay_cents`, `prior_balance_cents` | no (0) | whole cents, ≥ 0 |
//! | `phone`, `email`, `address_line1`, `address_line2`, `city`, `region`, `postal_code` | no | text |
//! | `emergency_name`, `emergency_relation`, `emergency_phone` | no | text (name needs phone) |
//! | `demographics_confirmed_at` | no | RFC 3339 |
//! | `payer`, `plan`, `member_id`, `group` | no (payer needs member_id) | text |
//! | `subscriber_relation` | no (`self`) | `self`, `spouse`, `child`, `other` |
//! | `coverage_valid_from`, `coverage_valid_to` | no | `YYYY-MM-DD` |
//! | `clinician_id`, `visit_type` | no | ids (visible ASCII, at most 64), for which intake forms are due |
//!
//! Importing replaces the whole schedule of each day the file covers:
//! appointments on those days that the file no longer lists are removed
//! (and kiosks are told so in their next delta). Nothing else is ever
//! removed: an empty file, or one with any bad row, stores nothing, and
//! days the file does not cover are left as they are.
//!
//! The store is SQLite, or PostgreSQL when `[database]` names it
//! ([`import_into`]); the validation and the rules are the same.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::value::RawValue;

use super::db::{Db, StorageError};
use super::storage::backend::Store;
use super::storage::schedule::{self, UpsertSummary, VisitFacts};
use crate::config::ClinicSettings;
use crate::domain::fields::{self, Field};
use crate::domain::{
    Address, Appointment, AppointmentId, AppointmentStatus, Coverage, Demographics,
    EmergencyContact, Money, Patient, PatientId, SubscriberRelation,
};

/// Rows beyond this are refused: a day's schedule is far smaller.
pub const MAX_ROWS: usize = 20_000;

const COLUMNS: &[&str] = &[
    "appointment_id",
    "patient_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "start",
    "duration_minutes",
    "location_id",
    "clinician",
    "status",
    "expected_copay_cents",
    "prior_balance_cents",
    "phone",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "emergency_name",
    "emergency_relation",
    "emergency_phone",
    "demographics_confirmed_at",
    "payer",
    "plan",
    "member_id",
    "group",
    "subscriber_relation",
    "coverage_valid_from",
    "coverage_valid_to",
    "clinician_id",
    "visit_type",
];

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The 1-based line of the file the row starts on.
    pub line: u64,
    /// What is wrong, naming the column; no cell values, which may be PHI.
    pub message: String,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not CSV or JSON of the expected overall shape.
    #[error("{0}")]
    Format(String),
    /// One or more rows are invalid; nothing was imported.
    #[error("{} invalid row(s); nothing was imported:\n{}", .0.len(), .0.iter().map(|e| format!("  line {}: {}", e.line, e.message)).collect::<Vec<_>>().join("\n"))]
    Rows(Vec<RowError>),
    /// Storing the schedule failed; nothing was imported.
    #[error("storing the schedule: {0}")]
    Store(#[from] StorageError),
}

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated with a header row.
    Csv,
    /// An array of objects.
    Json,
}

impl Format {
    /// By extension, or by the first character when the extension says nothing.
    pub fn detect(path: &Path, text: &str) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "json" => Self::Json,
            Some(e) if e == "csv" => Self::Csv,
            _ if text.trim_start().starts_with('[') => Self::Json,
            _ => Self::Csv,
        }
    }
}

/// Reads, validates and stores a schedule file for `clinic` in the
/// SQLite database `db`.
pub fn import_file(
    db: &Db,
    clinic: &ClinicSettings,
    path: &Path,
) -> Result<UpsertSummary, ImportError> {
    let (appointments, facts) = read_file(clinic, path)?;
    Ok(db.blocking(|c| schedule::upsert_with_facts(c, &clinic.id, &appointments, &facts, true))?)
}

/// Reads, validates and stores a schedule file for `clinic` in `store`,
/// SQLite or PostgreSQL, as [`import_file`] does.
pub async fn import_into(
    store: &Store,
    clinic: &ClinicSettings,
    path: &Path,
) -> Result<UpsertSummary, ImportError> {
    let (appointments, facts) = read_file(clinic, path)?;
    Ok(store
        .upsert_schedule(clinic.id.clone(), appointments, facts, true)
        .await?)
}

/// A file's validated appointments, and their visit facts by id.
fn read_file(
    clinic: &ClinicSettings,
    path: &Path,
) -> Result<(Vec<Appointment>, HashMap<String, VisitFacts>), ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let visits = parse_visits(&text, Format::detect(path, &text), clinic)?;
    let facts: HashMap<String, VisitFacts> = visits
        .iter()
        .map(|(a, f)| (a.id.0.clone(), f.clone()))
        .collect();
    let appointments: Vec<Appointment> = visits.into_iter().map(|(a, _)| a).collect();
    Ok((appointments, facts))
}

/// Parses and validates a whole file; every bad row is reported.
pub fn parse(
    text: &str,
    format: Format,
    clinic: &ClinicSettings,
) -> Result<Vec<Appointment>, ImportError> {
    Ok(parse_visits(text, format, clinic)?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}

/// [`parse`], with each appointment's clinician id and visit type.
pub fn parse_visits(
    text: &str,
    format: Format,
    clinic: &ClinicSettings,
) -> Result<Vec<(Appointment, VisitFacts)>, ImportError> {
    let rows = match format {
        Format::Csv => csv_rows(text)?,
        Format::Json => json_rows(text)?,
    };
    if rows.len() > MAX_ROWS {
        return Err(ImportError::Format(format!(
            "the file has {} rows; at most {MAX_ROWS} are allowed",
            rows.len()
        )));
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut patients: HashMap<String, (u64, String, String, NaiveDate)> = HashMap::new();
    for (line, row) in rows {
        match row.and_then(|r| validate_visit(&r, clinic)) {
            Ok((a, facts)) => {
                if let Some(first) = ids.insert(a.id.0.clone(), line) {
                    errors.push(RowError {
                        line,
                        message: format!("appointment_id repeats the row on line {first}"),
                    });
                    continue;
                }
                let p = &a.patient;
                let key = (p.first_name.clone(), p.last_name.clone(), p.date_of_birth);
                match patients.get(&p.id.0) {
                    Some((first, f, l, d)) if (f, l, d) != (&key.0, &key.1, &key.2) => {
                        errors.push(RowError {
                            line,
                            message: format!("patient_id has a different name or date_of_birth than on line {first}"),
                        });
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        patients.insert(p.id.0.clone(), (line, key.0, key.1, key.2));
                    }
                }
                out.push((a, facts));
            }
            Err(messages) => errors.extend(
                messages
                    .into_iter()
                    .map(|message| RowError { line, message }),
            ),
        }
    }
    if out.is_empty() && errors.is_empty() {
        return Err(ImportError::Format("the file has no rows".into()));
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    Ok(out)
}

/// A row's cells by column, or the row's problems.
type Row = Result<BTreeMap<String, String>, Vec<String>>;

fn csv_rows(text: &str) -> Result<Vec<(u64, Row)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Format(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let mut unknown = Vec::new();
    for h in &headers {
        if !COLUMNS.contains(&h) {
            unknown.push(h.to_string());
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::Format(format!(
            "line 1: unknown column(s) {}; the columns are {}",
            unknown.join(", "),
            COLUMNS.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.push((
                    line,
                    Err(vec![format!(
                        "the row cannot be read as CSV: {}",
                        csv_kind(&e)
                    )]),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            rows.push((
                line,
                Err(vec![format!(
                    "the row has {} cells; the header has {}",
                    record.len(),
                    headers.len()
                )]),
            ));
            continue;
        }
        let map = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rows.push((line, Ok(map)));
    }
    Ok(rows)
}

fn csv_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "it is not UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "its cell count differs from the header",
        _ => "malformed quoting",
    }
}

fn json_rows(text: &str) -> Result<Vec<(u64, Row)>, ImportError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        ImportError::Format(format!(
            "line {}: the JSON must be an array of objects: {e}",
            e.line()
        ))
    })?;
    let base = text.as_ptr() as usize;
    let mut rows = Vec::new();
    for item in items {
        let offset = (item.get().as_ptr() as usize).saturating_sub(base);
        let line = 1 + text.get(..offset).map_or(0, |s| s.matches('\n').count()) as u64;
        let row = match serde_json::from_str::<BTreeMap<String, serde_json::Value>>(item.get()) {
            Err(_) => Err(vec!["the row is not a JSON object".to_string()]),
            Ok(obj) => {
                let mut map = BTreeMap::new();
                let mut problems = Vec::new();
                for (k, v) in obj {
                    if !COLUMNS.contains(&k.as_str()) {
                        problems.push(format!("unknown column {k:?}"));
                        continue;
                    }
                    match v {
                        serde_json::Value::Null => {}
                        serde_json::Value::String(s) if s.trim().is_empty() => {}
                        serde_json::Value::String(s) => {
                            map.insert(k, s.trim().to_string());
                        }
                        serde_json::Value::Number(n) => {
                            map.insert(k, n.to_string());
                        }
                        _ => problems.push(format!("{k} must be text or a number")),
                    }
                }
                if problems.is_empty() {
                    Ok(map)
                } else {
                    Err(problems)
                }
            }
        };
        rows.push((line, row));
    }
    Ok(rows)
}

/// Turns one row into an appointment and its visit facts, or lists
/// everything wrong with it.
fn validate_visit(
    r: &BTreeMap<String, String>,
    clinic: &ClinicSettings,
) -> Result<(Appointment, VisitFacts), Vec<String>> {
    let mut errs = Vec::new();
    let mut id = |k: &str| {
        let v = r.get(k)?;
        match fields::check(Field::Id, v) {
            Ok(()) => Some(v.clone()),
            Err(_) => {
                errs.push(format!(
                    "{k} must be at most 64 visible ASCII characters, without spaces"
                ));
                None
            }
        }
    };
    let facts = VisitFacts {
        clinician_id: id("clinician_id"),
        visit_type: id("visit_type"),
    };
    match validate_row(r, clinic) {
        Ok(a) if errs.is_empty() => Ok((a, facts)),
        Ok(_) => Err(errs),
        Err(mut more) => {
            more.extend(errs);
            Err(more)
        }
    }
}

/// Turns one row into an appointment, or lists everything wrong with it.
fn validate_row(
    r: &BTreeMap<String, String>,
    clinic: &ClinicSettings,
) -> Result<Appointment, Vec<String>> {
    let mut c = Cells {
        row: r,
        errs: Vec::new(),
    };
    let who = identity(&mut c);
    let when = timing(&mut c, clinic);
    let demographics = demographics(&mut c);
    let confirmed =
        c.get("demographics_confirmed_at")
            .and_then(|v| match DateTime::parse_from_rfc3339(v) {
                Ok(t) => Some(t.to_utc()),
                Err(_) => {
                    c.problem("demographics_confirmed_at must be RFC 3339");
                    None
                }
            });
    let coverage = coverage(&mut c);
    let (Some(dob), Some(start), Some(location), true) =
        (when.dob, when.start, when.location, c.errs.is_empty())
    else {
        return Err(c.errs);
    };
    Ok(Appointment {
        id: AppointmentId(who.appointment_id),
        clinic_id: clinic.id.clone(),
        location_id: location,
        start,
        end: start + Duration::minutes(when.duration),
        clinician: who.clinician,
        status: when.status,
        expected_copay: Money::new(when.copay, clinic.currency),
        prior_balance: Money::new(when.balance, clinic.currency),
        patient: Patient {
            id: PatientId(who.patient_id),
            first_name: who.first_name,
            last_name: who.last_name,
            date_of_birth: dob,
            demographics,
            demographics_confirmed_at: confirmed,
        },
        coverage,
    })
}

/// One row's cells, and the problems found in them so far.
struct Cells<'a> {
    /// The row, by column.
    row: &'a BTreeMap<String, String>,
    /// Every problem, in the order found.
    errs: Vec<String>,
}

impl<'a> Cells<'a> {
    fn get(&self, k: &str) -> Option<&'a str> {
        self.row.get(k).map(String::as_str)
    }

    fn problem(&mut self, message: impl Into<String>) {
        self.errs.push(message.into());
    }

    /// A required cell of at most 200 characters.
    fn required(&mut self, k: &'static str) -> String {
        match self.get(k) {
            Some(v) if v.chars().count() <= 200 && !v.chars().any(fields::is_invisible) => {
                v.to_string()
            }
            Some(_) => {
                self.problem(format!(
                    "{k} is longer than 200 characters or holds a control or invisible character"
                ));
                String::new()
            }
            None => {
                self.problem(format!("{k} is required"));
                String::new()
            }
        }
    }

    /// An optional text cell, within the limits of a stored `field`.
    fn text(&mut self, k: &'static str, field: Field) -> String {
        let v = self.get(k).unwrap_or("");
        if let Err(e) = fields::check_stored(field, v) {
            self.problem(format!("{k}: {e}"));
        }
        v.to_string()
    }

    /// An optional date `YYYY-MM-DD` after 1900.
    fn date(&mut self, k: &'static str) -> Option<NaiveDate> {
        let v = self.get(k)?;
        match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) if Some(d) >= NaiveDate::from_ymd_opt(1900, 1, 1) => Some(d),
            _ => {
                self.problem(format!("{k} must be a date YYYY-MM-DD after 1900"));
                None
            }
        }
    }

    /// An optional whole number in `min..=max`, else `default`.
    fn int(&mut self, k: &'static str, min: i64, max: i64, default: i64) -> i64 {
        match self.get(k) {
            None => default,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.problem(format!("{k} must be a whole number from {min} to {max}"));
                    default
                }
            },
        }
    }
}

/// The ids, names and clinician of a row.
struct Who {
    appointment_id: String,
    patient_id: String,
    first_name: String,
    last_name: String,
    clinician: String,
}

fn identity(c: &mut Cells<'_>) -> Who {
    let who = Who {
        appointment_id: c.required("appointment_id"),
        patient_id: c.required("patient_id"),
        first_name: c.required("first_name"),
        last_name: c.required("last_name"),
        clinician: c.required("clinician"),
    };
    for (k, v) in [
        ("appointment_id", &who.appointment_id),
        ("patient_id", &who.patient_id),
    ] {
        if v.len() > crate::pass::MAX_ID_LEN || v.chars().any(|ch| ch.is_control() || ch == '.') {
            c.problem(format!(
                "{k} must be at most {} bytes, without dots or control characters",
                crate::pass::MAX_ID_LEN
            ));
        }
    }
    who
}

/// When and where a row's visit is, and what it costs.
struct When {
    dob: Option<NaiveDate>,
    start: Option<DateTime<chrono_tz::Tz>>,
    duration: i64,
    copay: i64,
    balance: i64,
    location: Option<crate::domain::LocationId>,
    status: AppointmentStatus,
}

fn timing(c: &mut Cells<'_>, clinic: &ClinicSettings) -> When {
    let dob = c.date("date_of_birth");
    if dob.is_none() && c.get("date_of_birth").is_none() {
        c.problem("date_of_birth is required");
    }
    let start = match c.get("start") {
        None => {
            c.problem("start is required");
            None
        }
        Some(v) => parse_start(v, clinic.time_zone).or_else(|| {
            c.problem("start must be RFC 3339 with an offset, or YYYY-MM-DD HH:MM in the clinic's time zone");
            None
        }),
    };
    if let (Some(d), Some(s)) = (dob, start)
        && d > s.date_naive()
    {
        c.problem("date_of_birth is after the appointment");
    }
    let duration = c.int("duration_minutes", 1, 720, 20);
    let copay = c.int("expected_copay_cents", 0, 100_000_000, 0);
    let balance = c.int("prior_balance_cents", 0, 100_000_000, 0);
    let location = match c.get("location_id") {
        None => clinic.locations.first().cloned(),
        Some(l) => {
            let found = clinic.locations.iter().find(|x| x.as_str() == l).cloned();
            if found.is_none() {
                c.problem("location_id is not one of the clinic's locations");
            }
            found
        }
    };
    let status = match c.get("status") {
        None => AppointmentStatus::Booked,
        Some(s) => AppointmentStatus::parse(s).unwrap_or_else(|| {
            c.problem("status must be booked, arrived, checked_in, cancelled or no_show");
            AppointmentStatus::Booked
        }),
    };
    When {
        dob,
        start,
        duration,
        copay,
        balance,
        location,
        status,
    }
}

fn demographics(c: &mut Cells<'_>) -> Demographics {
    let emergency_contact = match (c.get("emergency_name"), c.get("emergency_phone")) {
        (None, None) => None,
        (Some(_), Some(_)) => Some(EmergencyContact {
            name: c.text("emergency_name", Field::ContactName),
            relation: c.text("emergency_relation", Field::ContactRelation),
            phone: c.text("emergency_phone", Field::ContactPhone),
        }),
        _ => {
            c.problem("emergency_name and emergency_phone go together");
            None
        }
    };
    if let Some(email) = c.get("email")
        && (!email.contains('@') || email.contains(char::is_whitespace))
    {
        c.problem("email is not an email address");
    }
    Demographics {
        address: Address {
            line1: c.text("address_line1", Field::AddressLine1),
            line2: c.text("address_line2", Field::AddressLine2),
            city: c.text("city", Field::City),
            region: c.text("region", Field::State),
            postal_code: c.text("postal_code", Field::PostalCode),
        },
        phone: c.text("phone", Field::Phone),
        email: c.text("email", Field::Email),
        emergency_contact,
    }
}

fn coverage(c: &mut Cells<'_>) -> Option<Coverage> {
    let valid_from = c.date("coverage_valid_from");
    let valid_to = c.date("coverage_valid_to");
    if let (Some(f), Some(t)) = (valid_from, valid_to)
        && f > t
    {
        c.problem("coverage_valid_from is after coverage_valid_to");
    }
    match (c.get("payer"), c.get("member_id")) {
        (None, None) => {
            if c.get("plan").is_some() || c.get("group").is_some() {
                c.problem("plan and group need a payer and member_id");
            }
            None
        }
        (Some(_), Some(_)) => {
            let subscriber_relation = match c.get("subscriber_relation") {
                None => SubscriberRelation::Own,
                Some(s) => SubscriberRelation::parse(s).unwrap_or_else(|| {
                    c.problem("subscriber_relation must be self, spouse, child or other");
                    SubscriberRelation::Own
                }),
            };
            Some(Coverage {
                payer: c.text("payer", Field::Payer),
                plan: c.text("plan", Field::Payer),
                member_id: c.text("member_id", Field::MemberId),
                group: c.text("group", Field::Group),
                subscriber_relation,
                valid_from,
                valid_to,
            })
        }
        _ => {
            c.problem("payer and member_id go together");
            None
        }
    }
}

fn parse_start(v: &str, tz: chrono_tz::Tz) -> Option<DateTime<chrono_tz::Tz>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&tz));
    }
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M"))
        .ok()?;
    // An ambiguous local time (the autumn change) takes the earlier instant;
    // a skipped one (spring) is refused.
    tz.from_local_datetime(&naive).earliest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_offset_starts_parse() {
        let tz = chrono_tz::America::New_York;
        let a = parse_start("2026-03-02 09:30", tz).unwrap();
        let b = parse_start("2026-03-02T09:30:00-05:00", tz).unwrap();
        assert_eq!(a, b);
        assert!(
            parse_start("2026-03-08 02:30", tz).is_none(),
            "skipped by DST"
        );
        assert!(parse_start("9:30", tz).is_none());
    }
}
