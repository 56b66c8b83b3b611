//! The staff side on PostgreSQL, as `storage::staff` does on SQLite: users
//! and their clinics, today's appointments, flags, co-pay items, proposed
//! changes, the kiosk fleet, audit rows, and the audited decisions, each
//! decision and its audit row in one transaction. A decision locks its row
//! (`FOR UPDATE`), so two replicas deciding the same record at once give
//! one decision and one conflict.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::ingest::{enqueue, next_seq};
use super::notify::notice;
use super::{PgStore, audit, ms};
use crate::domain::ClinicId;
use crate::protocol::{
    ChangeNotice, ChangeProposal, CopayItem, CopayStatus, CoverageWire, DemographicsWire, OnFile,
    ProposedChange, StaffAppointment, StaffFlag,
};
use crate::server::db::from_ms;
use crate::server::fhir::writeback::WriteBack;
use crate::server::storage::staff::{
    CHANGE_COLUMNS, COPAY_COLUMNS, ChangeDecided, FLAG_COLUMNS, FLEET_COLUMNS, OPEN_FLAG_ORDER,
    StoredKiosk, staff_appointment,
};
use crate::server::storage::{Actor, AuditAction, AuditEntry, AuditRow, StorageError};

fn flag_from_row(r: &Row) -> Result<StaffFlag, tokio_postgres::Error> {
    Ok(StaffFlag {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        step: r.try_get(2)?,
        text: r.try_get(3)?,
        kiosk_id: r.try_get(4)?,
        appointment_id: r.try_get(5)?,
        raised_at: from_ms(r.try_get(6)?),
        resolved_at: r.try_get::<_, Option<i64>>(7)?.map(from_ms),
        resolved_by: r.try_get(8)?,
        note: r.try_get(9)?,
    })
}

fn copay_from_row(r: &Row) -> Result<CopayItem, tokio_postgres::Error> {
    Ok(CopayItem {
        id: r.try_get(0)?,
        appointment_id: r.try_get(1)?,
        amount_cents: r.try_get(2)?,
        currency: r.try_get(3)?,
        status: CopayStatus::parse(r.try_get(4)?).unwrap_or(CopayStatus::Pending),
        created_at: from_ms(r.try_get(5)?),
        decided_at: r.try_get::<_, Option<i64>>(6)?.map(from_ms),
        decided_by: r.try_get(7)?,
    })
}

fn change_from_row(r: &Row) -> Result<ProposedChange, tokio_postgres::Error> {
    let Json(proposal): Json<ChangeProposal> = r.try_get(6)?;
    Ok(ProposedChange {
        id: r.try_get(0)?,
        appointment_id: r.try_get(1)?,
        patient_id: r.try_get(2)?,
        kiosk_id: r.try_get(3)?,
        proposed_at: from_ms(r.try_get(4)?),
        status: r.try_get(5)?,
        proposal,
        on_file: OnFile::default(),
    })
}

fn kiosk_from_row(r: &Row) -> Result<StoredKiosk, tokio_postgres::Error> {
    Ok(StoredKiosk {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        app_version: r.try_get(2)?,
        enrolled_at: from_ms(r.try_get(3)?),
        revoked_at: r.try_get::<_, Option<i64>>(4)?.map(from_ms),
        last_seen_at: r.try_get::<_, Option<i64>>(5)?.map(from_ms),
        last_sync_at: r.try_get::<_, Option<i64>>(6)?.map(from_ms),
        outbox_depth: r.try_get(7)?,
        outbox_oldest_age_secs: r.try_get(8)?,
        clock_skew_secs: r.try_get(9)?,
    })
}

/// Fills `change.on_file` from the patient record as it stands.
async fn fill_on_file(
    c: &impl GenericClient,
    clinic: &ClinicId,
    change: &mut ProposedChange,
) -> Result<(), StorageError> {
    let row = c
        .query_opt(
            "SELECT demographics, coverage FROM patients WHERE clinic_id = $1 AND patient_id = $2",
            &[&clinic.as_str(), &change.patient_id],
        )
        .await?;
    let Some(row) = row else {
        change.on_file = OnFile::default();
        return Ok(());
    };
    change.on_file = match change.proposal {
        ChangeProposal::Demographics { .. } => {
            let Json(d): Json<DemographicsWire> = row.try_get(0)?;
            OnFile {
                demographics: Some(d),
                coverage: None,
            }
        }
        ChangeProposal::Coverage { .. } => {
            let c: Option<Json<CoverageWire>> = row.try_get(1)?;
            OnFile {
                demographics: None,
                coverage: c.map(|Json(c)| c),
            }
        }
    };
    Ok(())
}

