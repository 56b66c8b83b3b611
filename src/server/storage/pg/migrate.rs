//! The PostgreSQL schema's migrations, applied in one transaction under an
//! advisory lock, so replicas starting together apply each one once; the
//! `schema_version` table records which are in.

use tokio_postgres::Client;

use super::PgError;

/// The migrations in order: version, name and SQL.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "forms", include_str!("migrations/0002_forms.sql")),
    (
        3,
        "login_limits",
        include_str!("migrations/0003_login_limits.sql"),
    ),
    (
        4,
        "signature_name",
        include_str!("migrations/0004_signature_name.sql"),
    ),
    (
        5,
        "change_outbox",
        include_str!("migrations/0005_change_outbox.sql"),
    ),
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = 5;

/// The advisory lock key the migrations run under ("ckin-mig").
const MIGRATION_LOCK: i64 = 0x636b_696e_2d6d_6967;

/// Brings the database to [`SCHEMA_VERSION`]; returns the version it was
/// at. Every step, the version check included, runs in one transaction
/// that first takes a transaction-scoped advisory lock: a second replica
/// starting at the same time waits, then finds the work done. A database
/// at a newer version than this binary knows is refused and left as it is.
pub async fn migrate(client: &mut Client) -> Result<i64, PgError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version bigint PRIMARY KEY,
             name text NOT NULL,
             applied_ms bigint NOT NULL
         )",
    )
    .await?;
    let found: i64 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, $2, $3)",
            &[version, name, &super::ms(chrono::Utc::now())],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_count_up_to_the_schema_version() {
        for (i, (version, _, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i64::try_from(i).unwrap() + 1);
            assert!(!sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    }
}
