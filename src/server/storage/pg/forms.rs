//! Completed intake forms on PostgreSQL, as `storage::forms` on SQLite:
//! storing a checked form in the batch's transaction, the forms due and
//! definitions every schedule reply carries, and today's completed forms
//! for staff. The checks, scoring and forms-due rules are SQLite's, shared.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::pipeline::{Write, param};
use super::{PgError, PgStore, ms};
use crate::domain::ClinicId;
use crate::domain::forms_due::Completed;
use crate::protocol::ScheduleResponse;
use crate::server::db::from_ms;
use crate::server::intake::FormCatalog;
use crate::server::storage::forms::{
    Facts, NewFormResponse, StoredForm, completed_day, fill, lookups,
};

/// The statement storing one completed form, for the batch's pipeline;
/// the batch's transaction holds its event, whose claim already made it
/// the only one with that event id.
pub(super) fn insert(clinic: &ClinicId, f: &NewFormResponse<'_>) -> Write {
    Write::exec(
        "INSERT INTO form_responses (clinic_id, event_id, kiosk_id, appointment_id, patient_id,
             form_id, form_version, response, signature_png, score, band, urgent,
             completed_ms, received_ms, signature_name)
         VALUES ($1, ($2::text)::uuid, $3, $4, $5, $6, $7, ($8::text)::jsonb, $9, $10, $11, $12,
             $13, $14, $15)",
        vec![
            param(clinic.as_str().to_string()),
            param(f.event_id.to_string()),
            param(f.kiosk_id.to_string()),
            param(f.appointment_id.to_string()),
            param(f.patient_id.to_string()),
            param(f.form_id.to_string()),
            param(f.form_version.to_string()),
            param(f.response.to_string()),
            param(f.signature_png.map(<[u8]>::to_vec)),
            param(f.score.map(i16::from)),
            param(f.band.map(str::to_string)),
            param(f.urgent),
            param(ms(f.completed_at)),
            param(ms(f.received_at)),
            param(f.signature_name.map(str::to_string)),
        ],
    )
}

impl PgStore {
    /// Fills in a schedule reply's forms due, definitions and crisis text,
    /// as `storage::forms::annotate` does on SQLite: two queries whatever
    /// the reply's size.
    pub async fn annotate_forms(
        &self,
        clinic: &ClinicId,
        tz: Tz,
        reply: &mut ScheduleResponse,
        catalog: &FormCatalog,
    ) -> Result<(), PgError> {
        let Some(wanted) = lookups(reply, catalog) else {
            return Ok(());
        };
        let client = self.client().await?;
        // Both queries in one pipeline.
        let (facts_of, history_of) = tokio::try_join!(
            client.prepare_cached(
                "SELECT appointment_id, day, clinician_id, visit_type FROM appointments
                 WHERE clinic_id = $1 AND appointment_id = ANY($2)",
            ),
            client.prepare_cached(
                "SELECT patient_id, form_id, appointment_id, completed_ms FROM form_responses
                 WHERE clinic_id = $1 AND patient_id = ANY($2)",
            ),
        )?;
        let clinic_id = clinic.as_str();
        let facts_params: [&(dyn ToSql + Sync); 2] = [&clinic_id, &wanted.appointments];
        let history_params: [&(dyn ToSql + Sync); 2] = [&clinic_id, &wanted.patients];
        let (rows, history_rows) = tokio::try_join!(
            client.query(&facts_of, &facts_params),
            client.query(&history_of, &history_params),
        )?;
        let mut facts = HashMap::new();
        for r in &rows {
            let day: String = r.try_get(1)?;
            let day = day
                .parse()
                .map_err(|_| PgError::Corrupt("appointments.day"))?;
            let f = Facts {
                day,
                clinician_id: r.try_get(2)?,
                visit_type: r.try_get(3)?,
            };
            facts.insert(r.try_get::<_, String>(0)?, f);
        }
        let mut history: HashMap<String, Vec<Completed>> = HashMap::new();
        for r in &history_rows {
            history.entry(r.try_get(0)?).or_default().push(Completed {
                form_id: r.try_get(1)?,
                appointment_id: Some(r.try_get(2)?),
                completed_on: completed_day(r.try_get(3)?, tz),
            });
        }
        fill(reply, catalog, &facts, &history);
        Ok(())
    }

    /// The completed forms of `clinic`'s appointments on `day`, by
    /// appointment start and completion time, as on SQLite.
    pub async fn completed_forms_on(
        &self,
        clinic: &ClinicId,
        day: NaiveDate,
    ) -> Result<Vec<StoredForm>, PgError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT f.appointment_id, f.form_id, f.completed_ms, f.score, f.band, f.urgent,
                        f.signature_png IS NOT NULL OR f.signature_name IS NOT NULL
                 FROM form_responses f JOIN appointments a
                   ON a.clinic_id = f.clinic_id AND a.appointment_id = f.appointment_id
                 WHERE f.clinic_id = $1 AND a.day = $2 AND NOT a.removed
                 ORDER BY a.start_ms, a.appointment_id, f.completed_ms, f.event_id",
                &[&clinic.as_str(), &day.to_string()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let score: Option<i16> = r.try_get(3)?;
                Ok(StoredForm {
                    appointment_id: r.try_get(0)?,
                    form_id: r.try_get(1)?,
                    completed_at: from_ms(r.try_get(2)?),
                    score: score
                        .map(u8::try_from)
                        .transpose()
                        .map_err(|_| PgError::Corrupt("form_responses.score"))?,
                    band: r.try_get(4)?,
                    urgent: r.try_get(5)?,
                    signed: r.try_get(6)?,
                })
            })
            .collect()
    }
}
