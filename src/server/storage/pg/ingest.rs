//! Applying a kiosk's event batch on PostgreSQL, as `storage::ingest` does
//! on SQLite: one transaction per batch, each event accepted, duplicate or
//! rejected on its own, with the same effects (appointment status, flags,
//! co-pay items and mismatches, proposed changes, confirmations, audit
//! rows, completed intake forms with their `screening_positive` flag) and
//! the same notices for the staff stream.
//!
//! Idempotent across replicas: the batch first claims each event's
//! `(clinic_id, event_id)` key with `INSERT … ON CONFLICT DO NOTHING`. A
//! claim that finds the key taken is a duplicate; a batch racing its own
//! copy on another replica waits on the keys until the other commits, then
//! finds them taken. An event's checks only read, so the claim is its only
//! write until it is accepted: a rejected event's claim is deleted again,
//! and, as on SQLite, it leaves nothing and a replay is judged again. An
//! id repeated within one batch is the same event: it gets the answer its
//! first occurrence got. A batch that loses a deadlock to another is run
//! again whole.
//!
//! Round trips are what a batch costs, so a batch makes six whatever its
//! size: `BEGIN`; one statement that claims every event and reads the
//! appointments and patient files they name; then, the events judged in
//! memory, all the writes (the change sequence first, the effects, the
//! audit rows) sent as one pipeline; the notices for the other replicas
//! staged; `COMMIT`; and, after it, the notices sent (see
//! [`PgStore::send_staged`]). Within the batch an
//! event sees the appointment status the events before it set, as it
//! would one statement at a time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::pipeline::{self, Write, param};
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

/// Claims every event of a batch and reads, for each, the appointment it
/// names and (for proposed demographics only) the patient's file; one row
/// per event, in the batch's order.
const CLAIM: &str = "WITH input AS (
         SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int8[], $8::bool[])
             WITH ORDINALITY AS u (event_id, kind, appointment_id, occurred_ms, wants_file, n)
     ), claim AS (
         INSERT INTO events (clinic_id, event_id, kiosk_id, kind, appointment_id, occurred_ms, received_ms)
         SELECT $1, event_id, $6, kind, appointment_id, occurred_ms, $7 FROM input ORDER BY n
         ON CONFLICT (clinic_id, event_id) DO NOTHING
         RETURNING event_id
     )
     SELECT EXISTS (SELECT 1 FROM claim c WHERE c.event_id = i.event_id),
            a.appointment_id, a.patient_id, a.status, a.currency, a.expected_copay_cents,
            CASE WHEN i.wants_file THEN p.demographics END
     FROM input i
     LEFT JOIN appointments a ON a.clinic_id = $1 AND a.appointment_id = i.appointment_id
     LEFT JOIN patients p ON p.clinic_id = $1 AND p.patient_id = a.patient_id
     ORDER BY i.n";

