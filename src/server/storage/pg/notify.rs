//! Change notices between replicas on PostgreSQL. Each storage operation
//! that changes what staff see sends its notices with `pg_notify` inside
//! its own transaction, so they leave only when it commits; one dedicated
//! connection per replica (outside the pool) LISTENs and hands what the
//! *other* replicas sent to this one's staff streams, reconnecting with a
//! growing pause when the connection is lost.
//!
//! A payload carries the sending replica's id, so a replica skips its own
//! notices (it published them in process already), and only ids: clinic,
//! kind and the id of what changed, never PHI. Notices sent while a
//! listener was disconnected are lost to it; after reconnecting it asks
//! its consoles to refetch everything (a `resync`).

use std::time::Duration;

use deadpool_postgres::GenericClient;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, Connection, Notification};
use uuid::Uuid;

use super::connect::Dial;
use super::{PgStore, ms};
use crate::domain::ClinicId;
use crate::protocol::ChangeNotice;

/// The channel every replica sends on and listens to.
pub const CHANNEL: &str = "clinic_changes";
/// The largest payload sent; PostgreSQL refuses 8000 bytes or more.
pub const MAX_PAYLOAD_BYTES: usize = 7_900;
/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long connecting and `LISTEN` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle listening connection is checked with an empty query.
const PING_EVERY: Duration = Duration::from_secs(10);
/// How long that check may take before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the listening connection could not be opened or was lost.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// PostgreSQL refused, or the connection broke.
    #[error("{}", super::chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The database did not answer in time.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The connection ended.
    #[error("the connection closed")]
    Closed,
}

/// A change notice for `clinic`: `kind` of what changed and its `id`.
pub fn notice(clinic: &ClinicId, kind: &str, id: impl Into<String>) -> ChangeNotice {
    ChangeNotice {
        clinic_id: clinic.as_str().to_string(),
        kind: kind.to_string(),
        id: id.into(),
    }
}

/// A payload as sent.
#[derive(Serialize)]
struct Outgoing<'a> {
    /// The sending replica.
    o: Uuid,
    /// The notices.
    n: &'a [&'a ChangeNotice],
    /// Whether a notice was too large to send, so listeners must refetch.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    r: bool,
}

/// A payload as received.
#[derive(Deserialize)]
struct Incoming {
    o: Uuid,
    n: Vec<ChangeNotice>,
    #[serde(default)]
    r: bool,
}

/// The payloads carrying `notices` from replica `origin`, each at most
/// [`MAX_PAYLOAD_BYTES`]. A notice too large on its own is left out and
/// the payload asks listeners to refetch instead.
pub fn payloads(origin: Uuid, notices: &[ChangeNotice]) -> Vec<String> {
    let encode = |batch: &[&ChangeNotice], r: bool| {
        serde_json::to_string(&Outgoing {
            o: origin,
            n: batch,
            r,
        })
        .unwrap_or_default()
    };
    let envelope = encode(&[], true).len();
    let mut out = Vec::new();
    let mut batch: Vec<&ChangeNotice> = Vec::new();
    let mut size = envelope;
    let mut too_large = false;
    for n in notices {
        // Its JSON and the comma before it.
        let len = serde_json::to_string(n).map_or(usize::MAX, |s| s.len().saturating_add(1));
        if envelope.saturating_add(len) > MAX_PAYLOAD_BYTES {
            too_large = true;
            continue;
        }
        if size + len > MAX_PAYLOAD_BYTES {
            out.push(encode(&batch, false));
            batch.clear();
            size = envelope;
        }
        batch.push(n);
        size += len;
    }
    if !batch.is_empty() || too_large {
        out.push(encode(&batch, too_large));
    }
    out
}

/// What the listener heard from other replicas.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heard {
    /// Their notices, in the order sent.
    pub notices: Vec<ChangeNotice>,
    /// Whether consoles must refetch everything: notices may have been
    /// missed (the listener reconnected) or left out (too large).
    pub resync: bool,
}

/// What a notification on [`CHANNEL`] means to the replica `origin`;
/// `None` for its own notices and for payloads it cannot read.
fn hear(origin: Uuid, payload: &str) -> Option<Heard> {
    let Ok(p) = serde_json::from_str::<Incoming>(payload) else {
        tracing::warn!(
            bytes = payload.len(),
            "change listener: an unreadable payload, ignored"
        );
        return None;
    };
    (p.o != origin).then_some(Heard {
        notices: p.n,
        resync: p.r,
    })
}

impl PgStore {
    /// Sends `notices` to the other replicas when `tx` commits (nothing is
    /// sent if it rolls back). Every transaction that notifies holds one
    /// cluster-wide lock from its commit until its commit is on disk, so
    /// busy paths use [`Self::publish`] instead.
    pub async fn announce_in(
        &self,
        tx: &impl GenericClient,
        notices: &[ChangeNotice],
    ) -> Result<(), tokio_postgres::Error> {
        let payloads = payloads(self.origin, notices);
        if payloads.is_empty() {
            return Ok(());
        }
        publish_on(tx, &payloads).await
    }

