//! Applying a kiosk's event batch on PostgreSQL, as `storage::ingest` does
//! on SQLite: one transaction per batch, each event accepted, duplicate or
//! rejected on its own, with the same effects (appointment status, flags,
//! co-pay items and mismatches, proposed changes, confirmations, audit
//! rows, completed intake forms with their `screening_positive` flag) and
//! the same notices for the staff stream.
//!
//! Idempotent across replicas: each event first claims its
//! `(clinic_id, event_id)` key with `INSERT … ON CONFLICT DO NOTHING`. A
//! claim that finds the key taken is a duplicate; a batch racing its own
//! copy on another replica waits on the key until the other commits, then
//! finds it taken. An event's checks only read, so the claim is its only
//! write until it is accepted: a rejected event's claim is deleted again,
//! and, as on SQLite, it leaves nothing and a replay is judged again. (No
//! savepoint per event: each would be a subtransaction and two more round
//! trips.) A batch that loses a deadlock to another is run again whole.
//!
//! Round trips are what a batch costs, so: every statement is prepared
//! once per pooled connection (`prepare_cached`) and costs one round trip,
//! not two; an event's claim also reads the appointment it names; and the
//! audit rows of the batch's accepted events go in one statement at its
//! end.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::{PgError, PgStore, ms};
use crate::config::ClinicSettings;
use crate::domain::fields;
use crate::domain::{AppointmentStatus, ClinicId, CoPayChoice, Demographics, ReasonCode, Step};
use crate::protocol::{
    ChangeNotice, ChangeProposal, DemographicsWire, EventBody, EventEnvelope, EventResult,
    EventStatus,
};
use crate::server::fhir::mapping::TargetStatus;
use crate::server::fhir::writeback::{self, WriteBack};
use crate::server::intake::FormCatalog;
use crate::server::storage::forms::{CheckedForm, FORMS_STEP, NewFormResponse, check_completed};
use crate::server::storage::ingest::{BatchOutcome, cents_text, check_against_appointment};
use crate::server::storage::{Actor, AuditAction};

/// How often a batch that lost a deadlock or a serialization race is run
/// again before the error reaches the kiosk (which retries later).
const ATTEMPTS: usize = 4;