/// Advances the clinic's change sequence; the batch's later statements
/// stamp rows with it by reading it back in the same transaction.
/// Creates the cursor on first use; returns the new value (`$1` clinic,
/// `$2` the epoch of a new cursor).
const NEXT_SEQ: &str = "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, $2, 1)
     ON CONFLICT (clinic_id) DO UPDATE SET seq = clinic_cursor.seq + 1
     RETURNING seq";

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
        let batch = Batch {
            clinic,
            forms,
            kiosk_id,
            now,
        };
        let mut attempt = 1;
        loop {
            let done = {
                let tx = client.transaction().await?;
                match batch.run(&tx, events).await {
                    Ok(outcome) => match self.stage_in(&tx, &outcome.notices).await {
                        Ok(staged) => tx.commit().await.map(|()| (outcome, staged)),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            };
            match done {
                Ok((outcome, staged)) => {
                    // The other replicas hear of the batch once it is
                    // committed, outside its transaction.
                    self.send_staged(&client, &staged).await;
                    return Ok(outcome);
                }
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

/// What one batch is applied with.
struct Batch<'a> {
    clinic: &'a ClinicSettings,
    /// The offered intake forms.
    forms: &'a FormCatalog,
    kiosk_id: &'a str,
    now: DateTime<Utc>,
}

/// What the claim statement found for one event.
struct Claimed {
    /// Whether this batch claimed its key (false: a duplicate).
    new: bool,
    /// The appointment it names, when the clinic has it.
    target: Option<Target>,
    /// The patient's demographics on file, for proposed demographics.
    on_file: Option<DemographicsWire>,
}

/// The appointment an event refers to.
#[derive(Clone)]
struct Target {
    id: String,
    patient_id: String,
    status: AppointmentStatus,
    currency: String,
    expected_copay_cents: i64,
}

impl<'a> Batch<'a> {
    /// Claims, judges and writes the batch in `tx`; its results and the
    /// notices to announce.
    async fn run(
        &self,
        tx: &Transaction<'_>,
        events: &[EventEnvelope],
    ) -> Result<BatchOutcome, tokio_postgres::Error> {
        let claimed = self.claim(tx, events).await?;
        let mut plan = Plan::new(self);
        let mut first: HashMap<Uuid, usize> = HashMap::new();
        let mut results: Vec<EventResult> = Vec::with_capacity(events.len());
        for (ev, found) in events.iter().zip(claimed) {
            let (status, reason) = if let Some(&i) = first.get(&ev.id) {
                let earlier = &results[i];
                match earlier.status {
                    EventStatus::Rejected => (EventStatus::Rejected, earlier.reason.clone()),
                    _ => (EventStatus::Duplicate, None),
                }
            } else {
                first.insert(ev.id, results.len());
                match plan.event(ev, found) {
                    Ok(s) => (s, None),
                    Err(reason) => (EventStatus::Rejected, Some(reason)),
                }
            };
            results.push(EventResult {
                id: ev.id,
                status,
                reason,
            });
        }
        let (writes, pending) = plan.finish();
        let returned = pipeline::send(tx, &writes).await?;
        let notices = pending
            .into_iter()
            .map(|n| n.resolve(self.clinic, &returned))
            .collect();
        Ok(BatchOutcome { results, notices })
    }

    /// The claim of every event, with what each names: one statement.
    async fn claim(
        &self,
        tx: &Transaction<'_>,
        events: &[EventEnvelope],
    ) -> Result<Vec<Claimed>, tokio_postgres::Error> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.body.kind()).collect();
        let appointments: Vec<Option<&str>> =
            events.iter().map(|e| e.appointment_id.as_deref()).collect();
        let occurred: Vec<i64> = events.iter().map(|e| ms(e.occurred_at)).collect();
        let wants_file: Vec<bool> = events
            .iter()
            .map(|e| matches!(e.body, EventBody::DemographicsProposed { .. }))
            .collect();
        let stmt = tx.prepare_cached(CLAIM).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &self.clinic.id.as_str(),
                    &ids,
                    &kinds,
                    &appointments,
                    &occurred,
                    &self.kiosk_id,
                    &ms(self.now),
                    &wants_file,
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    new: row.try_get(0)?,
                    target: target_from(row)?,
                    on_file: row
                        .try_get::<_, Option<Json<DemographicsWire>>>(6)?
                        .map(|Json(d)| d),
                })
            })
            .collect()
    }
}

/// A batch's writes and notices, decided event by event in memory and sent
/// at the end in one pipeline.
struct Plan<'a> {
    clinic: &'a ClinicSettings,
    forms: &'a FormCatalog,
    kiosk_id: &'a str,
    now: DateTime<Utc>,
    /// Each appointment the batch touches, with the status the events so
    /// far left it in.
    targets: HashMap<String, Target>,
    /// Whether an accepted event stamps rows with a new change sequence.
    needs_seq: bool,
    /// The claims of rejected events, to take back.
    rejected: Vec<Uuid>,
    /// The accepted events' writes, in order.
    effects: Vec<Write>,
    /// Audit rows of accepted events, written in one statement.
    audits: Vec<PendingAudit>,
    notices: Vec<PendingNotice>,
}

/// An audit row by the batch's kiosk, waiting for the batch's end.
struct PendingAudit {
    action: &'static str,
    appointment_id: Option<String>,
    patient_id: Option<String>,
    detail: Option<String>,
}

/// A notice for the staff stream; its id may be one a write returns.
struct PendingNotice {
    kind: &'static str,
    id: NoticeId,
}