    /// Stages `notices` in `tx`, the transaction that made them, for
    /// [`Self::send_staged`] after its commit; the staged rows' ids. A
    /// notice staged is sent even if this replica dies before sending it:
    /// another replica's sweep sends it within seconds.
    pub async fn stage_in(
        &self,
        tx: &impl GenericClient,
        notices: &[ChangeNotice],
    ) -> Result<Vec<i64>, tokio_postgres::Error> {
        let payloads = payloads(self.origin, notices);
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO change_outbox (payload, created_ms)
                 SELECT u.p, $2 FROM unnest($1::text[]) WITH ORDINALITY AS u (p, n)
                 ORDER BY u.n
                 RETURNING notice_id",
            )
            .await?;
        let rows = tx
            .query(&stmt, &[&payloads, &ms(chrono::Utc::now())])
            .await?;
        rows.iter().map(|r| r.try_get(0)).collect()
    }

    /// Sends the notices [`Self::stage_in`] staged, once their transaction
    /// has committed, and removes them, in a transaction that does not
    /// wait for the disk: PostgreSQL serializes notifying commits on one
    /// cluster-wide lock held until the commit is on disk, so kiosk batches
    /// sent this way do not queue behind each other's disk flushes, and a
    /// removal lost to a crash only sends a notice twice. Never fails the
    /// caller, whose data is committed: what is not sent here, the sweep
    /// sends.
    /// Runs on `client`, the connection the transaction ran on, so that a
    /// batch never holds one pooled connection while it waits for another.
    pub async fn send_staged(&self, client: &impl GenericClient, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let sent = async {
            let stmt = client.prepare_cached(SEND_STAGED).await?;
            client.query(&stmt, &[&CHANNEL, &ids]).await
        };
        if let Err(e) = sent.await {
            tracing::warn!(error = %e, "change notices left for the sweep");
        }
    }

    /// This replica's id in the notices it sends.
    pub fn origin(&self) -> Uuid {
        self.origin
    }

    /// Starts listening, on a connection of its own, for the notices other
    /// replicas send; `deliver` gets each, and a resync after every
    /// reconnection. The listener stops when the returned handle drops.
    pub fn listen(&self, deliver: impl Fn(Heard) + Send + Sync + 'static) -> Listener {
        let (listening, watch_rx) = watch::channel(false);
        let task = tokio::spawn(listen_loop(self.clone(), deliver, listening));
        Listener {
            task,
            listening: watch_rx,
        }
    }
}

/// A running change listener; dropping it stops it.
#[derive(Debug)]
pub struct Listener {
    /// The listening task.
    task: tokio::task::JoinHandle<()>,
    /// True while `LISTEN` is in effect.
    listening: watch::Receiver<bool>,
}

impl Listener {
    /// Turns true while the listener is connected and listening.
    pub fn listening(&self) -> watch::Receiver<bool> {
        self.listening.clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens until aborted: connects, listens, and after a loss waits
/// ([`FIRST_BACKOFF`] doubling to [`MAX_BACKOFF`]) and connects again.
async fn listen_loop(store: PgStore, deliver: impl Fn(Heard), listening: watch::Sender<bool>) {
    let mut backoff = FIRST_BACKOFF;
    let mut listened_before = false;
    loop {
        let err = listen_once(&store, &deliver, &listening, &mut listened_before).await;
        if listening.send_replace(false) {
            backoff = FIRST_BACKOFF;
            tracing::warn!(error = %err, "change listener: connection lost; reconnecting");
        } else {
            tracing::warn!(error = %err, retry_ms = backoff.as_millis() as u64, "change listener: cannot listen");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: connect, `LISTEN`, deliver, until it is lost.
async fn listen_once(
    store: &PgStore,
    deliver: &impl Fn(Heard),
    listening: &watch::Sender<bool>,
    listened_before: &mut bool,
) -> ListenError {
    let (client, mut heard) = match within(CONNECT_TIMEOUT, store.dial.open()).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let listen = format!("LISTEN {CHANNEL}");
    if let Err(e) = within(CONNECT_TIMEOUT, client.batch_execute(&listen)).await {
        return e;
    }
    listening.send_replace(true);
    if *listened_before {
        deliver(Heard {
            notices: Vec::new(),
            resync: true,
        });
    }
    *listened_before = true;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let sweep_stmt = match within(CONNECT_TIMEOUT, client.prepare(SWEEP)).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                let due = ms(chrono::Utc::now()) - SWEEP_AFTER_MS;
                if let Err(e) = within(PING_TIMEOUT, client.query(&sweep_stmt, &[&CHANNEL, &due])).await {
                    return e;
                }
            }
            n = heard.recv() => match n {
                Some(n) if n.channel() == CHANNEL => {
                    if let Some(h) = hear(store.origin, n.payload()) {
                        deliver(h);
                    }
                }
                Some(_) => {}
                None => return ListenError::Closed,
            },
            _ = ping.tick() => {
                if let Err(e) = within(PING_TIMEOUT, client.simple_query("")).await {
                    return e;
                }
            }
        }
    }
}

/// Sends the staged notices `$2` (ids), in order, and removes them; in a
/// transaction whose commit does not wait for the disk.
const SEND_STAGED: &str = "WITH sent AS (
         DELETE FROM change_outbox WHERE notice_id = ANY($2) RETURNING notice_id, payload
     )
     SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, s.payload)
     FROM (SELECT notice_id, payload FROM sent ORDER BY notice_id) AS s";

