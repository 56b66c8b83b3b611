//! The schedule pull: the clinic's Appointments for the window from the
//! EHR (`Appointment?date=ge..&date=lt..&location=..`, following `next`
//! links, with `_include=Appointment:patient` and individual reads for any
//! patient not included), each patient's active Coverage, mapped and
//! written through the server's schedule upsert as a delta, so kiosks get
//! it on their next pull. Appointments on the window's days that the EHR
//! no longer lists are removed.
//!
//! A pull is all or nothing for removals: if any request fails, nothing is
//! written, so an outage never empties a schedule. A single malformed
//! resource only skips its appointment (which keeps whatever the server
//! had for it).
//!
//! A pull that answers but would remove more than `max_removal_percent` of
//! a day's appointments (an EHR answering an empty page, say), or any
//! appointment already arrived or checked in, removes nothing: the
//! removals are held and shown to staff as an EHR alert, until staff
//! confirm them ([`confirm_held`]) or `removal_confirm_pulls` later pulls
//! list the same removals.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ClientError, FhirClient, Found, Versioned};
use super::mapping::{self, Note, merge_status, parse_reference, participant_ids, resource_id};
use super::status::{HeldRemovals, load_hold, save_hold};
use crate::config::{ClinicReference, ClinicSettings, FhirSettings};
use crate::domain::{Appointment, ClinicId};
use crate::protocol::AppointmentWire;
use crate::server::AppState;
use crate::server::db::{StorageError, next_seq};
use crate::server::storage::schedule::{self, VisitFacts};

/// Appointments asked for per page.
const PAGE_SIZE: &str = "100";

/// Why a pull wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A request to the EHR failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The clinic's Organization manages no Location.
    #[error("Organization/{0} manages no Location in the EHR")]
    NoLocations(String),
    /// The window's start could not be placed in the clinic's zone.
    #[error("the window's midnight does not exist in the clinic's time zone")]
    Window,
    /// The server's database failed.
    #[error("storing the schedule: {0}")]
    Store(String),
}

/// What a pull found and changed; stored as the connector's last pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PullSummary {
    /// Appointments the EHR listed for the window and location.
    pub appointments: usize,
    /// Appointments added or changed on the server.
    pub upserted: usize,
    /// Appointments already as the EHR has them.
    pub unchanged: usize,
    /// Appointments removed because the EHR no longer lists them.
    pub removed: usize,
    /// Removals held for staff (see the EHR alert), not made.
    #[serde(default)]
    pub held: usize,
    /// Appointments skipped as malformed (each logged with its reason).
    pub skipped: usize,
    /// Tolerated gaps and unknown codes (each logged).
    pub notes: usize,
}

/// The first and last day of the window, and its bounds as instants.
pub fn window(
    clinic: &ClinicSettings,
    today: NaiveDate,
    days: u32,
) -> Result<(NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>), PullError> {
    let last = today + Duration::days(i64::from(days.max(1)) - 1);
    let midnight = |d: NaiveDate| {
        let naive = d.and_hms_opt(0, 0, 0)?;
        let local = clinic.time_zone.from_local_datetime(&naive);
        local
            .earliest()
            .or_else(|| local.latest())
            .map(|t| t.with_timezone(&Utc))
    };
    let from = midnight(today).ok_or(PullError::Window)?;
    let to = midnight(last + Duration::days(1)).ok_or(PullError::Window)?;
    Ok((today, last, from, to))
}

/// Pulls `clinic`'s window from the EHR and writes it: search, select
/// what is this clinic's, read the patients and coverages, map, store.
pub async fn pull(
    state: &AppState,
    clinic: &ClinicSettings,
    settings: &FhirSettings,
    client: &FhirClient,
) -> Result<PullSummary, PullError> {
    let today = state.today(clinic);
    let (first_day, last_day, from, to) = window(clinic, today, settings.window_days)?;
    let locations = clinic_locations(settings, client).await?;
    let found = search_window(client, &locations, from, to).await?;
    let mut summary = PullSummary::default();
    let mut patients: HashMap<String, Value> = HashMap::new();
    let appointments = select_appointments(
        clinic,
        &locations,
        (from, to),
        found,
        &mut patients,
        &mut summary,
    );
    summary.appointments = appointments.len();
    let coverages = read_patients_and_coverages(client, &appointments, &mut patients).await?;
    let mapped = map_appointments(clinic, &appointments, &patients, &coverages, today);
    summary.skipped += mapped.failed;
    summary.notes = mapped.notes;
    let batch = Batch {
        wires: mapped.wires,
        silent_copay: mapped.silent_copay,
        skipped: mapped.skipped,
        cache: mapped.cache,
        facts: mapped.facts,
        first_day,
        last_day,
        now: state.now(),
        max_removal_percent: settings.max_removal_percent,
        confirm_pulls: settings.removal_confirm_pulls,
    };
    write_pull(state, &clinic.id, batch, summary).await
}

