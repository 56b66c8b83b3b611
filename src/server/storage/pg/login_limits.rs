//! The staff sign-in limiter's counts on PostgreSQL (`login_strikes`), one
//! row per client address and per user name, shared by every replica. The
//! decision itself is [`crate::server::login_guard::admit`], the same as
//! in memory; here it runs on rows locked for it.
//!
//! Admitting an attempt first locks the address's row, then the user
//! name's (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, creating them
//! when new), decides, and writes both back in the same transaction: an
//! attempt on another replica waits for the lock and then sees this one
//! counted, so parallel guesses cannot pass the limit. The other steps
//! each touch one row per statement, so they never hold one lock while
//! waiting for another.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{PgError, PgStore, ms};
use crate::server::db::from_ms;
use crate::server::login_guard::{
    ADDRESS_FREE_FAILURES, ClientIp, FORGET_AFTER_SECS, Strikes, USER_FREE_FAILURES, UserStrikes,
    address_subject, admit, parse_address_subject,
};

/// Rows dropped at most per clean-up, so one never takes long.
const PRUNE_LIMIT: i64 = 1000;

/// One locked row: the strikes and, for a user name, the addresses.
struct Locked {
    strikes: Strikes,
    sources: Vec<String>,
}

/// Locks the row of `(scope, subject)`, creating it with no failures.
async fn lock(
    tx: &impl GenericClient,
    scope: &str,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Locked, PgError> {
    let row = tx
        .query_one(
            "INSERT INTO login_strikes (scope, subject, failures, last_failure_ms, blocked_until_ms)
             VALUES ($1, $2, 0, $3, $3)
             ON CONFLICT (scope, subject) DO UPDATE SET failures = login_strikes.failures
             RETURNING failures, last_failure_ms, blocked_until_ms, alerted, sources",
            &[&scope, &subject, &ms(now)],
        )
        .await?;
    let failures: i64 = row.try_get(0)?;
    Ok(Locked {
        strikes: Strikes {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last: from_ms(row.try_get(1)?),
            until: from_ms(row.try_get(2)?),
            alerted: row.try_get(3)?,
        },
        sources: row.try_get(4)?,
    })
}

/// Writes `strikes` (and `sources`) back to the locked row.
async fn store(
    tx: &impl GenericClient,
    scope: &str,
    subject: &str,
    strikes: &Strikes,
    sources: &[String],
) -> Result<(), PgError> {
    tx.execute(
        "UPDATE login_strikes SET failures = $3, last_failure_ms = $4, blocked_until_ms = $5,
             alerted = $6, sources = $7
         WHERE scope = $1 AND subject = $2",
        &[
            &scope,
            &subject,
            &i64::from(strikes.failures),
            &ms(strikes.last),
            &ms(strikes.until),
            &strikes.alerted,
            &sources,
        ],
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// Admits an attempt for `user` from `ip` at `now`, counted as a
    /// failure of both, or returns the seconds to wait (and changes
    /// nothing); see the module's documentation.
    pub async fn login_begin(
        &self,
        user: &str,
        ip: ClientIp,
        now: DateTime<Utc>,
    ) -> Result<Result<(), u64>, PgError> {
        let address = address_subject(ip);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut addr = lock(&tx, "address", &address, now).await?.strikes;
        let locked = lock(&tx, "user", user, now).await?;
        let mut strikes = UserStrikes {
            strikes: locked.strikes,
            from: locked
                .sources
                .iter()
                .filter_map(|s| parse_address_subject(s))
                .collect(),
        };
        addr.refresh(now);
        strikes.refresh(now);
        if let Err(wait) = admit(&mut addr, &mut strikes, ip, now) {
            tx.rollback().await?;
            return Ok(Err(wait));
        }
        let mut sources: Vec<String> = strikes.from.iter().map(|ip| address_subject(*ip)).collect();
        sources.sort();
        store(&tx, "address", &address, &addr, &[]).await?;
        store(&tx, "user", user, &strikes.strikes, &sources).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Takes back the count of an attempt that was not checked.
    pub async fn login_abandon(&self, user: &str, ip: ClientIp) -> Result<(), PgError> {
        let client = self.client().await?;
        for (scope, subject) in [("address", address_subject(ip)), ("user", user.to_string())] {
            client
                .execute(
                    "UPDATE login_strikes SET failures = GREATEST(failures - 1, 0)
                     WHERE scope = $1 AND subject = $2",
                    &[&scope, &subject],
                )
                .await?;
        }
        Ok(())
    }

    /// A correct password: the address's count for it is taken back and
    /// the user name's failures are forgiven.
    pub async fn login_succeeded(&self, user: &str, ip: ClientIp) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE login_strikes SET failures = GREATEST(failures - 1, 0)
                 WHERE scope = 'address' AND subject = $1",
                &[&address_subject(ip)],
            )
            .await?;
        client
            .execute(
                "DELETE FROM login_strikes WHERE scope = 'user' AND subject = $1",
                &[&user],
            )
            .await?;
        Ok(())
    }

    /// A wrong password: marks the user name's and the address's runs of
    /// failures alerted when they reached a delay and were not yet, once
    /// across every replica; says which it marked (user, address).
    pub async fn login_failed(&self, user: &str, ip: ClientIp) -> Result<(bool, bool), PgError> {
        let client = self.client().await?;
        let mut marked = [false; 2];
        for (i, (scope, subject, free)) in [
            ("user", user.to_string(), USER_FREE_FAILURES),
            ("address", address_subject(ip), ADDRESS_FREE_FAILURES),
        ]
        .into_iter()
        .enumerate()
        {
            let n = client
                .execute(
                    "UPDATE login_strikes SET alerted = true
                     WHERE scope = $1 AND subject = $2 AND failures >= $3 AND NOT alerted",
                    &[&scope, &subject, &i64::from(free)],
                )
                .await?;
            marked[i] = n > 0;
        }
        Ok((marked[0], marked[1]))
    }

    /// Drops rows with no delay left that went quiet [`FORGET_AFTER_SECS`]
    /// ago, skipping rows another attempt holds.
    pub async fn login_prune(&self, now: DateTime<Utc>) -> Result<u64, PgError> {
        let quiet_since = ms(now) - FORGET_AFTER_SECS * 1000;
        Ok(self
            .client()
            .await?
            .execute(
                "DELETE FROM login_strikes WHERE ctid IN (
                     SELECT ctid FROM login_strikes
                     WHERE last_failure_ms < $1 AND blocked_until_ms <= $2
                     LIMIT $3 FOR UPDATE SKIP LOCKED)",
                &[&quiet_since, &ms(now), &PRUNE_LIMIT],
            )
            .await?)
    }
}