/// How often each replica's listener sends the notices another replica
/// staged and committed but did not send.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How old a staged notice must be for the sweep: its own replica sends
/// it within milliseconds of its commit unless it died in between.
const SWEEP_AFTER_MS: i64 = 2_000;

/// Sends staged notices older than `$2` (epoch ms), oldest first, at most
/// 500 at a time, and removes them; rows another sweep holds are skipped.
const SWEEP: &str = "WITH due AS (
         SELECT notice_id FROM change_outbox WHERE created_ms < $2
         ORDER BY notice_id LIMIT 500 FOR UPDATE SKIP LOCKED
     ), sent AS (
         DELETE FROM change_outbox c USING due WHERE c.notice_id = due.notice_id
         RETURNING c.notice_id, c.payload
     )
     SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, s.payload)
     FROM (SELECT notice_id, payload FROM sent ORDER BY notice_id) AS s";

/// `f`, or [`ListenError::TimedOut`] after `limit`.
async fn within<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ListenError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ListenError::TimedOut(limit)),
    }
}

impl Dial {
    /// A new connection outside the pool, and its notifications; the
    /// receiver ends when the connection does.
    async fn open(
        &self,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), tokio_postgres::Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = match self {
            Self::Plain(config) => {
                let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                drive(conn, tx);
                client
            }
            Self::Tls(config, tls) => {
                let (client, conn) = config.connect(tls.clone()).await?;
                drive(conn, tx);
                client
            }
        };
        Ok((client, rx))
    }
}

/// Runs `conn` on its own task, forwarding its notifications to `tx`,
/// until it ends or nobody receives.
fn drive<S, T>(mut conn: Connection<S, T>, tx: mpsc::UnboundedSender<Notification>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %super::chain(&e), "change listener: connection ended");
                    break;
                }
            }
        }
    });
}

/// Sends `payloads` on `c` in one statement: in the caller's transaction,
/// or, on a connection in none, in a transaction of its own, which writes
/// nothing but its commit and so does not wait for the disk.
pub(super) async fn publish_on(
    c: &impl GenericClient,
    payloads: &[String],
) -> Result<(), tokio_postgres::Error> {
    let stmt = c
        .prepare_cached("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .await?;
    c.query(&stmt, &[&CHANNEL, &payloads]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(clinic: &str, kind: &str, id: &str) -> ChangeNotice {
        notice(&ClinicId(clinic.into()), kind, id)
    }

    #[test]
    fn notices_fit_in_payloads_and_come_back_in_order() {
        let me = Uuid::new_v4();
        let notices: Vec<_> = (0..500)
            .map(|i| {
                n(
                    "north",
                    "appointment",
                    &format!("appt-{i:04}-{}", "x".repeat(40)),
                )
            })
            .collect();
        let sent = payloads(me, &notices);
        assert!(sent.len() > 1, "500 notices need several payloads");
        assert!(sent.iter().all(|p| p.len() <= MAX_PAYLOAD_BYTES));
        let other = Uuid::new_v4();
        let back: Vec<ChangeNotice> = sent
            .iter()
            .flat_map(|p| hear(other, p).unwrap().notices)
            .collect();
        assert_eq!(back, notices);
        assert!(sent.iter().all(|p| hear(me, p).is_none()), "own notices");
        assert!(payloads(me, &[]).is_empty());
    }

    #[test]
    fn a_notice_too_large_to_send_asks_for_a_resync() {
        let me = Uuid::new_v4();
        let huge = n("north", "flag", &"9".repeat(MAX_PAYLOAD_BYTES));
        let small = n("north", "flag", "7");
        let sent = payloads(me, &[huge, small.clone()]);
        assert_eq!(sent.len(), 1);
        let heard = hear(Uuid::new_v4(), &sent[0]).unwrap();
        assert_eq!(
            heard,
            Heard {
                notices: vec![small],
                resync: true
            }
        );
    }

    #[test]
    fn a_foreign_payload_is_ignored() {
        assert_eq!(hear(Uuid::new_v4(), "hello"), None);
        assert_eq!(hear(Uuid::new_v4(), r#"{"o":"nope","n":[]}"#), None);
    }
}