/// The Appointment search for the window at `locations`, every page, with
/// their patients included.
async fn search_window(
    client: &FhirClient,
    locations: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Found>, PullError> {
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let params = [
        ("date", format!("ge{}", stamp(from))),
        ("date", format!("lt{}", stamp(to))),
        (
            "location",
            locations
                .iter()
                .map(|l| format!("Location/{l}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("_include", "Appointment:patient".to_string()),
        ("_count", PAGE_SIZE.to_string()),
    ];
    Ok(client.search("Appointment", &params).await?)
}

/// The searched Appointments that are at the clinic's locations in the
/// window (a server may ignore a search parameter it does not know) and
/// not entered in error; included Patients go into `patients`.
fn select_appointments(
    clinic: &ClinicSettings,
    locations: &[String],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    found: Vec<Found>,
    patients: &mut HashMap<String, Value>,
    summary: &mut PullSummary,
) -> Vec<Value> {
    let mut appointments = Vec::new();
    for f in found {
        if f.included {
            if let Some(id) = resource_id(&f.resource, "Patient") {
                patients.insert(id.to_string(), f.resource);
            }
            continue;
        }
        let Some(id) = resource_id(&f.resource, "Appointment") else {
            summary.skipped += 1;
            tracing::warn!(clinic = %clinic.id, "EHR pull: skipped an Appointment entry without an id");
            continue;
        };
        let at_clinic = participant_ids(&f.resource, "Location")
            .iter()
            .any(|l| locations.iter().any(|x| x == l));
        let start = f
            .resource
            .get("start")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let in_window = start.is_none_or(|s| from <= s && s < to);
        if !at_clinic || !in_window {
            tracing::debug!(clinic = %clinic.id, appointment = %id, "EHR pull: not at this clinic in the window; ignored");
            continue;
        }
        if f.resource.get("status").and_then(Value::as_str) == Some("entered-in-error") {
            continue;
        }
        appointments.push(f.resource);
    }
    appointments
}

/// The pull's appointments mapped to the schedule.
#[derive(Debug, Default)]
struct Mapped {
    wires: Vec<AppointmentWire>,
    cache: Vec<(String, Value)>,
    facts: HashMap<String, VisitFacts>,
    silent_copay: HashSet<String>,
    skipped: HashSet<String>,
    failed: usize,
    notes: usize,
}

/// Maps each appointment with its patient and coverages; a malformed one
/// is skipped and logged by id, and the tolerated gaps are logged as notes.
fn map_appointments(
    clinic: &ClinicSettings,
    appointments: &[Value],
    patients: &HashMap<String, Value>,
    coverages: &HashMap<String, Vec<Value>>,
    today: NaiveDate,
) -> Mapped {
    let mut out = Mapped::default();
    let mut notes: Vec<Note> = Vec::new();
    for a in appointments {
        let id = resource_id(a, "Appointment")
            .unwrap_or_default()
            .to_string();
        let patient_id = participant_ids(a, "Patient").first().map(|p| p.to_string());
        let patient = patient_id.as_ref().and_then(|p| patients.get(p));
        let covs = patient_id
            .as_ref()
            .and_then(|p| coverages.get(p))
            .map_or(&[][..], Vec::as_slice);
        match mapping::appointment(clinic, a, patient, covs, today, &mut notes) {
            Ok(w) => {
                if !mapping::copay_stated(covs, today) {
                    out.silent_copay.insert(id.clone());
                }
                out.facts.insert(id.clone(), mapping::visit_facts(a));
                out.cache.push((id, a.clone()));
                out.wires.push(w);
            }
            Err(e) => {
                tracing::warn!(clinic = %clinic.id, appointment = %id, "EHR pull: skipped: {e}");
                out.failed += 1;
                out.skipped.insert(id);
            }
        }
    }
    for n in &notes {
        tracing::info!(clinic = %clinic.id, resource = %n.resource, "EHR pull: {}", n.what);
    }
    out.notes = notes.len();
    out
}

/// Stores the mapped pull and records it as the connector's last pull.
async fn write_pull(
    state: &AppState,
    clinic: &ClinicId,
    batch: Batch,
    summary: PullSummary,
) -> Result<PullSummary, PullError> {
    state
        .store()
        .ehr_store_pull(clinic.clone(), batch, summary)
        .await
        .map_err(|e| PullError::Store(e.to_string()))
}

/// Stores the mapped pull on SQLite and records it as the connector's
/// last pull; the SQLite twin of the PostgreSQL `ehr_store_pull`.
pub fn store_and_record(
    c: &mut Connection,
    clinic: &ClinicId,
    batch: Batch,
    summary: PullSummary,
) -> Result<PullSummary, StorageError> {
    let now = batch.now;
    let written = store(c, clinic, batch)?;
    let summary = written.into_summary(summary);
    super::status::record_pull(c, clinic, now, Ok(&summary))?;
    Ok(summary)
}

/// The EHR Locations that are the clinic: the configured one, or those
/// the configured Organization manages.
async fn clinic_locations(
    settings: &FhirSettings,
    client: &FhirClient,
) -> Result<Vec<String>, PullError> {
    Ok(match &settings.clinic {
        ClinicReference::Location(id) => vec![id.clone()],
        ClinicReference::Organization(org) => {
            let found = client
                .search(
                    "Location",
                    &[("organization", format!("Organization/{org}"))],
                )
                .await?;
            let ids: Vec<String> = found
                .iter()
                .filter(|f| !f.included)
                .filter(|f| {
                    f.resource
                        .get("managingOrganization")
                        .and_then(|m| m.get("reference"))
                        .and_then(Value::as_str)
                        .and_then(parse_reference)
                        == Some(("Organization", org.as_str()))
                })
                .filter_map(|f| resource_id(&f.resource, "Location").map(str::to_string))
                .collect();
            if ids.is_empty() {
                return Err(PullError::NoLocations(org.clone()));
            }
            ids
        }
    })
}

/// Reads the patients the search did not include (into `patients`), and
/// each patient's active Coverages.
async fn read_patients_and_coverages(
    client: &FhirClient,
    appointments: &[Value],
    patients: &mut HashMap<String, Value>,
) -> Result<HashMap<String, Vec<Value>>, PullError> {
    // Patients not included: read them one by one.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for a in appointments {
        if let Some(p) = participant_ids(a, "Patient").first() {
            wanted.insert((*p).to_string());
        }
    }
    for p in &wanted {
        if patients.contains_key(p) {
            continue;
        }
        match client.read("Patient", p).await {
            Ok(v) => {
                patients.insert(p.clone(), v.resource);
            }
            Err(e) if matches!(e.status(), Some(404 | 410)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut coverages: HashMap<String, Vec<Value>> = HashMap::new();
    for p in wanted.iter().filter(|p| patients.contains_key(*p)) {
        let found = client
            .search(
                "Coverage",
                &[
                    ("beneficiary", format!("Patient/{p}")),
                    ("status", "active".to_string()),
                ],
            )
            .await?;
        let list: Vec<Value> = found
            .into_iter()
            .filter(|f| !f.included)
            .map(|f| f.resource)
            .filter(|c| {
                c.get("beneficiary")
                    .and_then(|b| b.get("reference"))
                    .and_then(Value::as_str)
                    .and_then(parse_reference)
                    == Some(("Patient", p.as_str()))
            })
            .collect();
        coverages.insert(p.clone(), list);
    }
    Ok(coverages)
}

/// What storing a pull changed.
#[derive(Debug, Default)]
pub struct Written {
    /// Appointments added or changed.
    pub upserted: usize,
    /// Appointments already as the EHR has them.
    pub unchanged: usize,
    /// Appointments removed.
    pub removed: usize,
    /// Removals held for staff.
    pub held: usize,
    /// Appointments skipped as invalid when stored.
    pub skipped: usize,
}

impl Written {
    /// The pull's `summary` completed with what storing it changed.
    pub fn into_summary(self, mut summary: PullSummary) -> PullSummary {
        summary.upserted = self.upserted;
        summary.unchanged = self.unchanged;
        summary.removed = self.removed;
        summary.held = self.held;
        summary.skipped += self.skipped;
        summary
    }
}

/// A mapped pull, ready to store on either backend.
pub struct Batch {
    /// The appointments mapped.
    pub(crate) wires: Vec<AppointmentWire>,
    /// Appointments whose coverage states no co-pay at all: they keep the
    /// co-pay the server has, until the EHR states one.
    pub(crate) silent_copay: HashSet<String>,
    /// Appointments the EHR listed but that were skipped as malformed.
    pub(crate) skipped: HashSet<String>,
    /// The Appointment resources, for the write-back cache.
    pub(crate) cache: Vec<(String, Value)>,
    /// Each appointment's clinician id and visit type, by id.
    pub(crate) facts: HashMap<String, VisitFacts>,
    /// The window's first day.
    pub(crate) first_day: NaiveDate,
    /// The window's last day.
    pub(crate) last_day: NaiveDate,
    /// When the pull ended.
    pub(crate) now: DateTime<Utc>,
    /// The removal guard's share, in percent of a day.
    pub(crate) max_removal_percent: u8,
    /// Later pulls that must agree before held removals go ahead.
    pub(crate) confirm_pulls: u32,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: the wires carry patient details.
        f.debug_struct("Batch")
            .field("appointments", &self.wires.len())
            .field("first_day", &self.first_day)
            .field("last_day", &self.last_day)
            .finish_non_exhaustive()
    }
}

/// Brings a mapped appointment in line with what the server has: a
/// check-in progress the EHR has not caught up with is kept, and so is
/// the server's co-pay when the EHR states none. `local` is the stored
/// (status, expected co-pay) of the live appointment, if any.
pub(crate) fn keep_local_progress(
    w: &mut AppointmentWire,
    local: Option<(String, i64)>,
    silent_copay: bool,
) {
    if let Some((status, copay)) = local {
        w.status = merge_status(&status, &w.status).to_string();
        if silent_copay {
            w.expected_copay_cents = copay;
        }
    }
}

/// Keeps the server's patient details while an approved change of them
/// waits in the write-back queue: the EHR does not have them yet.
pub(crate) fn keep_queued_patient(
    w: &mut AppointmentWire,
    demographics: Option<crate::protocol::DemographicsWire>,
    coverage: Option<crate::protocol::CoverageWire>,
) {
    if let Some(d) = demographics {
        w.patient.demographics = d;
    }
    w.coverage = coverage;
}

/// Writes the mapped window: upserts (keeping check-in progress and
/// patient details whose write-back is still queued), removals, and the
/// Appointment cache write-back starts from.
fn store(c: &mut Connection, clinic: &ClinicId, mut batch: Batch) -> Result<Written, StorageError> {
    let mut wires = std::mem::take(&mut batch.wires);
    let skipped = &batch.skipped;
    let cache = &batch.cache;
    let mut written = Written::default();
    let queued: HashSet<String> = {
        let mut stmt = c.prepare_cached(
            "SELECT DISTINCT target_id FROM fhir_outbox
             WHERE clinic_id = ?1 AND state = 'pending' AND kind IN ('demographics', 'coverage')",
        )?;
        stmt.query_map([clinic.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut appointments = Vec::with_capacity(wires.len());
    let mut keep: HashSet<String> = skipped.clone();
    for w in wires.iter_mut() {
        let local: Option<(String, i64)> = c
            .query_row(
                "SELECT status, expected_copay_cents FROM appointments
                 WHERE clinic_id = ?1 AND appointment_id = ?2 AND removed = 0",
                params![clinic.as_str(), w.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        keep_local_progress(w, local, batch.silent_copay.contains(&w.id));
        if queued.contains(&w.patient.id) {
            let local: Option<(String, Option<String>)> = c
                .query_row(
                    "SELECT demographics, coverage FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
                    params![clinic.as_str(), w.patient.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((demographics, coverage)) = local {
                keep_queued_patient(
                    w,
                    serde_json::from_str(&demographics).ok(),
                    coverage.and_then(|c| serde_json::from_str(&c).ok()),
                );
            }
        }
        keep.insert(w.id.clone());
        match Appointment::try_from(w.clone()) {
            Ok(a) => appointments.push(a),
            Err(e) => {
                tracing::warn!(clinic = %clinic, appointment = %w.id, "EHR pull: skipped: {e}");
                written.skipped += 1;
            }
        }
    }
    let s = schedule::upsert_with_facts(c, clinic, &appointments, &batch.facts, false)?;
    written.upserted = s.upserted;
    written.unchanged = s.unchanged;
    let tx = c.transaction()?;
    apply_removals(&tx, clinic, &batch, &keep, &mut written)?;
    for (id, body) in cache.iter() {
        let v = Versioned {
            resource: body.clone(),
            version: mapping::version_id(body),
        };
        cache_resource(&tx, clinic, "Appointment", id, &v)?;
    }
    tx.commit()?;
    Ok(written)
}

/// Removes the window's appointments the EHR no longer lists, or holds
/// the removals for staff when they look like a faulty answer.
fn apply_removals(
    tx: &Connection,
    clinic: &ClinicId,
    batch: &Batch,
    keep: &HashSet<String>,
    written: &mut Written,
) -> Result<(), StorageError> {
    let stale = stale_appointments(tx, clinic, keep, batch.first_day, batch.last_day)?;
    match plan_removals(clinic, stale, load_hold(tx, clinic)?, batch) {
        Removals::Remove(ids) => {
            written.removed = remove(tx, clinic, &ids)?;
            save_hold(tx, clinic, None)?;
        }
        Removals::Hold(hold) => {
            written.held = hold.appointment_ids.len();
            save_hold(tx, clinic, Some(&hold))?;
        }
    }
    Ok(())
}

/// What a pull does about the appointments the EHR no longer lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Removals {
    /// Remove these (perhaps none), and clear any hold.
    Remove(Vec<String>),
    /// Remove nothing; hold these for staff.
    Hold(HeldRemovals),
}

/// Decides the removals of a pull from what it would remove (`stale`)
/// and the hold an earlier pull left (`prior`): the same rule on every
/// backend. Removals that look like a faulty answer are held, until
/// `confirm_pulls` later pulls list the same removals.
pub(crate) fn plan_removals(
    clinic: &ClinicId,
    stale: Stale,
    prior: Option<HeldRemovals>,
    batch: &Batch,
) -> Removals {
    let ids: Vec<String> = stale.removals.iter().map(|(id, _)| id.clone()).collect();
    let Some(reason) = hold_reason(&stale, batch.max_removal_percent) else {
        return Removals::Remove(ids);
    };
    let same = prior.filter(|h| h.appointment_ids == ids);
    let agreeing = same
        .as_ref()
        .map_or(0, |h| h.agreeing_pulls.saturating_add(1));
    if agreeing >= batch.confirm_pulls {
        tracing::warn!(clinic = %clinic, removed = ids.len(), "EHR pull: held removals confirmed by {agreeing} later pulls; removing");
        return Removals::Remove(ids);
    }
    tracing::warn!(clinic = %clinic, held = ids.len(), "EHR pull: removals held for staff: {reason}");
    Removals::Hold(HeldRemovals {
        appointment_ids: ids,
        reason,
        since: same.map_or(batch.now, |h| h.since),
        agreeing_pulls: agreeing,
        pulls_to_release: batch.confirm_pulls,
    })
}

/// What a pull would remove, and what each day holds now.
#[derive(Debug, Default)]
pub(crate) struct Stale {
    /// Appointments the EHR no longer lists, with their local status.
    removals: Vec<(String, String)>,
    /// Per day: (appointments held now, of them to be removed).
    per_day: Vec<(NaiveDate, usize, usize)>,
}

impl Stale {
    /// Adds `day`, holding the live appointments `all` (id and status):
    /// those not in `keep` are to be removed.
    pub(crate) fn add_day(
        &mut self,
        day: NaiveDate,
        all: Vec<(String, String)>,
        keep: &HashSet<String>,
    ) {
        let total = all.len();
        let gone: Vec<(String, String)> = all
            .into_iter()
            .filter(|(id, _)| !keep.contains(id))
            .collect();
        self.per_day.push((day, total, gone.len()));
        self.removals.extend(gone);
    }

    /// Sorts the removals, once every day is in.
    pub(crate) fn finish(mut self) -> Self {
        self.removals.sort();
        self
    }
}

/// The window's appointments not in `keep`, day by day.
fn stale_appointments(
    tx: &Connection,
    clinic: &ClinicId,
    keep: &HashSet<String>,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Result<Stale, StorageError> {
    let mut stale = Stale::default();
    let mut day = first_day;
    while day <= last_day {
        let mut stmt = tx.prepare_cached(
            "SELECT appointment_id, status FROM appointments
             WHERE clinic_id = ?1 AND day = ?2 AND removed = 0 ORDER BY appointment_id",
        )?;
        let all = stmt
            .query_map(params![clinic.as_str(), day.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        stale.add_day(day, all, keep);
        day += Duration::days(1);
    }
    Ok(stale.finish())
}

/// Why these removals must wait for staff, if they must: an appointment
/// already arrived or checked in, or more than `max_percent` of a day.
fn hold_reason(stale: &Stale, max_percent: u8) -> Option<String> {
    let started = stale
        .removals
        .iter()
        .filter(|(_, status)| matches!(status.as_str(), "arrived" | "checked_in"))
        .count();
    if started > 0 {
        return Some(format!(
            "the EHR no longer lists {started} appointment(s) already arrived or checked in"
        ));
    }
    stale
        .per_day
        .iter()
        .find(|(_, total, gone)| *gone > 0 && gone * 100 > total * usize::from(max_percent))
        .map(|(day, total, gone)| {
            format!(
                "the EHR no longer lists {gone} of the {total} appointments on {day} (more than {max_percent}%)"
            )
        })
}

/// Marks `ids` removed under one new change sequence; how many were.
fn remove(tx: &Connection, clinic: &ClinicId, ids: &[String]) -> Result<usize, StorageError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let seq = next_seq(tx, clinic)?;
    let mut removed = 0;
    for id in ids {
        removed += tx.execute(
            "UPDATE appointments SET removed = 1, change_seq = ?3
             WHERE clinic_id = ?1 AND appointment_id = ?2 AND removed = 0",
            params![clinic.as_str(), id, seq],
        )?;
    }
    Ok(removed)
}

/// Makes the held removals of `clinic` that are still held: the ones
/// listed in the hold and still on the schedule. Returns how many were
/// removed, or `None` when nothing is held.
pub fn confirm_held(c: &mut Connection, clinic: &ClinicId) -> Result<Option<usize>, StorageError> {
    let tx = c.transaction()?;
    let Some(hold) = load_hold(&tx, clinic)? else {
        return Ok(None);
    };
    let removed = remove(&tx, clinic, &hold.appointment_ids)?;
    save_hold(&tx, clinic, None)?;
    tx.commit()?;
    Ok(Some(removed))
}

/// Remembers the EHR's copy of a resource and its version.
pub fn cache_resource(
    c: &Connection,
    clinic: &ClinicId,
    kind: &str,
    id: &str,
    v: &Versioned,
) -> Result<(), StorageError> {
    c.prepare_cached(
        "INSERT INTO fhir_resources (clinic_id, resource_type, resource_id, version_id, body)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (clinic_id, resource_type, resource_id) DO UPDATE SET
             version_id = excluded.version_id, body = excluded.body",
    )?
    .execute(params![
        clinic.as_str(),
        kind,
        id,
        v.version,
        v.resource.to_string()
    ])?;
    Ok(())
}

/// The cached copy of a resource, if a pull or write has seen it.
pub fn cached_resource(
    c: &Connection,
    clinic: &ClinicId,
    kind: &str,
    id: &str,
) -> Result<Option<Versioned>, StorageError> {
    let row: Option<(Option<String>, String)> = c
        .query_row(
            "SELECT version_id, body FROM fhir_resources
             WHERE clinic_id = ?1 AND resource_type = ?2 AND resource_id = ?3",
            params![clinic.as_str(), kind, id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(version, body)| {
        serde_json::from_str(&body)
            .ok()
            .map(|resource| Versioned { resource, version })
    }))
}
