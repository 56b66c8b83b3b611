//! Applying a kiosk's event batch: idempotent by the client's event UUID,
//! all in one transaction, each event accepted, duplicate or rejected on
//! its own.
//!
//! Effects: appointment status (arrived, checked in), staff flags, proposed
//! demographics and coverage changes, co-pay queue items, demographics
//! confirmations, audit rows (PHI views, co-pay choices, proposals), and
//! completed intake forms: checked against the offered form, scored, stored
//! and audited, with a `screening_positive` flag for an urgent screener.
//! A rejected event changes nothing and is not remembered, so a replay of
//! it is judged again (and rejected again).

use rusqlite::{Connection, OptionalExtension, params};

use super::{self as storage, Actor, AuditAction, AuditEntry, StorageError, stored_status};
use crate::config::ClinicSettings;
use crate::domain::fields;
use crate::domain::{AppointmentStatus, ClinicId, CoPayChoice, Demographics, ReasonCode, Step};
use crate::protocol::{
    ChangeNotice, ChangeProposal, DemographicsWire, EventBody, EventEnvelope, EventResult,
    EventStatus,
};
use crate::server::db::{next_seq, to_ms};
use crate::server::fhir::mapping::TargetStatus;
use crate::server::fhir::writeback as fhir_writeback;
use crate::server::intake::FormCatalog;
use crate::server::storage::forms::{
    self as form_store, CheckedForm, FORMS_STEP, NewFormResponse, Signature,
};

/// What a batch did: one result per event, and the notices to publish once
/// the transaction has committed.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// One result per event, in the batch's order.
    pub results: Vec<EventResult>,
    /// Changes for the staff console's live stream.
    pub notices: Vec<ChangeNotice>,
}

/// Applies `events` from `kiosk_id` of `clinic`, received at `now`;
/// completed forms are checked against `forms`.
pub fn apply_batch(
    conn: &mut Connection,
    clinic: &ClinicSettings,
    forms: &FormCatalog,
    kiosk_id: &str,
    now: chrono::DateTime<chrono::Utc>,
    events: &[EventEnvelope],
) -> Result<BatchOutcome, StorageError> {
    // A savepoint: its own transaction when called alone, and a nested,
    // separately undoable part of the group's transaction when called by
    // the group commit (`crate::server::group_commit`).
    let tx = conn.savepoint()?;
    let mut ctx = Ctx {
        tx: &tx,
        clinic,
        forms,
        kiosk_id,
        now_ms: to_ms(now),
        seq: None,
        notices: Vec::new(),
    };
    let mut results = Vec::with_capacity(events.len());
    for ev in events {
        let status = ctx.apply(ev)?;
        let (status, reason) = match status {
            Ok(s) => (s, None),
            Err(reason) => (EventStatus::Rejected, Some(reason)),
        };
        results.push(EventResult {
            id: ev.id,
            status,
            reason,
        });
    }
    let notices = std::mem::take(&mut ctx.notices);
    drop(ctx);
    tx.commit()?;
    Ok(BatchOutcome { results, notices })
}

/// The state of one batch's transaction.
struct Ctx<'a> {
    /// The open transaction.
    tx: &'a Connection,
    /// The kiosk's clinic.
    clinic: &'a ClinicSettings,
    /// The offered intake forms.
    forms: &'a FormCatalog,
    /// The sending kiosk.
    kiosk_id: &'a str,
    /// When the batch arrived.
    now_ms: i64,
    /// The change sequence stamped on schedule rows this batch changed,
    /// taken on first need.
    seq: Option<i64>,
    /// Changes to announce after commit.
    notices: Vec<ChangeNotice>,
}

/// The appointment an event refers to.
struct Target {
    /// Its id.
    id: String,
    /// Its patient.
    patient_id: String,
    /// Its status.
    status: AppointmentStatus,
    /// The currency of its amounts.
    currency: String,
    /// The co-pay the server expects, in cents.
    expected_copay_cents: i64,
}