enum NoticeId {
    Known(String),
    /// The id returned by the write at this index of the pipeline.
    Returned(usize),
}

impl PendingNotice {
    fn resolve(self, clinic: &ClinicSettings, returned: &[Option<i64>]) -> ChangeNotice {
        let id = match self.id {
            NoticeId::Known(id) => id,
            NoticeId::Returned(i) => returned
                .get(i)
                .copied()
                .flatten()
                .map(|id| id.to_string())
                .unwrap_or_default(),
        };
        ChangeNotice {
            clinic_id: clinic.id.as_str().to_string(),
            kind: self.kind.to_string(),
            id,
        }
    }
}

/// An event that passed every check: the appointment it concerns, and the
/// checked form it carries.
type Judged<'a> = (Option<Target>, Option<CheckedForm<'a>>);

impl<'a> Plan<'a> {
    fn new(batch: &Batch<'a>) -> Self {
        Self {
            clinic: batch.clinic,
            forms: batch.forms,
            kiosk_id: batch.kiosk_id,
            now: batch.now,
            targets: HashMap::new(),
            needs_seq: false,
            rejected: Vec::new(),
            effects: Vec::new(),
            audits: Vec::new(),
            notices: Vec::new(),
        }
    }

    fn clinic_id(&self) -> String {
        self.clinic.id.as_str().to_string()
    }

    /// Judges one event the batch has not seen before and plans its
    /// effects: accepted or duplicate, or why it is rejected.
    fn event(&mut self, ev: &EventEnvelope, found: Claimed) -> Result<EventStatus, String> {
        if !found.new {
            return Ok(EventStatus::Duplicate);
        }
        match self.judge(ev, found) {
            Ok((target, form)) => {
                self.effects_of(ev, target.as_ref());
                if let (Some(form), Some(t)) = (form, target.as_ref()) {
                    self.store_form(ev, t, form);
                }
                Ok(EventStatus::Accepted)
            }
            Err(reason) => {
                // The claim is all a rejected event wrote: take it back.
                self.rejected.push(ev.id);
                Err(reason)
            }
        }
    }

    /// The pipeline: the change sequence first (so every batch takes its
    /// locks in one order), the rejected claims taken back, the effects,
    /// the audit rows; and the notices, pointing into it.
    fn finish(mut self) -> (Vec<Write>, Vec<PendingNotice>) {
        let mut writes = Vec::with_capacity(self.effects.len() + 3);
        if self.needs_seq {
            writes.push(Write::exec(
                NEXT_SEQ,
                vec![
                    param(self.clinic_id()),
                    param(crate::server::db::random_token(6)),
                ],
            ));
        }
        if !self.rejected.is_empty() {
            writes.push(Write::exec(
                "DELETE FROM events WHERE clinic_id = $1 AND event_id = ANY($2)",
                vec![
                    param(self.clinic_id()),
                    param(std::mem::take(&mut self.rejected)),
                ],
            ));
        }
        let offset = writes.len();
        let audits = self.audit_write();
        writes.append(&mut self.effects);
        writes.extend(audits);
        for n in &mut self.notices {
            if let NoticeId::Returned(i) = &mut n.id {
                *i += offset;
            }
        }
        (writes, self.notices)
    }

