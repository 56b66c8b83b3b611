//! The kiosk's schedule pull on PostgreSQL: a full snapshot of today, or
//! the changes since a cursor, with the same cursors as on SQLite.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::{PgError, PgStore};
use crate::domain::ClinicId;
use crate::protocol::{
    AppointmentWire, CoverageWire, DemographicsWire, PatientWire, ScheduleResponse,
};
use crate::server::db::{from_ms, random_token};
use crate::server::storage::schedule::Cursor;

pub(super) const WIRE_COLUMNS: &str =
    "a.appointment_id, a.location_id, a.start_ms, a.end_ms, a.time_zone,
    a.clinician, a.status, a.expected_copay_cents, a.prior_balance_cents, a.currency,
    p.patient_id, p.first_name, p.last_name, p.date_of_birth, p.demographics,
    p.demographics_confirmed_ms, p.coverage, a.removed, a.day";

/// One row of [`WIRE_COLUMNS`]: the appointment with its patient, and
/// whether it was removed.
pub(super) fn wire_from_row(
    clinic: &ClinicId,
    r: &Row,
) -> Result<(AppointmentWire, bool), PgError> {
    let dob: String = r.try_get(13)?;
    let Json(demographics): Json<DemographicsWire> = r.try_get(14)?;
    let coverage: Option<Json<CoverageWire>> = r.try_get(16)?;
    let wire = AppointmentWire {
        id: r.try_get(0)?,
        clinic_id: clinic.as_str().to_string(),
        location_id: r.try_get(1)?,
        start: from_ms(r.try_get(2)?),
        end: from_ms(r.try_get(3)?),
        time_zone: r.try_get(4)?,
        clinician: r.try_get(5)?,
        status: r.try_get(6)?,
        expected_copay_cents: r.try_get(7)?,
        prior_balance_cents: r.try_get(8)?,
        currency: r.try_get(9)?,
        patient: PatientWire {
            id: r.try_get(10)?,
            first_name: r.try_get(11)?,
            last_name: r.try_get(12)?,
            date_of_birth: dob
                .parse()
                .map_err(|_| PgError::Corrupt("patients.date_of_birth"))?,
            demographics,
            demographics_confirmed_at: r.try_get::<_, Option<i64>>(15)?.map(from_ms),
        },
        coverage: coverage.map(|Json(c)| c),
        forms_due: Vec::new(),
    };
    Ok((wire, r.try_get(17)?))
}

/// Creates the clinic's change sequence and epoch on first use; two
/// replicas creating them at once agree on one epoch. Run on its own, not
/// in a repeatable-read transaction, which would fail on a cursor another
/// transaction is creating.
async fn create_cursor(c: &impl GenericClient, clinic: &ClinicId) -> Result<(), PgError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, $2, 0) ON CONFLICT (clinic_id) DO NOTHING",
        )
        .await?;
    c.execute(&stmt, &[&clinic.as_str(), &random_token(6)])
        .await?;
    Ok(())
}

/// The clinic's change sequence and epoch, made by [`create_cursor`];
/// `None` before it is made.
async fn cursor_state(
    c: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<Option<(String, i64)>, PgError> {
    let stmt = c
        .prepare_cached("SELECT epoch, seq FROM clinic_cursor WHERE clinic_id = $1")
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&clinic.as_str()]).await? else {
        return Ok(None);
    };
    Ok(Some((row.try_get(0)?, row.try_get(1)?)))
}

impl PgStore {
    /// The kiosk's schedule pull for `today`: a delta since `since` when
    /// that cursor is known, otherwise a full snapshot. Read in one
    /// repeatable-read transaction, so the cursor matches the rows.
    pub async fn pull(
        &self,
        clinic: &ClinicId,
        today: NaiveDate,
        since: Option<&str>,
    ) -> Result<ScheduleResponse, PgError> {
        let mut client = self.client().await?;
        let mut created = false;
        let (tx, epoch, seq) = loop {
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?;
            match cursor_state(&tx, clinic).await? {
                Some((epoch, seq)) => break (tx, epoch, seq),
                // The clinic's first pull: make its cursor, outside the
                // snapshot, then read it in a new one.
                None if !created => {
                    tx.rollback().await?;
                    create_cursor(&client, clinic).await?;
                    created = true;
                }
                None => return Err(PgError::Corrupt("clinic_cursor")),
            }
        };
        let cursor = Cursor {
            epoch: epoch.clone(),
            day: today,
            seq,
        }
        .render();
        let known = since
            .and_then(Cursor::parse)
            .filter(|c| c.epoch == epoch && c.day == today && c.seq <= seq);
        let join = "FROM appointments a JOIN patients p
               ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id";
        let (full, rows) = match &known {
            None => {
                let sql = format!(
                    "SELECT {WIRE_COLUMNS} {join}
                     WHERE a.clinic_id = $1 AND a.day = $2 AND NOT a.removed
                     ORDER BY a.start_ms, a.appointment_id"
                );
                let stmt = tx.prepare_cached(&sql).await?;
                (
                    true,
                    tx.query(&stmt, &[&clinic.as_str(), &today.to_string()])
                        .await?,
                )
            }
            Some(k) => {
                let sql = format!(
                    "SELECT {WIRE_COLUMNS} {join}
                     WHERE a.clinic_id = $1 AND a.change_seq > $2
                     ORDER BY a.start_ms, a.appointment_id"
                );
                let stmt = tx.prepare_cached(&sql).await?;
                (false, tx.query(&stmt, &[&clinic.as_str(), &k.seq]).await?)
            }
        };
        tx.commit().await?;
        let today_text = today.to_string();
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for r in &rows {
            let day: String = r.try_get(18)?;
            let (wire, removed) = wire_from_row(clinic, r)?;
            if !full && (removed || day != today_text) {
                removals.push(wire.id);
            } else {
                upserts.push(wire);
            }
        }
        Ok(ScheduleResponse {
            cursor,
            full,
            window_from: today,
            window_to: today,
            upserts,
            removals,
            forms: Vec::new(),
            crisis_text: None,
        })
    }
}

/// Every live appointment of `clinic` on `day` with its patient, by start
/// time; as the SQLite `schedule::day_wires`.
pub(super) async fn day_wires(
    c: &impl GenericClient,
    clinic: &ClinicId,
    day: NaiveDate,
) -> Result<Vec<AppointmentWire>, PgError> {
    let sql = format!(
        "SELECT {WIRE_COLUMNS} FROM appointments a JOIN patients p
           ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id
         WHERE a.clinic_id = $1 AND a.day = $2 AND NOT a.removed
         ORDER BY a.start_ms, a.appointment_id"
    );
    let rows = c.query(&sql, &[&clinic.as_str(), &day.to_string()]).await?;
    rows.iter()
        .map(|r| wire_from_row(clinic, r).map(|(w, _)| w))
        .collect()
}