impl<'a> Ctx<'a> {
    fn clinic_id(&self) -> &ClinicId {
        &self.clinic.id
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_default()
    }

    fn notice(&mut self, kind: &str, id: impl Into<String>) {
        self.notices.push(ChangeNotice {
            clinic_id: self.clinic.id.as_str().to_string(),
            kind: kind.to_string(),
            id: id.into(),
        });
    }

    fn seq(&mut self) -> Result<i64, StorageError> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = next_seq(self.tx, &self.clinic.id)?;
        self.seq = Some(s);
        Ok(s)
    }

    /// `Ok(Ok(status))` for accepted or duplicate, `Ok(Err(reason))` for
    /// rejected, `Err` for a storage failure that aborts the batch.
    fn apply(&mut self, ev: &EventEnvelope) -> Result<Result<EventStatus, String>, StorageError> {
        let id = ev.id.to_string();
        let seen = self
            .tx
            .prepare_cached("SELECT 1 FROM events WHERE clinic_id = ?1 AND event_id = ?2")?
            .exists(params![self.clinic_id().as_str(), id])?;
        if seen {
            return Ok(Ok(EventStatus::Duplicate));
        }
        if let Err(e) = ev.validate(self.now()) {
            return Ok(Err(e.to_string()));
        }
        let target = match (&ev.body, ev.appointment_id.as_deref()) {
            (EventBody::Flag { .. }, None) => None,
            (_, None) => return Ok(Err("appointment_id is required for this event".into())),
            (_, Some(a)) => match self.target(a)? {
                Some(t) => Some(t),
                None => return Ok(Err(format!("unknown appointment {a} in this clinic"))),
            },
        };
        if let Err(reason) = self.check(&ev.body, target.as_ref()) {
            return Ok(Err(reason));
        }
        if let Err(reason) = self.check_against_file(&ev.body, target.as_ref())? {
            return Ok(Err(reason));
        }
        let form = match form_store::check_completed(self.forms, &ev.body) {
            Ok(form) => form,
            Err(reason) => return Ok(Err(reason)),
        };
        self.effects(ev, target.as_ref())?;
        if let (Some(form), Some(t)) = (form, target.as_ref()) {
            self.store_form(ev, t, form)?;
        }
        self.tx
            .prepare_cached(
                "INSERT INTO events (clinic_id, event_id, kiosk_id, kind, appointment_id, occurred_ms, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                self.clinic_id().as_str(),
                id,
                self.kiosk_id,
                ev.body.kind(),
                ev.appointment_id,
                to_ms(ev.occurred_at),
                self.now_ms
            ])?;
        Ok(Ok(EventStatus::Accepted))
    }

    fn target(&self, appointment_id: &str) -> Result<Option<Target>, StorageError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT appointment_id, patient_id, status, currency, expected_copay_cents FROM appointments
                 WHERE clinic_id = ?1 AND appointment_id = ?2",
            )?
            .query_row(params![self.clinic_id().as_str(), appointment_id], |r| {
                Ok(Target {
                    id: r.get(0)?,
                    patient_id: r.get(1)?,
                    status: stored_status(r, 2)?,
                    currency: r.get(3)?,
                    expected_copay_cents: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// The checks that need the stored appointment.
    fn check(&self, body: &EventBody, target: Option<&Target>) -> Result<(), String> {
        let Some(t) = target else { return Ok(()) };
        check_against_appointment(body, &t.patient_id, &t.currency, self.clinic)
    }

    /// The checks that need the patient's record: proposed demographics
    /// follow the same field rules as at the kiosk, for every value that
    /// differs from the file.
    fn check_against_file(
        &self,
        body: &EventBody,
        target: Option<&Target>,
    ) -> Result<Result<(), String>, StorageError> {
        let (EventBody::DemographicsProposed { demographics, .. }, Some(t)) = (body, target) else {
            return Ok(Ok(()));
        };
        let stored: String = self.tx.query_row(
            "SELECT demographics FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
            params![self.clinic_id().as_str(), t.patient_id],
            |r| r.get(0),
        )?;
        let on_file: Demographics = serde_json::from_str::<DemographicsWire>(&stored)
            .map_err(|source| StorageError::Json {
                column: "patients.demographics",
                source,
            })?
            .into();
        let proposed = Demographics::from(demographics.clone());
        Ok(fields::check_demographics_change(&proposed, &on_file).map_err(|e| e.to_string()))
    }

    fn audit(
        &self,
        action: AuditAction,
        t: Option<&Target>,
        detail: Option<&str>,
    ) -> Result<(), StorageError> {
        storage::audit(
            self.tx,
            self.clinic_id(),
            chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_default(),
            &AuditEntry {
                appointment_id: t.map(|t| t.id.as_str()),
                patient_id: t.map(|t| t.patient_id.as_str()),
                detail,
                ..AuditEntry::new(Actor::Kiosk, self.kiosk_id, action)
            },
        )
    }

    fn set_status(&mut self, t: &Target, to: AppointmentStatus) -> Result<(), StorageError> {
        let s = self.seq()?;
        self.tx
            .prepare_cached(
                "UPDATE appointments SET status = ?3, change_seq = ?4
                 WHERE clinic_id = ?1 AND appointment_id = ?2",
            )?
            .execute(params![self.clinic_id().as_str(), t.id, to.as_str(), s])?;
        self.notice("appointment", t.id.clone());
        Ok(())
    }

    /// Queues the EHR status update, in this transaction, when the clinic
    /// has a connector that writes back.
    fn write_back(&self, t: &Target, status: TargetStatus) -> Result<(), StorageError> {
        if !fhir_writeback::enabled(self.clinic) {
            return Ok(());
        }
        let item = fhir_writeback::WriteBack::AppointmentStatus {
            appointment_id: t.id.clone(),
            status,
        };
        let now = chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_default();
        fhir_writeback::enqueue(self.tx, self.clinic_id(), &item, now)
    }

    fn effects(&mut self, ev: &EventEnvelope, t: Option<&Target>) -> Result<(), StorageError> {
        match (&ev.body, t) {
            (EventBody::Arrived {}, Some(t)) => {
                if matches!(
                    t.status,
                    AppointmentStatus::Booked | AppointmentStatus::NoShow
                ) {
                    self.set_status(t, AppointmentStatus::Arrived)?;
                    self.write_back(t, TargetStatus::Arrived)?;
                }
            }
            (EventBody::CheckedIn {}, Some(t)) => {
                if matches!(
                    t.status,
                    AppointmentStatus::Booked
                        | AppointmentStatus::NoShow
                        | AppointmentStatus::Arrived
                ) {
                    self.set_status(t, AppointmentStatus::CheckedIn)?;
                    self.write_back(t, TargetStatus::CheckedIn)?;
                }
            }
            (EventBody::Flag { code, step, text }, _) => {
                self.raise_flag(ev, Some(ev.id.to_string()), code, step, text)?
            }
            (EventBody::DemographicsConfirmed { patient_id }, Some(t)) => {
                self.demographics_confirmed(ev, t, patient_id)?;
            }
            (EventBody::DemographicsProposed { demographics, .. }, Some(t)) => {
                let proposal = ChangeProposal::Demographics {
                    demographics: DemographicsWire::from(&Demographics::from(demographics.clone())),
                };
                self.propose(ev, t, "demographics", &proposal)?;
            }
            (EventBody::CoverageProposed { coverage, .. }, Some(t)) => {
                let proposal = ChangeProposal::Coverage {
                    coverage: coverage.clone(),
                };
                self.propose(ev, t, "coverage", &proposal)?;
            }
            (
                EventBody::CopayChosen {
                    choice,
                    amount_cents,
                    currency,
                },
                Some(t),
            ) => self.copay_chosen(ev, t, choice, *amount_cents, currency)?,
            (EventBody::PhiViewed { what }, Some(t)) => {
                self.audit(AuditAction::PhiViewed, Some(t), Some(what))?;
            }
            // Stored by `store_form`, once checked by `forms::check_completed`.
            (EventBody::FormCompleted { .. }, Some(_)) => {}
            // Every other body needs a target, which `apply` guaranteed.
            (_, None) => {}
        }
        Ok(())
    }

    /// Stores a checked form, audited, and queues its EHR write-back when
    /// the clinic's connector writes back; stamps the patient's appointments so
    /// the next delta carries their new forms due; raises
    /// `screening_positive` for an urgent screener.
    fn store_form(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        form: CheckedForm<'_>,
    ) -> Result<(), StorageError> {
        let EventBody::FormCompleted { form_version, .. } = &ev.body else {
            return Ok(());
        };
        let urgent = form.urgent();
        let band = form.band();
        let id = ev.id.to_string();
        let form_id = form.offered.rule.form_id.as_str();
        form_store::insert(
            self.tx,
            self.clinic_id(),
            &NewFormResponse {
                event_id: &id,
                kiosk_id: self.kiosk_id,
                appointment_id: &t.id,
                patient_id: &t.patient_id,
                form_id,
                form_version,
                response: &form.text,
                signature_png: form.signature.as_ref().and_then(Signature::png),
                signature_name: form.signature.as_ref().and_then(Signature::name),
                score: form.total(),
                band: band.as_deref(),
                urgent,
                completed_at: ev.occurred_at,
                received_at: self.now(),
            },
        )?;
        self.audit(AuditAction::FormCompleted, Some(t), Some(form_id))?;
        if fhir_writeback::enabled(self.clinic) {
            let item = fhir_writeback::WriteBack::FormResponse {
                event_id: id.clone(),
                patient_id: t.patient_id.clone(),
            };
            fhir_writeback::enqueue(self.tx, self.clinic_id(), &item, self.now())?;
        }
        let seq = self.seq()?;
        form_store::touch_patient_forms(self.tx, self.clinic_id(), &t.patient_id, seq)?;
        self.notice("form", t.id.clone());
        self.notice("appointment", t.id.clone());
        if urgent {
            let code = ReasonCode::ScreeningPositive;
            self.raise_flag(ev, None, code.as_str(), FORMS_STEP, code.staff_text())?;
        }
        Ok(())
    }

    /// Stores a flag for staff about `ev`'s appointment. A flag the kiosk
    /// sent carries its event id; one the server raises about another
    /// event (a co-pay mismatch) has none, as that id is the event's own.
    fn raise_flag(
        &mut self,
        ev: &EventEnvelope,
        event_id: Option<String>,
        code: &str,
        step: &str,
        text: &str,
    ) -> Result<(), StorageError> {
        let flag_id: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO flags (clinic_id, event_id, kiosk_id, appointment_id, code, step, text, raised_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING flag_id",
            )?
            .query_row(
                params![
                    self.clinic_id().as_str(),
                    event_id,
                    self.kiosk_id,
                    ev.appointment_id,
                    code,
                    step,
                    text,
                    to_ms(ev.occurred_at)
                ],
                |r| r.get(0),
            )?;
        self.notice("flag", flag_id.to_string());
        Ok(())
    }

    /// Stamps the patient's demographics as confirmed, so kiosks pull it.
    fn demographics_confirmed(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        patient_id: &str,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "UPDATE patients SET demographics_confirmed_ms = MAX(COALESCE(demographics_confirmed_ms, 0), ?3)
             WHERE clinic_id = ?1 AND patient_id = ?2",
            params![self.clinic_id().as_str(), patient_id, to_ms(ev.occurred_at)],
        )?;
        let s = self.seq()?;
        self.tx.execute(
            "UPDATE appointments SET change_seq = ?3 WHERE clinic_id = ?1 AND patient_id = ?2",
            params![self.clinic_id().as_str(), patient_id, s],
        )?;
        self.audit(AuditAction::DemographicsConfirmed, Some(t), None)?;
        self.notice("appointment", t.id.clone());
        Ok(())
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
    ) -> Result<(), StorageError> {
        self.audit(AuditAction::CopayChosen, Some(t), Some(choice))?;
        // The server's amount is the truth; a different one from the
        // kiosk is shown to staff, not stored.
        if reported_cents != t.expected_copay_cents {
            self.copay_mismatch(ev, t, reported_cents)?;
        }
        if CoPayChoice::parse(choice) != Some(CoPayChoice::FrontDesk) {
            return Ok(());
        }
        let item_id: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO copay_items (clinic_id, event_id, kiosk_id, appointment_id, amount_cents, currency, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING item_id",
            )?
            .query_row(
                params![
                    self.clinic_id().as_str(),
                    ev.id.to_string(),
                    self.kiosk_id,
                    t.id,
                    t.expected_copay_cents,
                    currency.to_ascii_uppercase(),
                    to_ms(ev.occurred_at)
                ],
                |r| r.get(0),
            )?;
        self.notice("copay", item_id.to_string());
        Ok(())
    }

    /// Flags a co-pay the kiosk reported that differs from the expected one.
    fn copay_mismatch(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        reported_cents: i64,
    ) -> Result<(), StorageError> {
        let code = ReasonCode::CopayMismatch;
        let text = format!(
            "{}: kiosk showed {}, expected {}",
            code.staff_text(),
            cents_text(reported_cents),
            cents_text(t.expected_copay_cents)
        );
        self.raise_flag(ev, None, code.as_str(), Step::CoPay.as_str(), &text)
    }

    fn propose(
        &mut self,
        ev: &EventEnvelope,
        t: &Target,
        kind: &str,
        proposal: &ChangeProposal,
    ) -> Result<(), StorageError> {
        let payload = serde_json::to_string(proposal).map_err(|source| StorageError::Json {
            column: "proposed_changes.payload",
            source,
        })?;
        let change_id: i64 = self.tx.query_row(
            "INSERT INTO proposed_changes (clinic_id, event_id, kiosk_id, appointment_id, patient_id, kind, payload, proposed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING change_id",
            params![
                self.clinic_id().as_str(),
                ev.id.to_string(),
                self.kiosk_id,
                t.id,
                t.patient_id,
                kind,
                payload,
                to_ms(ev.occurred_at)
            ],
            |r| r.get(0),
        )?;
        let action = match proposal {
            ChangeProposal::Demographics { .. } => AuditAction::DemographicsProposed,
            ChangeProposal::Coverage { .. } => AuditAction::CoverageProposed,
        };
        self.audit(action, Some(t), None)?;
        self.notice("change", change_id.to_string());
        Ok(())
    }
}

/// The checks of an event against its stored appointment, the same on
/// every backend: the patient is the appointment's, and a co-pay is in the
/// appointment's currency and within the clinic's largest co-pay.
pub(crate) fn check_against_appointment(
    body: &EventBody,
    appointment_patient: &str,
    appointment_currency: &str,
    clinic: &ClinicSettings,
) -> Result<(), String> {
    match body {
        EventBody::DemographicsConfirmed { patient_id }
        | EventBody::DemographicsProposed { patient_id, .. }
        | EventBody::CoverageProposed { patient_id, .. }
        | EventBody::FormCompleted { patient_id, .. }
            if patient_id != appointment_patient =>
        {
            Err("patient_id is not the appointment's patient".into())
        }
        EventBody::CopayChosen { currency, .. }
            if !currency.eq_ignore_ascii_case(appointment_currency) =>
        {
            Err(format!(
                "currency {currency} is not the appointment's {appointment_currency}"
            ))
        }
        EventBody::CopayChosen { amount_cents, .. } if *amount_cents > clinic.max_copay_cents => {
            Err(format!(
                "amount_cents {amount_cents} is above this clinic's largest co-pay, {}",
                clinic.max_copay_cents
            ))
        }
        _ => Ok(()),
    }
}

/// An amount in cents as `12.34`, for staff texts.
pub(crate) fn cents_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}