impl PgStore {
    /// The stored password hash and clinics of `username`, if the user exists.
    pub async fn load_user(
        &self,
        username: &str,
    ) -> Result<Option<(String, Vec<ClinicId>)>, StorageError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT password_hash, clinic_id FROM staff_members WHERE username = $1 ORDER BY clinic_id",
                &[&username],
            )
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let hash: String = first.try_get(0)?;
        let clinics = rows
            .iter()
            .map(|r| r.try_get(1).map(ClinicId))
            .collect::<Result<_, _>>()?;
        Ok(Some((hash, clinics)))
    }

    /// Adds `username` to `clinic` with `hash`, or sets the password of an
    /// existing user in every clinic (ending their sessions), in one
    /// transaction; true when the membership is new.
    pub async fn add_staff(
        &self,
        clinic: &ClinicId,
        username: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let existing = tx
            .execute(
                "UPDATE staff_members SET password_hash = $2 WHERE username = $1",
                &[&username, &hash],
            )
            .await?;
        if existing > 0 {
            tx.execute(
                "DELETE FROM staff_sessions WHERE username = $1",
                &[&username],
            )
            .await?;
        }
        let added = tx
            .execute(
                "INSERT INTO staff_members (clinic_id, username, password_hash, created_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (clinic_id, username) DO NOTHING",
                &[&clinic.as_str(), &username, &hash, &ms(now)],
            )
            .await?;
        tx.commit().await?;
        Ok(added == 1)
    }

    /// Removes `username` from `clinic`, or from every clinic, and ends
    /// their sessions; returns how many memberships were removed.
    pub async fn remove_staff(
        &self,
        clinic: Option<&ClinicId>,
        username: &str,
    ) -> Result<u64, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed = match clinic {
            Some(c) => {
                tx.execute(
                    "DELETE FROM staff_members WHERE clinic_id = $1 AND username = $2",
                    &[&c.as_str(), &username],
                )
                .await?
            }
            None => {
                tx.execute(
                    "DELETE FROM staff_members WHERE username = $1",
                    &[&username],
                )
                .await?
            }
        };
        if removed > 0 {
            tx.execute(
                "DELETE FROM staff_sessions WHERE username = $1",
                &[&username],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Appends `rows` at `now`, in one transaction.
    pub async fn audit_rows(
        &self,
        rows: &[AuditRow],
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.audit_rows_announced(rows, &[], now).await
    }

    /// Appends `rows` at `now` and sends `notices` to the other replicas,
    /// in one transaction.
    pub async fn audit_rows_announced(
        &self,
        rows: &[AuditRow],
        notices: &[ChangeNotice],
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for row in rows {
            audit(&tx, &row.clinic, now, &row.entry()).await?;
        }
        self.announce_in(&tx, notices).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a one-time enrollment code's hash for `clinic` and audits
    /// who created it, in one transaction.
    pub async fn create_enrollment_code(
        &self,
        clinic: &ClinicId,
        code_hash: &str,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
        user: &str,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO enrollment_codes (clinic_id, code_hash, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
            &[&clinic.as_str(), &code_hash, &ms(now), &ms(expires)],
        )
        .await?;
        let entry = AuditEntry::new(Actor::Staff, user, AuditAction::EnrollmentCodeCreated);
        audit(&tx, clinic, now, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `clinic`'s appointments on `day`, with their check-in state at
    /// `now` and their open flags.
    pub async fn appointments_on(
        &self,
        clinic: &ClinicId,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<StaffAppointment>, StorageError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let wires = super::schedule::day_wires(&tx, clinic, day).await?;
        let counts = tx
            .query(
                "SELECT appointment_id, COUNT(*) FROM flags
                 WHERE clinic_id = $1 AND resolved_ms IS NULL AND appointment_id IS NOT NULL
                 GROUP BY appointment_id",
                &[&clinic.as_str()],
            )
            .await?;
        tx.commit().await?;
        let open: std::collections::HashMap<String, i64> = counts
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, tokio_postgres::Error>>()?;
        Ok(wires
            .into_iter()
            .map(|w| {
                let n = open.get(&w.id).copied().unwrap_or(0);
                staff_appointment(w, u32::try_from(n).unwrap_or(u32::MAX), now)
            })
            .collect())
    }

    /// The start of appointment `id` of `clinic`, unless removed.
    pub async fn appointment_start(
        &self,
        clinic: &ClinicId,
        id: &str,
    ) -> Result<DateTime<Utc>, StorageError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT start_ms FROM appointments WHERE clinic_id = $1 AND appointment_id = $2 AND NOT removed",
                &[&clinic.as_str(), &id],
            )
            .await?;
        match row {
            Some(r) => Ok(from_ms(r.try_get(0)?)),
            None => Err(StorageError::not_found("appointment", id)),
        }
    }

    /// `clinic`'s open flags, urgent ones first, then oldest first.
    pub async fn open_flags(&self, clinic: &ClinicId) -> Result<Vec<StaffFlag>, StorageError> {
        let sql = format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = $1 AND resolved_ms IS NULL {OPEN_FLAG_ORDER}"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&clinic.as_str()])
            .await?;
        Ok(rows.iter().map(flag_from_row).collect::<Result<_, _>>()?)
    }

    /// Counts `clinic`'s unresolved flags.
    pub async fn open_flag_count(&self, clinic: &ClinicId) -> Result<i64, StorageError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*) FROM flags WHERE clinic_id = $1 AND resolved_ms IS NULL",
                &[&clinic.as_str()],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Resolves open flag `id` as `user` with `note`, audited, in one
    /// transaction; a flag already resolved is a conflict.
    pub async fn resolve_flag(
        &self,
        clinic: &ClinicId,
        id: i64,
        user: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<StaffFlag, StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let select =
            format!("SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = $1 AND flag_id = $2");
        let Some(row) = tx
            .query_opt(&format!("{select} FOR UPDATE"), &[&clinic.as_str(), &id])
            .await?
        else {
            return Err(StorageError::not_found("flag", id));
        };
        let flag = flag_from_row(&row)?;
        if flag.resolved_at.is_some() {
            return Err(StorageError::Conflict(format!(
                "flag {id} is already resolved"
            )));
        }
        tx.execute(
            "UPDATE flags SET resolved_ms = $3, resolved_by = $4, resolution_note = $5
             WHERE clinic_id = $1 AND flag_id = $2",
            &[&clinic.as_str(), &id, &ms(now), &user, &note],
        )
        .await?;
        let detail = id.to_string();
        let entry = AuditEntry {
            appointment_id: flag.appointment_id.as_deref(),
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::FlagResolved)
        };
        audit(&tx, clinic, now, &entry).await?;
        let row = tx.query_one(&select, &[&clinic.as_str(), &id]).await?;
        self.announce_in(&tx, &[notice(clinic, "flag", id.to_string())])
            .await?;
        tx.commit().await?;
        Ok(flag_from_row(&row)?)
    }

    /// `clinic`'s co-pay items in `status`, oldest first.
    pub async fn copays(
        &self,
        clinic: &ClinicId,
        status: CopayStatus,
    ) -> Result<Vec<CopayItem>, StorageError> {
        let sql = format!(
            "SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = $1 AND status = $2 ORDER BY created_ms, item_id"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&clinic.as_str(), &status.as_str()])
            .await?;
        Ok(rows.iter().map(copay_from_row).collect::<Result<_, _>>()?)
    }

    /// Marks pending co-pay item `id` collected or waived as `user`,
    /// audited, in one transaction.
    pub async fn decide_copay(
        &self,
        clinic: &ClinicId,
        id: i64,
        status: CopayStatus,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<CopayItem, StorageError> {
        let action = match status {
            CopayStatus::Collected => AuditAction::CopayCollected,
            CopayStatus::Waived => AuditAction::CopayWaived,
            CopayStatus::Pending => {
                return Err(StorageError::Refused(
                    "status must be collected or waived".into(),
                ));
            }
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let select = format!(
            "SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = $1 AND item_id = $2"
        );
        let Some(row) = tx
            .query_opt(&format!("{select} FOR UPDATE"), &[&clinic.as_str(), &id])
            .await?
        else {
            return Err(StorageError::not_found("co-pay item", id));
        };
        let item = copay_from_row(&row)?;
        if item.status != CopayStatus::Pending {
            return Err(StorageError::Conflict(format!(
                "co-pay item {id} is already {}",
                item.status.as_str()
            )));
        }
        tx.execute(
            "UPDATE copay_items SET status = $3, decided_ms = $4, decided_by = $5 WHERE clinic_id = $1 AND item_id = $2",
            &[&clinic.as_str(), &id, &status.as_str(), &ms(now), &user],
        )
        .await?;
        let detail = id.to_string();
        let entry = AuditEntry {
            appointment_id: Some(&item.appointment_id),
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, action)
        };
        audit(&tx, clinic, now, &entry).await?;
        let row = tx.query_one(&select, &[&clinic.as_str(), &id]).await?;
        self.announce_in(&tx, &[notice(clinic, "copay", id.to_string())])
            .await?;
        tx.commit().await?;
        Ok(copay_from_row(&row)?)
    }

    /// `clinic`'s pending proposals, oldest first, each with what is on file.
    pub async fn pending_changes(
        &self,
        clinic: &ClinicId,
    ) -> Result<Vec<ProposedChange>, StorageError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = $1 AND status = 'pending' ORDER BY proposed_ms, change_id"
        );
        let rows = client.query(&sql, &[&clinic.as_str()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut change = change_from_row(r)?;
            fill_on_file(&client, clinic, &mut change).await?;
            out.push(change);
        }
        Ok(out)
    }

    /// Decides pending change `d.id`: an approval is applied to the
    /// patient record (and queued for the EHR), and the decision audited,
    /// in one transaction. A change that no longer passes the field rules
    /// is refused.
    pub async fn decide_change(
        &self,
        clinic: &ClinicId,
        d: &ChangeDecided<'_>,
    ) -> Result<ProposedChange, StorageError> {
        let id = d.id;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let select = format!(
            "SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = $1 AND change_id = $2"
        );
        let Some(row) = tx
            .query_opt(&format!("{select} FOR UPDATE"), &[&clinic.as_str(), &id])
            .await?
        else {
            return Err(StorageError::not_found("proposed change", id));
        };
        let change = change_from_row(&row)?;
        if change.status != "pending" {
            return Err(StorageError::Conflict(format!(
                "change {id} is already {}",
                change.status
            )));
        }
        if d.approve
            && let Err(e) = change.proposal.validate()
        {
            return Err(StorageError::Refused(format!(
                "change {id} breaks the field rules and cannot be approved; reject it: {e}"
            )));
        }
        let status = if d.approve { "approved" } else { "rejected" };
        tx.execute(
            "UPDATE proposed_changes SET status = $3, decided_ms = $4, decided_by = $5, note = $6
             WHERE clinic_id = $1 AND change_id = $2",
            &[&clinic.as_str(), &id, &status, &ms(d.now), &d.user, &d.note],
        )
        .await?;
        if d.approve {
            apply_change(&tx, clinic, &change, d.now).await?;
            if d.write_back {
                enqueue(&tx, clinic, &write_back_of(&change), d.now).await?;
            }
        }
        let action = match (&change.proposal, d.approve) {
            (ChangeProposal::Demographics { .. }, true) => AuditAction::DemographicsChangeApproved,
            (ChangeProposal::Demographics { .. }, false) => AuditAction::DemographicsChangeRejected,
            (ChangeProposal::Coverage { .. }, true) => AuditAction::CoverageChangeApproved,
            (ChangeProposal::Coverage { .. }, false) => AuditAction::CoverageChangeRejected,
        };
        let detail = id.to_string();
        let entry = AuditEntry {
            appointment_id: Some(&change.appointment_id),
            patient_id: Some(&change.patient_id),
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, d.user, action)
        };
        audit(&tx, clinic, d.now, &entry).await?;
        let row = tx.query_one(&select, &[&clinic.as_str(), &id]).await?;
        let mut decided = change_from_row(&row)?;
        fill_on_file(&tx, clinic, &mut decided).await?;
        let notices = [
            notice(clinic, "change", id.to_string()),
            notice(clinic, "appointment", change.appointment_id.clone()),
        ];
        self.announce_in(&tx, &notices).await?;
        tx.commit().await?;
        Ok(decided)
    }

    /// The clinic's kiosks as stored, by name.
    pub async fn fleet(&self, clinic: &ClinicId) -> Result<Vec<StoredKiosk>, StorageError> {
        let sql = format!(
            "SELECT {FLEET_COLUMNS} FROM kiosks WHERE clinic_id = $1 ORDER BY name, kiosk_id"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&clinic.as_str()])
            .await?;
        Ok(rows.iter().map(kiosk_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes kiosk `kiosk` as `user`, audited; revoking twice keeps the
    /// first time.
    pub async fn revoke_kiosk(
        &self,
        clinic: &ClinicId,
        kiosk: &str,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE kiosks SET revoked_ms = COALESCE(revoked_ms, $3) WHERE clinic_id = $1 AND kiosk_id = $2",
                &[&clinic.as_str(), &kiosk, &ms(now)],
            )
            .await?;
        if changed == 0 {
            return Err(StorageError::not_found("kiosk", kiosk));
        }
        let entry = AuditEntry {
            detail: Some(kiosk),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::KioskRevoked)
        };
        audit(&tx, clinic, now, &entry).await?;
        self.announce_in(&tx, &[notice(clinic, "kiosk", kiosk)])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that `kiosk` was heard from at `now`, so every replica's
    /// fleet view sees it; an older time never replaces a newer one.
    pub async fn kiosk_seen(&self, kiosk: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.client()
            .await?
            .execute(
                "UPDATE kiosks SET last_seen_ms = GREATEST(COALESCE(last_seen_ms, 0), $2) WHERE kiosk_id = $1",
                &[&kiosk, &ms(now)],
            )
            .await?;
        Ok(())
    }
}

