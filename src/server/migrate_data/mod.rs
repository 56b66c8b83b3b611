//! `clinic-server migrate-data`: moves a SQLite clinic server's data into
//! PostgreSQL. It reads one consistent snapshot of the SQLite database
//! (read-only, one read transaction), brings the PostgreSQL schema up to
//! date, and copies every table of [`tables::TABLES`] in one PostgreSQL
//! transaction: `INSERT … ON CONFLICT DO NOTHING` on the primary keys, so
//! a second run copies nothing twice. Before it commits, it reads back
//! every copied key and compares rows, counts and a SHA-256 checksum per
//! table ([`values::Canon`]); a row that PostgreSQL holds with other data,
//! or that could not be written, rolls everything back. Nothing is
//! dropped silently: a table or column PostgreSQL lacks is refused unless
//! it is empty.
//!
//! Kiosk and staff credentials are copied as their hashes, so enrolled
//! kiosks and signed-in staff carry on against PostgreSQL. The
//! pass-signing key is not in the database; it stays a file.

mod report;
pub mod tables;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use deadpool_postgres::GenericClient;
use rusqlite::Connection;

pub use report::{Report, TableReport};
use tables::{TablePlan, quote};
use values::{Canon, PgParam};

use super::storage::pg::{self, PgError};
use super::{DB_FILE, KEY_FILE, ServerError};
use crate::config::DatabaseSettings;

/// Rows sent to PostgreSQL per statement, at most; fewer for wide tables,
/// to stay under PostgreSQL's 65,535 parameters.
const BATCH_ROWS: usize = 1000;

/// What to migrate, and where to.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The SQLite server's data directory (`server.data_dir`).
    pub from: PathBuf,
    /// The PostgreSQL database, as `[database]` names it.
    pub to: DatabaseSettings,
    /// Compare only: write nothing, report what differs.
    pub verify_only: bool,
}

/// Why the migration could not run. A migration that ran but found
/// differences is not an error: its [`Report`] says so.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The data directory holds no clinic-server database.
    #[error(
        "no clinic-server database at {0}; --from names the SQLite server's data directory (server.data_dir)"
    )]
    NoDatabase(PathBuf),
    /// The data directory is in use by a running server, or cannot be
    /// locked.
    #[error("{0}; stop the SQLite clinic-server first, so that no event arrives after the copy")]
    DataDir(#[source] ServerError),
    /// SQLite refused or failed.
    #[error("the SQLite database: {source}")]
    Sqlite {
        /// What went wrong.
        source: rusqlite::Error,
    },
    /// The SQLite schema is not the one this binary copies.
    #[error(
        "the SQLite database is at schema version {found}, and this clinic-server copies version {known}; {advice}"
    )]
    SqliteVersion {
        /// The database's version.
        found: i64,
        /// The version this binary knows.
        known: i64,
        /// What to do.
        advice: &'static str,
    },
    /// PostgreSQL could not be reached or migrated.
    #[error("{0}")]
    Postgres(#[from] PgError),
    /// PostgreSQL refused a statement while copying a table.
    #[error("PostgreSQL, table {table}: {message}")]
    PgTable {
        /// The table.
        table: String,
        /// PostgreSQL's error code and message (never a row's values).
        message: String,
    },
    /// A SQLite value cannot be stored in its PostgreSQL column.
    #[error("table {table}, column {column}, row {row}: {problem}")]
    BadValue {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The row's position in the snapshot (1-based).
        row: u64,
        /// What was expected; never the value.
        problem: String,
    },
    /// Tables or columns that would be lost: PostgreSQL has no place for
    /// them yet.
    #[error(
        "nothing was copied, because these would be lost:\n  - {}\nupgrade clinic-server to a version whose PostgreSQL schema holds them",
        .0.join("\n  - ")
    )]
    Unsupported(Vec<String>),
}

impl MigrateError {
    /// A PostgreSQL error while working on `table`: its code and message
    /// only, as the detail may quote a row.
    pub(crate) fn pg(table: &str, e: &tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => connection_error(e),
        };
        Self::PgTable {
            table: table.to_string(),
            message,
        }
    }
}