impl PgStore {
    /// Applies `events` from `kiosk_id` of `clinic`, received at `now`, in
    /// one transaction; completed forms are checked against `forms`.
    pub async fn apply_batch(
        &self,
        clinic: &ClinicSettings,
        forms: &FormCatalog,
        kiosk_id: &str,
        now: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<BatchOutcome, PgError> {
        let mut client = self.client().await?;
        let mut attempt = 1;
        loop {
            let tx = client.transaction().await?;
            let mut ctx = Ctx {
                tx: &tx,
                clinic,
                forms,
                kiosk_id,
                now,
                seq: None,
                notices: Vec::new(),
                audits: Vec::new(),
            };
            let applied = ctx.apply_all(events).await;
            let notices = std::mem::take(&mut ctx.notices);
            let done = match applied {
                // The other replicas hear of the batch only if it commits.
                Ok(results) => match self.announce_in(&tx, &notices).await {
                    Ok(()) => tx.commit().await.map(|()| results),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match done {
                Ok(results) => return Ok(BatchOutcome { results, notices }),
                Err(e) if attempt < ATTEMPTS && retryable(&e) => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether the transaction lost to another and may simply run again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// The state of one batch's transaction.
struct Ctx<'a, 'c> {
    tx: &'a Transaction<'c>,
    clinic: &'a ClinicSettings,
    /// The offered intake forms.
    forms: &'a FormCatalog,
    kiosk_id: &'a str,
    now: DateTime<Utc>,
    /// The change sequence stamped on schedule rows this batch changed,
    /// taken on first need.
    seq: Option<i64>,
    notices: Vec<ChangeNotice>,
    /// Audit rows of accepted events, written at the batch's end.
    audits: Vec<PendingAudit>,
}

/// An audit row by the batch's kiosk, waiting for the batch's end.
struct PendingAudit {
    action: &'static str,
    appointment_id: Option<String>,
    patient_id: Option<String>,
    detail: Option<String>,
}

/// The appointment an event refers to.
struct Target {
    id: String,
    patient_id: String,
    status: AppointmentStatus,
    currency: String,
    expected_copay_cents: i64,
}

/// An event that passed every check: the appointment it concerns, and the
/// checked form it carries.
type Judged<'a> = (Option<Target>, Option<CheckedForm<'a>>);

impl<'a> Ctx<'a, '_> {
    fn clinic_id(&self) -> &ClinicId {
        &self.clinic.id
    }

    /// Runs `sql`, prepared once per connection, in the batch's
    /// transaction; the rows it changed.
    async fn exec(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let stmt = self.tx.prepare_cached(sql).await?;
        self.tx.execute(&stmt, params).await
    }

    /// As [`Self::exec`], for a statement that returns exactly one row.
    async fn one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        let stmt = self.tx.prepare_cached(sql).await?;
        self.tx.query_one(&stmt, params).await
    }

    fn notice(&mut self, kind: &str, id: impl Into<String>) {
        self.notices.push(ChangeNotice {
            clinic_id: self.clinic.id.as_str().to_string(),
            kind: kind.to_string(),
            id: id.into(),
        });
    }

    async fn apply_all(
        &mut self,
        events: &[EventEnvelope],
    ) -> Result<Vec<EventResult>, tokio_postgres::Error> {
        let mut results = Vec::with_capacity(events.len());
        for ev in events {
            let (status, reason) = match self.apply(ev).await? {
                Ok(s) => (s, None),
                Err(reason) => (EventStatus::Rejected, Some(reason)),
            };
            results.push(EventResult {
                id: ev.id,
                status,
                reason,
            });
        }
        self.write_audits().await?;
        Ok(results)
    }

    /// `Ok(Ok(status))` for accepted or duplicate, `Ok(Err(reason))` for
    /// rejected, `Err` for a database failure that aborts the batch.
    async fn apply(
        &mut self,
        ev: &EventEnvelope,
    ) -> Result<Result<EventStatus, String>, tokio_postgres::Error> {
        // The claim, and the appointment the event names, in one round trip.
        let row = self
            .one(
                "WITH claim AS (
                     INSERT INTO events (clinic_id, event_id, kiosk_id, kind, appointment_id, occurred_ms, received_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (clinic_id, event_id) DO NOTHING
                     RETURNING 1
                 )
                 SELECT EXISTS (SELECT 1 FROM claim), a.appointment_id, a.patient_id, a.status,
                        a.currency, a.expected_copay_cents
                 FROM (VALUES (1)) AS one (x)
                 LEFT JOIN appointments a ON a.clinic_id = $1 AND a.appointment_id = $5",
                &[
                    &self.clinic_id().as_str(),
                    &ev.id,
                    &self.kiosk_id,
                    &ev.body.kind(),
                    &ev.appointment_id,
                    &ms(ev.occurred_at),
                    &ms(self.now),
                ],
            )
            .await?;
        if !row.try_get::<_, bool>(0)? {
            return Ok(Ok(EventStatus::Duplicate));
        }
        let found = target_from(&row)?;
        match self.judge(ev, found).await? {
            Ok((target, form)) => {
                self.effects(ev, target.as_ref()).await?;
                if let (Some(form), Some(t)) = (form, target.as_ref()) {
                    self.store_form(ev, t, form).await?;
                }
                Ok(Ok(EventStatus::Accepted))
            }
            Err(reason) => {
                // The claim is all a rejected event wrote: take it back.
                self.exec(
                    "DELETE FROM events WHERE clinic_id = $1 AND event_id = $2",
                    &[&self.clinic_id().as_str(), &ev.id],
                )
                .await?;
                Ok(Err(reason))
            }
        }
    }

    /// Every check an event must pass, as on SQLite, given the stored
    /// appointment its id names (`found`); the appointment it concerns when
    /// it passes, or why it is rejected.
    async fn judge(
        &self,
        ev: &EventEnvelope,
        found: Option<Target>,
    ) -> Result<Result<Judged<'a>, String>, tokio_postgres::Error> {
        if let Err(e) = ev.validate(self.now) {
            return Ok(Err(e.to_string()));
        }
        let target = match (&ev.body, ev.appointment_id.as_deref()) {
            (EventBody::Flag { .. }, None) => None,
            (_, None) => return Ok(Err("appointment_id is required for this event".into())),
            (_, Some(a)) => match found {
                Some(t) => Some(t),
                None => return Ok(Err(format!("unknown appointment {a} in this clinic"))),
            },
        };
        if let Err(reason) = self.check(&ev.body, target.as_ref()) {
            return Ok(Err(reason));
        }
        if let Err(reason) = self.check_against_file(&ev.body, target.as_ref()).await? {
            return Ok(Err(reason));
        }
        let forms: &'a FormCatalog = self.forms;
        match check_completed(forms, &ev.body) {
            Ok(form) => Ok(Ok((target, form))),
            Err(reason) => Ok(Err(reason)),
        }
    }

    /// The checks that need the stored appointment.
    fn check(&self, body: &EventBody, target: Option<&Target>) -> Result<(), String> {
        let Some(t) = target else { return Ok(()) };
        check_against_appointment(body, &t.patient_id, &t.currency, self.clinic)
    }

    /// Proposed demographics follow the same field rules as at the kiosk,
    /// for every value that differs from the file.
    async fn check_against_file(
        &self,
        body: &EventBody,
        target: Option<&Target>,
    ) -> Result<Result<(), String>, tokio_postgres::Error> {
        let (EventBody::DemographicsProposed { demographics, .. }, Some(t)) = (body, target) else {
            return Ok(Ok(()));
        };
        let row = self
            .one(
                "SELECT demographics FROM patients WHERE clinic_id = $1 AND patient_id = $2",
                &[&self.clinic_id().as_str(), &t.patient_id],
            )
            .await?;
        let Json(on_file): Json<DemographicsWire> = row.try_get(0)?;
        let on_file = Demographics::from(on_file);
        let proposed = Demographics::from(demographics.clone());
        Ok(fields::check_demographics_change(&proposed, &on_file).map_err(|e| e.to_string()))
    }

    async fn seq(&mut self) -> Result<i64, tokio_postgres::Error> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = next_seq(self.tx, self.clinic_id()).await?;
        self.seq = Some(s);
        Ok(s)
    }

    /// Keeps an audit row by this kiosk for the batch's end
    /// ([`Self::write_audits`]), so a batch writes its audit rows in one
    /// statement.
    fn audit(&mut self, action: AuditAction, t: Option<&Target>, detail: Option<&str>) {
        self.audits.push(PendingAudit {
            action: action.as_str(),
            appointment_id: t.map(|t| t.id.clone()),
            patient_id: t.map(|t| t.patient_id.clone()),
            detail: detail.map(str::to_string),
        });
    }

    /// Writes the audit rows the batch's accepted events kept, in order.
    async fn write_audits(&mut self) -> Result<(), tokio_postgres::Error> {
        if self.audits.is_empty() {
            return Ok(());
        }
        let audits = std::mem::take(&mut self.audits);
        let actions: Vec<&str> = audits.iter().map(|a| a.action).collect();
        let appointments: Vec<Option<&str>> =
            audits.iter().map(|a| a.appointment_id.as_deref()).collect();
        let patients: Vec<Option<&str>> = audits.iter().map(|a| a.patient_id.as_deref()).collect();
        let details: Vec<Option<&str>> = audits.iter().map(|a| a.detail.as_deref()).collect();
        self.exec(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action, appointment_id, patient_id, detail)
             SELECT $1, $2, $3, $4, u.action, u.appointment_id, u.patient_id, u.detail
             FROM unnest($5::text[], $6::text[], $7::text[], $8::text[])
                  WITH ORDINALITY AS u (action, appointment_id, patient_id, detail, n)
             ORDER BY u.n",
            &[
                &self.clinic_id().as_str(),
                &ms(self.now),
                &Actor::Kiosk.as_str(),
                &self.kiosk_id,
                &actions,
                &appointments,
                &patients,
                &details,
            ],
        )
        .await?;
        Ok(())
    }

    async fn set_status(
        &mut self,
        t: &Target,
        to: AppointmentStatus,
        ehr: TargetStatus,
    ) -> Result<(), tokio_postgres::Error> {
        let s = self.seq().await?;
        self.exec(
            "UPDATE appointments SET status = $3, change_seq = $4
             WHERE clinic_id = $1 AND appointment_id = $2",
            &[&self.clinic_id().as_str(), &t.id, &to.as_str(), &s],
        )
        .await?;
        self.notice("appointment", t.id.clone());
        if writeback::enabled(self.clinic) {
            let item = WriteBack::AppointmentStatus {
                appointment_id: t.id.clone(),
                status: ehr,
            };
            enqueue(self.tx, self.clinic_id(), &item, self.now).await?;
        }
        Ok(())
    }

    async fn effects(
        &mut self,
        ev: &EventEnvelope,
        t: Option<&Target>,
    ) -> Result<(), tokio_postgres::Error> {
        use AppointmentStatus::{Arrived, Booked, CheckedIn, NoShow};
        match (&ev.body, t) {
            (EventBody::Arrived {}, Some(t)) if matches!(t.status, Booked | NoShow) => {
                self.set_status(t, Arrived, TargetStatus::Arrived).await?;
            }
            (EventBody::CheckedIn {}, Some(t)) if matches!(t.status, Booked | NoShow | Arrived) => {
                self.set_status(t, CheckedIn, TargetStatus::CheckedIn)
                    .await?;
            }
            (EventBody::Flag { code, step, text }, _) => {
                self.raise_flag(ev, Some(ev.id), code, step, text).await?;
            }
            (EventBody::DemographicsConfirmed { patient_id }, Some(t)) => {
                self.demographics_confirmed(ev, t, patient_id).await?;
            }
            (EventBody::DemographicsProposed { demographics, .. }, Some(t)) => {
                let proposal = ChangeProposal::Demographics {
                    demographics: DemographicsWire::from(&Demographics::from(demographics.clone())),
                };
                self.propose(ev, t, "demographics", &proposal).await?;
            }
            (EventBody::CoverageProposed { coverage, .. }, Some(t)) => {
                let proposal = ChangeProposal::Coverage {
                    coverage: coverage.clone(),
                };
                self.propose(ev, t, "coverage", &proposal).await?;
            }
            (
                EventBody::CopayChosen {
                    choice,
                    amount_cents,
                    currency,
                },
                Some(t),
            ) => {
                self.copay_chosen(ev, t, choice, *amount_cents, currency)
                    .await?;
            }
            (EventBody::PhiViewed { what }, Some(t)) => {
                self.audit(AuditAction::PhiViewed, Some(t), Some(what));
            }
            // Arrivals and check-ins of appointments already past them,
            // completed forms (stored by `store_form`), and bodies `judge`
            // gave a target.
            _ => {}
        }
        Ok(())
    }

    /// Stores a checked form, audited, and queues its EHR write-back when
    /// the clinic's connector writes back; stamps the patient's
    /// appointments so the next delta carries their new forms due; raises
    /// `screening_positive` for an urgent screener. As on SQLite.
    async fn store_form(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        form: CheckedForm<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        let EventBody::FormCompleted { form_version, .. } = &ev.body else {
            return Ok(());
        };
        // The sequence first, so every batch takes its locks in one order.
        let seq = self.seq().await?;
        let urgent = form.urgent();
        let band = form.band();
        let id = ev.id.to_string();
        let form_id = form.offered.rule.form_id.as_str();
        let stored = NewFormResponse {
            event_id: &id,
            kiosk_id: self.kiosk_id,
            appointment_id: &t.id,
            patient_id: &t.patient_id,
            form_id,
            form_version,
            response: &form.text,
            signature_png: form
                .signature
                .as_ref()
                .and_then(crate::server::storage::forms::Signature::png),
            signature_name: form
                .signature
                .as_ref()
                .and_then(crate::server::storage::forms::Signature::name),
            score: form.total(),
            band: band.as_deref(),
            urgent,
            completed_at: ev.occurred_at,
            received_at: self.now,
        };
        super::forms::insert(self.tx, self.clinic_id(), &stored).await?;
        self.audit(AuditAction::FormCompleted, Some(t), Some(form_id));
        if writeback::enabled(self.clinic) {
            let item = WriteBack::FormResponse {
                event_id: id.clone(),
                patient_id: t.patient_id.clone(),
            };
            enqueue(self.tx, self.clinic_id(), &item, self.now).await?;
        }
        self.exec(
            "UPDATE appointments SET change_seq = $3 WHERE clinic_id = $1 AND patient_id = $2",
            &[&self.clinic_id().as_str(), &t.patient_id, &seq],
        )
        .await?;
        self.notice("form", t.id.clone());
        self.notice("appointment", t.id.clone());
        if urgent {
            let code = ReasonCode::ScreeningPositive;
            self.raise_flag(ev, None, code.as_str(), FORMS_STEP, code.staff_text())
                .await?;
        }
        Ok(())
    }

    /// Stores a flag for staff; one the kiosk sent carries its event id,
    /// one the server raises about another event (a co-pay mismatch) none.
    async fn raise_flag(
        &mut self,
        ev: &EventEnvelope,
        event_id: Option<Uuid>,
        code: &str,
        step: &str,
        text: &str,
    ) -> Result<(), tokio_postgres::Error> {
        let row = self.one(
                "INSERT INTO flags (clinic_id, event_id, kiosk_id, appointment_id, code, step, text, raised_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING flag_id",
                &[
                    &self.clinic_id().as_str(),
                    &event_id,
                    &self.kiosk_id,
                    &ev.appointment_id,
                    &code,
                    &step,
                    &text,
                    &ms(ev.occurred_at),
                ],
            )
            .await?;
        self.notice("flag", row.get::<_, i64>(0).to_string());
        Ok(())
    }

    /// Stamps the patient's demographics as confirmed, so kiosks pull it.
    async fn demographics_confirmed(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        patient_id: &str,
    ) -> Result<(), tokio_postgres::Error> {
        // The sequence first, so every batch takes its locks in one order.
        let s = self.seq().await?;
        let clinic = self.clinic_id().as_str();
        self.exec(
            "UPDATE patients SET demographics_confirmed_ms = GREATEST(COALESCE(demographics_confirmed_ms, 0), $3)
             WHERE clinic_id = $1 AND patient_id = $2",
            &[&clinic, &patient_id, &ms(ev.occurred_at)],
        )
        .await?;
        self.exec(
            "UPDATE appointments SET change_seq = $3 WHERE clinic_id = $1 AND patient_id = $2",
            &[&clinic, &patient_id, &s],
        )
        .await?;
        self.audit(AuditAction::DemographicsConfirmed, Some(t), None);
        self.notice("appointment", t.id.clone());
        Ok(())
    }

    /// Audits the co-pay choice; a front-desk choice queues the server's
    /// amount for staff, and a different amount from the kiosk is flagged.
    async fn copay_chosen(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        choice: &str,
        reported_cents: i64,
        currency: &str,
    ) -> Result<(), tokio_postgres::Error> {
        self.audit(AuditAction::CopayChosen, Some(t), Some(choice));
        if reported_cents != t.expected_copay_cents {
            let code = ReasonCode::CopayMismatch;
            let text = format!(
                "{}: kiosk showed {}, expected {}",
                code.staff_text(),
                cents_text(reported_cents),
                cents_text(t.expected_copay_cents)
            );
            self.raise_flag(ev, None, code.as_str(), Step::CoPay.as_str(), &text)
                .await?;
        }
        if CoPayChoice::parse(choice) != Some(CoPayChoice::FrontDesk) {
            return Ok(());
        }
        let row = self.one(
                "INSERT INTO copay_items (clinic_id, event_id, kiosk_id, appointment_id, amount_cents, currency, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING item_id",
                &[
                    &self.clinic_id().as_str(),
                    &ev.id,
                    &self.kiosk_id,
                    &t.id,
                    &t.expected_copay_cents,
                    &currency.to_ascii_uppercase(),
                    &ms(ev.occurred_at),
                ],
            )
            .await?;
        self.notice("copay", row.get::<_, i64>(0).to_string());
        Ok(())
    }

    async fn propose(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        kind: &str,
        proposal: &ChangeProposal,
    ) -> Result<(), tokio_postgres::Error> {
        let row = self.one(
                "INSERT INTO proposed_changes (clinic_id, event_id, kiosk_id, appointment_id, patient_id, kind, payload, proposed_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING change_id",
                &[
                    &self.clinic_id().as_str(),
                    &ev.id,
                    &self.kiosk_id,
                    &t.id,
                    &t.patient_id,
                    &kind,
                    &Json(proposal),
                    &ms(ev.occurred_at),
                ],
            )
            .await?;
        let action = match proposal {
            ChangeProposal::Demographics { .. } => AuditAction::DemographicsProposed,
            ChangeProposal::Coverage { .. } => AuditAction::CoverageProposed,
        };
        self.audit(action, Some(t), None);
        self.notice("change", row.get::<_, i64>(0).to_string());
        Ok(())
    }
}

/// The appointment in columns 1 to 5 of the claim's row; `None` when the
/// event names none or one the clinic does not have.
fn target_from(row: &Row) -> Result<Option<Target>, tokio_postgres::Error> {
    let Some(id) = row.try_get::<_, Option<String>>(1)? else {
        return Ok(None);
    };
    let status: String = row.try_get(3)?;
    Ok(Some(Target {
        id,
        patient_id: row.try_get(2)?,
        // The CHECK constraint admits only the enum's names.
        status: AppointmentStatus::parse(&status).unwrap_or(AppointmentStatus::Booked),
        currency: row.try_get(4)?,
        expected_copay_cents: row.try_get(5)?,
    }))
}

/// Advances the clinic's change sequence and returns the new value,
/// creating the clinic's cursor on first use.
pub(super) async fn next_seq(
    c: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, $2, 1)
             ON CONFLICT (clinic_id) DO UPDATE SET seq = clinic_cursor.seq + 1
             RETURNING seq",
        )
        .await?;
    let row = c
        .query_one(
            &stmt,
            &[&clinic.as_str(), &crate::server::db::random_token(6)],
        )
        .await?;
    row.try_get(0)
}

/// Queues an EHR write-back for `clinic` in the caller's transaction, as
/// `fhir::writeback::enqueue` does on SQLite.
pub(super) async fn enqueue(
    c: &impl GenericClient,
    clinic: &ClinicId,
    item: &WriteBack,
    now: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    let (kind, target) = item.target();
    let stmt = c
        .prepare_cached(
            "INSERT INTO fhir_outbox (clinic_id, kind, target_id, payload, created_ms, next_attempt_ms)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .await?;
    c.execute(
        &stmt,
        &[&clinic.as_str(), &kind, &target, &Json(item), &ms(now)],
    )
    .await?;
    Ok(())
}