    /// Every check an event must pass, as on SQLite, given what the claim
    /// found; the appointment it concerns when it passes, or why it is
    /// rejected.
    fn judge(&mut self, ev: &EventEnvelope, found: Claimed) -> Result<Judged<'a>, String> {
        ev.validate(self.now).map_err(|e| e.to_string())?;
        let target = match (&ev.body, ev.appointment_id.as_deref(), found.target) {
            (EventBody::Flag { .. }, None, _) => None,
            (_, None, _) => return Err("appointment_id is required for this event".into()),
            (_, Some(a), None) => return Err(format!("unknown appointment {a} in this clinic")),
            (_, Some(_), Some(t)) => Some(self.targets.entry(t.id.clone()).or_insert(t).clone()),
        };
        if let Some(t) = &target {
            check_against_appointment(&ev.body, &t.patient_id, &t.currency, self.clinic)?;
        }
        check_against_file(&ev.body, target.as_ref(), found.on_file)?;
        let forms: &'a FormCatalog = self.forms;
        let form = check_completed(forms, &ev.body)?;
        Ok((target, form))
    }

    /// Queues `write`; its index among the effects.
    fn push(&mut self, write: Write) -> usize {
        self.effects.push(write);
        self.effects.len() - 1
    }

    fn notice(&mut self, kind: &'static str, id: impl Into<String>) {
        self.notices.push(PendingNotice {
            kind,
            id: NoticeId::Known(id.into()),
        });
    }

    /// A notice whose id the effect at `index` returns.
    fn notice_of(&mut self, kind: &'static str, index: usize) {
        self.notices.push(PendingNotice {
            kind,
            id: NoticeId::Returned(index),
        });
    }

    /// Keeps an audit row by this kiosk for the batch's end.
    fn audit(&mut self, action: AuditAction, t: Option<&Target>, detail: Option<&str>) {
        self.audits.push(PendingAudit {
            action: action.as_str(),
            appointment_id: t.map(|t| t.id.clone()),
            patient_id: t.map(|t| t.patient_id.clone()),
            detail: detail.map(str::to_string),
        });
    }

    /// The audit rows the batch's accepted events kept, in order, as one
    /// statement.
    fn audit_write(&mut self) -> Option<Write> {
        if self.audits.is_empty() {
            return None;
        }
        let audits = std::mem::take(&mut self.audits);
        let column = |f: fn(&PendingAudit) -> Option<String>| -> Vec<Option<String>> {
            audits.iter().map(f).collect()
        };
        let actions: Vec<String> = audits.iter().map(|a| a.action.to_string()).collect();
        Some(Write::exec(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action, appointment_id, patient_id, detail)
             SELECT $1, $2, $3, $4, u.action, u.appointment_id, u.patient_id, u.detail
             FROM unnest($5::text[], $6::text[], $7::text[], $8::text[])
                  WITH ORDINALITY AS u (action, appointment_id, patient_id, detail, n)
             ORDER BY u.n",
            vec![
                param(self.clinic_id()),
                param(ms(self.now)),
                param(Actor::Kiosk.as_str()),
                param(self.kiosk_id.to_string()),
                param(actions),
                param(column(|a| a.appointment_id.clone())),
                param(column(|a| a.patient_id.clone())),
                param(column(|a| a.detail.clone())),
            ],
        ))
    }

    /// Queues an EHR write-back, as `fhir::writeback::enqueue` does on
    /// SQLite.
    fn enqueue(&mut self, item: WriteBack) {
        let (kind, target) = item.target();
        let (kind, target) = (kind.to_string(), target.to_string());
        self.push(Write::exec(
            ENQUEUE,
            vec![
                param(self.clinic_id()),
                param(kind),
                param(target),
                param(Json(item)),
                param(ms(self.now)),
            ],
        ));
    }

    fn set_status(&mut self, t: &Target, to: AppointmentStatus, ehr: TargetStatus) {
        self.needs_seq = true;
        self.push(Write::exec(
            "UPDATE appointments
             SET status = $3, change_seq = (SELECT seq FROM clinic_cursor WHERE clinic_id = $1)
             WHERE clinic_id = $1 AND appointment_id = $2",
            vec![
                param(self.clinic_id()),
                param(t.id.clone()),
                param(to.as_str()),
            ],
        ));
        if let Some(held) = self.targets.get_mut(&t.id) {
            held.status = to;
        }
        self.notice("appointment", t.id.clone());
        if writeback::enabled(self.clinic) {
            self.enqueue(WriteBack::AppointmentStatus {
                appointment_id: t.id.clone(),
                status: ehr,
            });
        }
    }

    /// Stamps the patient's appointments with the batch's change sequence,
    /// so kiosks pull them again.
    fn stamp_patient(&mut self, patient_id: &str) {
        self.needs_seq = true;
        self.push(Write::exec(
            "UPDATE appointments
             SET change_seq = (SELECT seq FROM clinic_cursor WHERE clinic_id = $1)
             WHERE clinic_id = $1 AND patient_id = $2",
            vec![param(self.clinic_id()), param(patient_id.to_string())],
        ));
    }

    fn effects_of(&mut self, ev: &EventEnvelope, t: Option<&Target>) {
        use AppointmentStatus::{Arrived, Booked, CheckedIn, NoShow};
        match (&ev.body, t) {
            (EventBody::Arrived {}, Some(t)) if matches!(t.status, Booked | NoShow) => {
                self.set_status(t, Arrived, TargetStatus::Arrived);
            }
            (EventBody::CheckedIn {}, Some(t)) if matches!(t.status, Booked | NoShow | Arrived) => {
                self.set_status(t, CheckedIn, TargetStatus::CheckedIn);
            }
            (EventBody::Flag { code, step, text }, _) => {
                self.raise_flag(ev, Some(ev.id), code, step, text);
            }
            (EventBody::DemographicsConfirmed { patient_id }, Some(t)) => {
                self.demographics_confirmed(ev, t, patient_id);
            }
            (EventBody::DemographicsProposed { demographics, .. }, Some(t)) => {
                let proposal = ChangeProposal::Demographics {
                    demographics: DemographicsWire::from(&Demographics::from(demographics.clone())),
                };
                self.propose(ev, t, "demographics", proposal);
            }
            (EventBody::CoverageProposed { coverage, .. }, Some(t)) => {
                let proposal = ChangeProposal::Coverage {
                    coverage: coverage.clone(),
                };
                self.propose(ev, t, "coverage", proposal);
            }
            (
                EventBody::CopayChosen {
                    choice,
                    amount_cents,
                    currency,
                },
                Some(t),
            ) => self.copay_chosen(ev, t, choice, *amount_cents, currency),
            (EventBody::PhiViewed { what }, Some(t)) => {
                self.audit(AuditAction::PhiViewed, Some(t), Some(what));
            }
            // Arrivals and check-ins of appointments already past them,
            // completed forms (stored by `store_form`), and bodies `judge`
            // gave a target.
            _ => {}
        }
    }

    /// Stores a checked form, audited, and queues its EHR write-back when
    /// the clinic's connector writes back; stamps the patient's
    /// appointments so the next delta carries their new forms due; raises
    /// `screening_positive` for an urgent screener. As on SQLite.
    fn store_form(&mut self, ev: &EventEnvelope, t: &Target, form: CheckedForm<'_>) {
        let EventBody::FormCompleted { form_version, .. } = &ev.body else {
            return;
        };
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
        let insert = super::forms::insert(&self.clinic.id, &stored);
        self.push(insert);
        self.audit(AuditAction::FormCompleted, Some(t), Some(form_id));
        if writeback::enabled(self.clinic) {
            self.enqueue(WriteBack::FormResponse {
                event_id: id.clone(),
                patient_id: t.patient_id.clone(),
            });
        }
        self.stamp_patient(&t.patient_id);
        self.notice("form", t.id.clone());
        self.notice("appointment", t.id.clone());
        if urgent {
            let code = ReasonCode::ScreeningPositive;
            self.raise_flag(ev, None, code.as_str(), FORMS_STEP, code.staff_text());
        }
    }

    /// Stores a flag for staff; one the kiosk sent carries its event id,
    /// one the server raises about another event (a co-pay mismatch) none.
    fn raise_flag(
        &mut self,
        ev: &EventEnvelope,
        event_id: Option<Uuid>,
        code: &str,
        step: &str,
        text: &str,
    ) {
        let i = self.push(Write::returning_id(
            "INSERT INTO flags (clinic_id, event_id, kiosk_id, appointment_id, code, step, text, raised_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING flag_id",
            vec![
                param(self.clinic_id()),
                param(event_id),
                param(self.kiosk_id.to_string()),
                param(ev.appointment_id.clone()),
                param(code.to_string()),
                param(step.to_string()),
                param(text.to_string()),
                param(ms(ev.occurred_at)),
            ],
        ));
        self.notice_of("flag", i);
    }

    /// Stamps the patient's demographics as confirmed, so kiosks pull it.
    fn demographics_confirmed(&mut self, ev: &EventEnvelope, t: &Target, patient_id: &str) {
        self.push(Write::exec(
            "UPDATE patients SET demographics_confirmed_ms = GREATEST(COALESCE(demographics_confirmed_ms, 0), $3)
             WHERE clinic_id = $1 AND patient_id = $2",
            vec![
                param(self.clinic_id()),
                param(patient_id.to_string()),
                param(ms(ev.occurred_at)),
            ],
        ));
        self.stamp_patient(patient_id);
        self.audit(AuditAction::DemographicsConfirmed, Some(t), None);
        self.notice("appointment", t.id.clone());
    }

    /// Audits the co-pay choice; a front-desk choice queues the server's
    /// amount for staff, and a different amount from the kiosk is flagged.
    fn copay_chosen(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        choice: &str,
        reported_cents: i64,
        currency: &str,
    ) {
        self.audit(AuditAction::CopayChosen, Some(t), Some(choice));
        if reported_cents != t.expected_copay_cents {
            let code = ReasonCode::CopayMismatch;
            let text = format!(
                "{}: kiosk showed {}, expected {}",
                code.staff_text(),
                cents_text(reported_cents),
                cents_text(t.expected_copay_cents)
            );
            self.raise_flag(ev, None, code.as_str(), Step::CoPay.as_str(), &text);
        }
        if CoPayChoice::parse(choice) != Some(CoPayChoice::FrontDesk) {
            return;
        }
        let i = self.push(Write::returning_id(
            "INSERT INTO copay_items (clinic_id, event_id, kiosk_id, appointment_id, amount_cents, currency, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING item_id",
            vec![
                param(self.clinic_id()),
                param(ev.id),
                param(self.kiosk_id.to_string()),
                param(t.id.clone()),
                param(t.expected_copay_cents),
                param(currency.to_ascii_uppercase()),
                param(ms(ev.occurred_at)),
            ],
        ));
        self.notice_of("copay", i);
    }

    fn propose(&mut self, ev: &EventEnvelope, t: &Target, kind: &str, proposal: ChangeProposal) {
        let action = match proposal {
            ChangeProposal::Demographics { .. } => AuditAction::DemographicsProposed,
            ChangeProposal::Coverage { .. } => AuditAction::CoverageProposed,
        };
        let i = self.push(Write::returning_id(
            "INSERT INTO proposed_changes (clinic_id, event_id, kiosk_id, appointment_id, patient_id, kind, payload, proposed_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING change_id",
            vec![
                param(self.clinic_id()),
                param(ev.id),
                param(self.kiosk_id.to_string()),
                param(t.id.clone()),
                param(t.patient_id.clone()),
                param(kind.to_string()),
                param(Json(proposal)),
                param(ms(ev.occurred_at)),
            ],
        ));
        self.audit(action, Some(t), None);
        self.notice_of("change", i);
    }
}