/// The text of a tokio-postgres error that is not the server's, such as a
/// broken connection, with its cause.
fn connection_error(e: &tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    if let Some(source) = std::error::Error::source(e) {
        out.push_str(": ");
        out.push_str(&source.to_string());
    }
    out
}

/// Copies (or, with `verify_only`, compares) the SQLite database in
/// `options.from` into `options.to`; see the module's documentation.
/// The returned report says whether PostgreSQL now holds every row of the
/// snapshot with the same data ([`Report::verified`]) and whether the
/// copy was committed.
pub async fn migrate_data(options: &MigrateOptions) -> Result<Report, MigrateError> {
    let db_path = options.from.join(DB_FILE);
    if !db_path.is_file() {
        return Err(MigrateError::NoDatabase(options.from.clone()));
    }
    let _lock = super::lock_data_dir(&options.from).map_err(MigrateError::DataDir)?;
    let sqlite = open_snapshot(&db_path)?;
    let store = pg::connect(&options.to).await?;
    let mut client = store.client().await?;
    let plan = tables::plan(&sqlite, &client).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| MigrateError::pg("(begin)", &e))?;
    let mut report = Report {
        verify_only: options.verify_only,
        notes: plan.notes.clone(),
        ..Report::default()
    };
    for table in &plan.tables {
        report
            .tables
            .push(copy_table(&sqlite, &tx, table, options.verify_only).await?);
    }
    if report.verified() && !options.verify_only {
        for table in &plan.tables {
            advance_identities(&tx, table).await?;
        }
        tx.commit()
            .await
            .map_err(|e| MigrateError::pg("(commit)", &e))?;
        report.committed = true;
    } else {
        tx.rollback()
            .await
            .map_err(|e| MigrateError::pg("(rollback)", &e))?;
    }
    let key = options.from.join(KEY_FILE);
    report.key_file = Some((key.clone(), key.is_file()));
    Ok(report)
}

/// Opens the SQLite database read-only and starts the read transaction
/// every later read shares, so the copy is one consistent snapshot even
/// if something writes meanwhile. Refuses a schema other than this
/// binary's.
fn open_snapshot(path: &Path) -> Result<Connection, MigrateError> {
    let sqlite_error = |source| MigrateError::Sqlite { source };
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sqlite_error)?;
    conn.execute_batch("BEGIN").map_err(sqlite_error)?;
    // The first read fixes the snapshot.
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite_error)?;
    let known = i64::try_from(super::schema::SCHEMA_VERSION).unwrap_or(i64::MAX);
    if found != known {
        let advice = if found < known {
            "start this clinic-server on it once (`clinic-server serve` with its old configuration) to upgrade it, stop it, then migrate"
        } else {
            "run the migration with the newer clinic-server that wrote it"
        };
        return Err(MigrateError::SqliteVersion {
            found,
            known,
            advice,
        });
    }
    Ok(conn)
}

/// One table's rows as compared: each key's encoding, its values (for
/// reports) and the row's digest.
type Rows = BTreeMap<Vec<u8>, (Vec<Canon>, [u8; 32])>;

/// Copies one table and compares it; see [`migrate_data`].
async fn copy_table(
    sqlite: &Connection,
    tx: &impl GenericClient,
    table: &TablePlan,
    verify_only: bool,
) -> Result<TableReport, MigrateError> {
    let pg_err = |e: tokio_postgres::Error| MigrateError::pg(table.name, &e);
    let staging = quote(&format!("migrate_{}", table.name));
    let columns = table.column_list(None);
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {} WITH NO DATA",
        quote(table.name)
    ))
    .await
    .map_err(pg_err)?;
    let source = stage(sqlite, tx, table, &staging).await?;
    let copied = if verify_only {
        0
    } else {
        tx.execute(
            &format!(
                "INSERT INTO {} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING",
                quote(table.name)
            ),
            &[],
        )
        .await
        .map_err(pg_err)?
    };
    let target = read_back(tx, table, &staging).await?;
    tx.batch_execute(&format!("DROP TABLE {staging}"))
        .await
        .map_err(pg_err)?;
    Ok(TableReport::compare(table, &source, &target, copied))
}

