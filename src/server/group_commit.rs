//! Group commit for event ingest. Batches from kiosks that arrive while a
//! commit is in progress wait in a queue; one writer thread applies the
//! waiting batches together, each in its own savepoint (so one batch's
//! storage failure undoes only that batch), and makes them all durable
//! with one commit: one WAL fsync under `synchronous=FULL` instead of one
//! per batch. A batch is answered only after the commit that holds it, so
//! an acknowledged event is as durable as before.
//!
//! With one kiosk sending, a group is that one batch and nothing changes.
//! Under load the fsync, the slowest step on a busy disk, is shared, and a
//! backlog after a disk stall drains in a few commits instead of one each.

use std::sync::{Arc, mpsc};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::db::{Db, StorageError};
use super::error::ApiError;
use super::fhir::Wake;
use super::intake::FormCatalog;
use super::storage::ingest::{self, BatchOutcome};
use crate::config::ClinicSettings;
use crate::protocol::EventEnvelope;

/// The most batches one commit holds.
const MAX_GROUP: usize = 64;

/// One kiosk's batch, waiting for the writer.
struct Job {
    clinic: ClinicSettings,
    kiosk_id: String,
    now: DateTime<Utc>,
    events: Vec<EventEnvelope>,
    reply: oneshot::Sender<Result<BatchOutcome, StorageError>>,
}

/// The queue in front of the ingest writer thread. The thread ends when the
/// queue is dropped.
#[derive(Debug)]
pub struct IngestQueue {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("kiosk_id", &self.kiosk_id)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl IngestQueue {
    /// Starts the writer thread over `db`; `wake` is rung after each
    /// commit that accepted an event, so queued EHR write-backs go out;
    /// completed forms are checked against `forms`.
    pub fn start(db: Db, wake: Wake, forms: Arc<FormCatalog>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || writer(&db, &queue, &wake, &forms))
            .expect("spawning the ingest writer thread");
        Self { jobs }
    }

    /// Applies `events` from `kiosk_id` of `clinic`, received at `now`, and
    /// returns once they are committed (or refused).
    pub async fn apply(
        &self,
        clinic: ClinicSettings,
        kiosk_id: String,
        now: DateTime<Utc>,
        events: Vec<EventEnvelope>,
    ) -> Result<BatchOutcome, ApiError> {
        let stopped = || ApiError::internal(StorageError::Task("the ingest writer stopped".into()));
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                clinic,
                kiosk_id,
                now,
                events,
                reply,
            })
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(ApiError::internal)
    }
}

fn writer(db: &Db, queue: &mpsc::Receiver<Job>, wake: &Wake, forms: &FormCatalog) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // A panic fails this group's requests, as it would have failed a
        // request on the blocking pool, and leaves the writer running.
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.blocking(|c| Ok(apply_group(c, forms, &group)))
        }));
        let outcomes = match applied {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(e)) => failed(&group, &e.to_string()),
            Err(_) => {
                let _ = db.blocking(|c| {
                    if !c.is_autocommit() {
                        c.execute_batch("ROLLBACK")?;
                    }
                    Ok(())
                });
                failed(&group, "the ingest writer panicked")
            }
        };
        let accepted = outcomes.iter().flatten().any(|o| {
            o.results
                .iter()
                .any(|r| r.status == crate::protocol::EventStatus::Accepted)
        });
        if accepted {
            wake.wake();
        }
        for (job, outcome) in group.into_iter().zip(outcomes) {
            // The kiosk may have gone; its batch is committed either way.
            let _ = job.reply.send(outcome);
        }
    }
}

/// The same failure for every job of a group.
fn failed(group: &[Job], msg: &str) -> Vec<Result<BatchOutcome, StorageError>> {
    group
        .iter()
        .map(|_| Err(StorageError::Task(msg.to_string())))
        .collect()
}

/// Applies every job in one transaction; one result per job.
fn apply_group(
    conn: &mut Connection,
    forms: &FormCatalog,
    group: &[Job],
) -> Vec<Result<BatchOutcome, StorageError>> {
    let run = |conn: &mut Connection, job: &Job| {
        ingest::apply_batch(
            conn,
            &job.clinic,
            forms,
            &job.kiosk_id,
            job.now,
            &job.events,
        )
    };
    if let [job] = group {
        return vec![run(conn, job)];
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return failed(group, &e.to_string());
    }
    // Each batch runs in its own savepoint inside this transaction.
    let mut outcomes: Vec<_> = group.iter().map(|job| run(conn, job)).collect();
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        outcomes = failed(group, &format!("commit: {e}"));
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::protocol::{EventBody, EventStatus};
    use uuid::Uuid;

    fn job(clinic: &ClinicSettings, events: Vec<EventEnvelope>) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            clinic: clinic.clone(),
            kiosk_id: "k-test".into(),
            now: Utc::now(),
            events,
            reply,
        }
    }

    fn event(appointment: Option<&str>, body: EventBody) -> EventEnvelope {
        EventEnvelope {
            id: Uuid::new_v4(),
            occurred_at: Utc::now(),
            appointment_id: appointment.map(str::to_string),
            body,
        }
    }

    #[test]
    fn a_group_commits_every_batch_and_later_batches_see_earlier_ones() {
        let config = ServerConfig::demo(std::env::temp_dir(), "127.0.0.1:0".parse().unwrap());
        let clinic = config.clinics[0].clone();
        let db = Db::open_in_memory().unwrap();
        let day = Utc::now().with_timezone(&clinic.time_zone).date_naive();
        super::super::demo::seed(&db, &clinic, day, Utc::now()).unwrap();

        let arrived = event(Some("demo-001"), EventBody::Arrived {});
        let help = event(
            None,
            EventBody::Flag {
                code: "help_requested".into(),
                step: "welcome".into(),
                text: "Help requested".into(),
            },
        );
        let unknown = event(Some("no-such-appointment"), EventBody::Arrived {});
        let group = vec![
            job(&clinic, vec![arrived.clone()]),
            // The same arrival again, from a kiosk that retried.
            job(&clinic, vec![arrived.clone(), help, unknown]),
        ];
        let outcomes = db
            .blocking(|c| Ok(apply_group(c, &FormCatalog::default(), &group)))
            .unwrap();
        let statuses = |i: usize| -> Vec<EventStatus> {
            outcomes[i]
                .as_ref()
                .unwrap()
                .results
                .iter()
                .map(|r| r.status)
                .collect()
        };
        assert_eq!(statuses(0), [EventStatus::Accepted]);
        assert_eq!(
            statuses(1),
            [
                EventStatus::Duplicate,
                EventStatus::Accepted,
                EventStatus::Rejected
            ]
        );
        // Both batches were committed: the arrival once, the flag once.
        db.blocking(|c| {
            let events: i64 = c.query_row(
                "SELECT COUNT(*) FROM events WHERE kiosk_id = 'k-test'",
                [],
                |r| r.get(0),
            )?;
            let flags: i64 = c.query_row(
                "SELECT COUNT(*) FROM flags WHERE kiosk_id = 'k-test'",
                [],
                |r| r.get(0),
            )?;
            assert_eq!((events, flags), (2, 1));
            assert!(c.is_autocommit(), "the group's transaction is closed");
            Ok(())
        })
        .unwrap();
    }
}