/// Proposed demographics follow the same field rules as at the kiosk, for
/// every value that differs from the file.
fn check_against_file(
    body: &EventBody,
    target: Option<&Target>,
    on_file: Option<DemographicsWire>,
) -> Result<(), String> {
    let (EventBody::DemographicsProposed { demographics, .. }, Some(t)) = (body, target) else {
        return Ok(());
    };
    let Some(on_file) = on_file else {
        return Err(format!(
            "patient {} has no file in this clinic",
            t.patient_id
        ));
    };
    let proposed = Demographics::from(demographics.clone());
    fields::check_demographics_change(&proposed, &Demographics::from(on_file))
        .map_err(|e| e.to_string())
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

/// Queues an EHR write-back (`$1` clinic, `$2` kind, `$3` target, `$4`
/// payload, `$5` now).
const ENQUEUE: &str =
    "INSERT INTO fhir_outbox (clinic_id, kind, target_id, payload, created_ms, next_attempt_ms)
     VALUES ($1, $2, $3, $4, $5, $5)";

/// Advances the clinic's change sequence and returns the new value,
/// creating the clinic's cursor on first use.
pub(super) async fn next_seq(
    c: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(NEXT_SEQ).await?;
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
    let stmt = c.prepare_cached(ENQUEUE).await?;
    c.execute(
        &stmt,
        &[&clinic.as_str(), &kind, &target, &Json(item), &ms(now)],
    )
    .await?;
    Ok(())
}
