//! What `migrate-data` found: per table, the rows in the SQLite snapshot,
//! how many were copied now, the rows PostgreSQL holds for those keys and
//! both checksums; the rows that differ or are missing, by key (secrets
//! shown as `<hash>`); and where the pass-signing key is.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::Rows;
use super::tables::TablePlan;
use super::values::Canon;

/// How many differing or missing keys a table's report names.
const EXAMPLES: usize = 3;

/// One table's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table.
    pub table: String,
    /// Rows in the SQLite snapshot.
    pub source_rows: u64,
    /// Rows inserted into PostgreSQL by this run.
    pub copied: u64,
    /// Rows PostgreSQL holds with the snapshot's keys, after the copy.
    pub target_rows: u64,
    /// SHA-256 over the snapshot's rows in key order, hex.
    pub source_checksum: String,
    /// The same over PostgreSQL's rows with those keys.
    pub target_checksum: String,
    /// Keys PostgreSQL holds with other data.
    pub differing: u64,
    /// Keys PostgreSQL does not hold (a row it refused as a duplicate of
    /// another key, such as a kiosk token already in use).
    pub missing: u64,
    /// The first differing or missing keys, described.
    pub examples: Vec<String>,
}

impl TableReport {
    /// Compares the snapshot's rows with PostgreSQL's.
    pub(super) fn compare(table: &TablePlan, source: &Rows, target: &Rows, copied: u64) -> Self {
        let mut report = Self {
            table: table.name.to_string(),
            source_rows: source.len() as u64,
            copied,
            target_rows: target.len() as u64,
            source_checksum: checksum(source),
            target_checksum: checksum(target),
            differing: 0,
            missing: 0,
            examples: Vec::new(),
        };
        for (k, (key, digest)) in source {
            let what = match target.get(k) {
                None => {
                    report.missing += 1;
                    "missing"
                }
                Some((_, other)) if other != digest => {
                    report.differing += 1;
                    "holds other data"
                }
                Some(_) => continue,
            };
            if report.examples.len() < EXAMPLES {
                report
                    .examples
                    .push(format!("{what}: {}", describe_key(table, key)));
            }
        }
        report
    }

    /// Every row of the snapshot is in PostgreSQL with the same data.
    pub fn verified(&self) -> bool {
        self.differing == 0
            && self.missing == 0
            && self.source_rows == self.target_rows
            && self.source_checksum == self.target_checksum
    }
}

/// SHA-256 over the rows' digests in key order, hex.
fn checksum(rows: &Rows) -> String {
    let mut hasher = Sha256::new();
    for (_, digest) in rows.values() {
        hasher.update(digest);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `column=value, …` for a key; hashes of secrets are not shown.
fn describe_key(table: &TablePlan, key: &[Canon]) -> String {
    table
        .key
        .iter()
        .zip(key)
        .map(|(&i, v)| {
            let name = &table.columns[i].name;
            if name.ends_with("_hash") {
                format!("{name}=<hash>")
            } else {
                format!("{name}={}", v.describe())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole run's result.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each table copied, in order.
    pub tables: Vec<TableReport>,
    /// What was left behind, and why nothing is lost.
    pub notes: Vec<String>,
    /// The run only compared.
    pub verify_only: bool,
    /// The copy was committed (it verified, and was not a comparison).
    pub committed: bool,
    /// The pass-signing key's path, and whether it exists.
    pub key_file: Option<(PathBuf, bool)>,
}

impl Report {
    /// Every table verified.
    pub fn verified(&self) -> bool {
        self.tables.iter().all(TableReport::verified)
    }

    /// The report of `table`, if it was copied.
    pub fn table(&self, table: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == table)
    }

    /// Rows in the snapshot, and rows copied by this run.
    pub fn totals(&self) -> (u64, u64) {
        self.tables
            .iter()
            .fold((0, 0), |(r, c), t| (r + t.source_rows, c + t.copied))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<18} {:>9} {:>9} {:>9}  {:<16}  result",
            "table", "rows", "copied", "present", "checksum"
        )?;
        for t in &self.tables {
            let result = if t.verified() {
                "ok".to_string()
            } else {
                format!(
                    "MISMATCH: {} rows in PostgreSQL, {} hold other data, {} missing",
                    t.target_rows, t.differing, t.missing
                )
            };
            let sum = if t.source_checksum == t.target_checksum {
                t.source_checksum[..16].to_string()
            } else {
                format!("{}≠{}", &t.source_checksum[..7], &t.target_checksum[..7])
            };
            writeln!(
                f,
                "{:<18} {:>9} {:>9} {:>9}  {:<16}  {result}",
                t.table,
                t.source_rows,
                t.copied,
                t.target_rows.saturating_sub(t.copied),
                sum
            )?;
            for e in &t.examples {
                writeln!(f, "    {}: {e}", t.table)?;
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        let (rows, copied) = self.totals();
        match (self.verified(), self.verify_only) {
            (true, false) => writeln!(
                f,
                "verified: PostgreSQL holds all {rows} rows of the SQLite snapshot with the same data; {copied} copied now, committed"
            )?,
            (true, true) => writeln!(
                f,
                "verified: PostgreSQL holds all {rows} rows of the SQLite snapshot with the same data (compared only; nothing written)"
            )?,
            (false, _) => writeln!(
                f,
                "NOT verified: PostgreSQL holds other data under some of the SQLite keys, or lacks rows (listed above); nothing was written. Is this database another server's, or was it changed after an earlier migration?"
            )?,
        }
        match &self.key_file {
            Some((path, true)) => writeln!(
                f,
                "pass-signing key: {} stays a file; give every replica the same one (mode 0600, owned by the server's user) in the directory its server.data_dir names",
                path.display()
            ),
            Some((path, false)) => writeln!(
                f,
                "pass-signing key: none at {}; the first replica makes a new one, and passes printed before will not verify",
                path.display()
            ),
            None => Ok(()),
        }
    }
}