/// Reads the SQLite table and writes it to the staging table, in
/// batches; returns its rows as compared.
async fn stage(
    sqlite: &Connection,
    tx: &impl GenericClient,
    table: &TablePlan,
    staging: &str,
) -> Result<Rows, MigrateError> {
    let sqlite_error = |source| MigrateError::Sqlite { source };
    let width = table.columns.len().max(1);
    let per_batch = BATCH_ROWS.min(60_000 / width).max(1);
    let mut stmt = sqlite
        .prepare(&format!(
            "SELECT {} FROM {}",
            table.column_list(None),
            quote(table.name)
        ))
        .map_err(sqlite_error)?;
    let mut rows = stmt.query([]).map_err(sqlite_error)?;
    let mut source = Rows::new();
    let mut batch: Vec<PgParam> = Vec::with_capacity(per_batch * width);
    let mut n: u64 = 0;
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        n += 1;
        let mut canon = Vec::with_capacity(width);
        for (i, column) in table.columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(sqlite_error)?;
            let (param, c) = values::from_sqlite(column.kind, value).map_err(|problem| {
                MigrateError::BadValue {
                    table: table.name.to_string(),
                    column: column.name.clone(),
                    row: n,
                    problem,
                }
            })?;
            batch.push(param);
            canon.push(c);
        }
        insert_row_digest(&mut source, table, canon);
        if batch.len() >= per_batch * width {
            insert_batch(tx, table, staging, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert_batch(tx, table, staging, &batch).await?;
    }
    Ok(source)
}

/// Files a row under its key.
fn insert_row_digest(rows: &mut Rows, table: &TablePlan, canon: Vec<Canon>) {
    let key: Vec<Canon> = table.key.iter().map(|&i| canon[i].clone()).collect();
    let digest = values::digest(&canon);
    rows.insert(values::encode_all(&key), (key, digest));
}

/// Inserts whole rows of `params` into the staging table.
async fn insert_batch(
    tx: &impl GenericClient,
    table: &TablePlan,
    staging: &str,
    params: &[PgParam],
) -> Result<(), MigrateError> {
    let width = table.columns.len();
    let rows = params.len() / width;
    let mut sql = format!(
        "INSERT INTO {staging} ({}) VALUES ",
        table.column_list(None)
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    let refs: Vec<_> = params.iter().map(PgParam::as_sql).collect();
    tx.execute(&sql, &refs)
        .await
        .map_err(|e| MigrateError::pg(table.name, &e))?;
    Ok(())
}

/// The PostgreSQL rows with the staged keys, as compared.
async fn read_back(
    tx: &impl GenericClient,
    table: &TablePlan,
    staging: &str,
) -> Result<Rows, MigrateError> {
    let pg_err = |e: tokio_postgres::Error| MigrateError::pg(table.name, &e);
    let rows = tx
        .query(
            &format!(
                "SELECT {} FROM {} t JOIN {staging} s ON {}",
                table.column_list(Some("t")),
                quote(table.name),
                table.key_join("t", "s")
            ),
            &[],
        )
        .await
        .map_err(pg_err)?;
    let mut target = Rows::new();
    for row in &rows {
        let canon = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| values::from_pg(c.kind, row, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg_err)?;
        insert_row_digest(&mut target, table, canon);
    }
    Ok(target)
}

/// Moves each identity sequence of `table` past the largest id now in
/// it, so rows PostgreSQL adds later do not collide with copied ones.
async fn advance_identities(
    tx: &impl GenericClient,
    table: &TablePlan,
) -> Result<(), MigrateError> {
    let pg_err = |e: tokio_postgres::Error| MigrateError::pg(table.name, &e);
    for column in table.columns.iter().filter(|c| c.identity) {
        let sequence: Option<String> = tx
            .query_one(
                "SELECT pg_get_serial_sequence($1, $2)",
                &[&quote(table.name), &column.name],
            )
            .await
            .map_err(pg_err)?
            .get(0);
        let Some(sequence) = sequence else { continue };
        // `sequence` comes from PostgreSQL, already quoted as needed.
        tx.query(
            &format!(
                "SELECT setval($1::text::regclass, m.top)
                 FROM (SELECT MAX({col}) AS top FROM {t}) m, {sequence} s
                 WHERE m.top IS NOT NULL
                   AND m.top >= CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END",
                col = quote(&column.name),
                t = quote(table.name),
            ),
            &[&sequence],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}