/// The EHR update an approved proposal queues.
fn write_back_of(change: &ProposedChange) -> WriteBack {
    match &change.proposal {
        ChangeProposal::Demographics { demographics } => WriteBack::Demographics {
            patient_id: change.patient_id.clone(),
            demographics: demographics.clone(),
        },
        ChangeProposal::Coverage { coverage } => WriteBack::Coverage {
            patient_id: change.patient_id.clone(),
            coverage: coverage.clone(),
        },
    }
}

/// Writes an approved proposal into the patient record and stamps the
/// patient's appointments so kiosks pull it.
async fn apply_change(
    tx: &impl GenericClient,
    clinic: &ClinicId,
    change: &ProposedChange,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    match &change.proposal {
        ChangeProposal::Demographics { demographics } => {
            tx.execute(
                "UPDATE patients SET demographics = $3, demographics_confirmed_ms = $4
                 WHERE clinic_id = $1 AND patient_id = $2",
                &[
                    &clinic.as_str(),
                    &change.patient_id,
                    &Json(demographics),
                    &ms(now),
                ],
            )
            .await?;
        }
        ChangeProposal::Coverage { coverage } => {
            let current = tx
                .query_opt(
                    "SELECT coverage FROM patients WHERE clinic_id = $1 AND patient_id = $2",
                    &[&clinic.as_str(), &change.patient_id],
                )
                .await?;
            let relation = current
                .and_then(|r| r.try_get::<_, Option<Json<CoverageWire>>>(0).ok().flatten())
                .map(|Json(c)| c.subscriber_relation)
                .unwrap_or_else(|| "self".to_string());
            let new = coverage.as_ref().map(|u| {
                Json(CoverageWire {
                    payer: u.payer.clone(),
                    plan: String::new(),
                    member_id: u.member_id.clone(),
                    group: u.group.clone(),
                    subscriber_relation: relation,
                    valid_from: Some(now.date_naive()),
                    valid_to: None,
                })
            });
            tx.execute(
                "UPDATE patients SET coverage = $3 WHERE clinic_id = $1 AND patient_id = $2",
                &[&clinic.as_str(), &change.patient_id, &new],
            )
            .await?;
        }
    }
    let s = next_seq(tx, clinic).await?;
    tx.execute(
        "UPDATE appointments SET change_seq = $3 WHERE clinic_id = $1 AND patient_id = $2",
        &[&clinic.as_str(), &change.patient_id, &s],
    )
    .await?;
    Ok(())
}
