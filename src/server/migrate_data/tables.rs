//! Which tables `migrate-data` copies, with their keys, and the plan for
//! one SQLite database and one PostgreSQL schema: the columns both have,
//! in SQLite's order and PostgreSQL's types, and what would be lost
//! (refused) or is empty and safely left behind (noted).

use deadpool_postgres::GenericClient;
use rusqlite::Connection;

use super::MigrateError;
use super::values::ColumnKind;

/// A table of the clinic server's schema and its primary key.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table's name, the same in both schemas.
    pub name: &'static str,
    /// The primary key's columns, which say which rows are the same row.
    pub key: &'static [&'static str],
}

/// Every table of the SQLite schema, in the order they are copied. A new
/// table is one line here; a SQLite table missing from this list is
/// refused unless it is empty (and a unit test fails first).
pub const TABLES: &[Table] = &[
    Table {
        name: "clinic_cursor",
        key: &["clinic_id"],
    },
    Table {
        name: "patients",
        key: &["clinic_id", "patient_id"],
    },
    Table {
        name: "appointments",
        key: &["clinic_id", "appointment_id"],
    },
    Table {
        name: "enrollment_codes",
        key: &["code_hash"],
    },
    Table {
        name: "kiosks",
        key: &["kiosk_id"],
    },
    Table {
        name: "events",
        key: &["clinic_id", "event_id"],
    },
    Table {
        name: "flags",
        key: &["flag_id"],
    },
    Table {
        name: "proposed_changes",
        key: &["change_id"],
    },
    Table {
        name: "copay_items",
        key: &["item_id"],
    },
    Table {
        name: "audit",
        key: &["audit_id"],
    },
    Table {
        name: "staff_members",
        key: &["clinic_id", "username"],
    },
    Table {
        name: "staff_sessions",
        key: &["token_hash"],
    },
    Table {
        name: "fhir_outbox",
        key: &["item_id"],
    },
    Table {
        name: "fhir_resources",
        key: &["clinic_id", "resource_type", "resource_id"],
    },
    Table {
        name: "fhir_status",
        key: &["clinic_id"],
    },
    Table {
        name: "form_responses",
        key: &["clinic_id", "event_id"],
    },
];

/// One column copied: its name and its PostgreSQL kind.
#[derive(Debug, Clone)]
pub struct Column {
    /// The name, the same in both schemas.
    pub name: String,
    /// How its values convert.
    pub kind: ColumnKind,
    /// PostgreSQL fills it from an identity sequence, which must be moved
    /// past the copied ids.
    pub identity: bool,
}

/// How one table is copied.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The table.
    pub name: &'static str,
    /// The columns both schemas have, in SQLite's order.
    pub columns: Vec<Column>,
    /// The key columns' positions in [`Self::columns`].
    pub key: Vec<usize>,
}

impl TablePlan {
    /// The columns as a SQL list, each quoted and prefixed by `alias.`
    /// when one is given.
    pub fn column_list(&self, alias: Option<&str>) -> String {
        let prefix = alias.map(|a| format!("{a}.")).unwrap_or_default();
        self.columns
            .iter()
            .map(|c| format!("{prefix}{}", quote(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `a.k1 = b.k1 AND …` over the key.
    pub fn key_join(&self, a: &str, b: &str) -> String {
        self.key
            .iter()
            .map(|&i| {
                let c = quote(&self.columns[i].name);
                format!("{a}.{c} = {b}.{c}")
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// The whole plan: the tables to copy and what is left behind.
#[derive(Debug, Default)]
pub struct Plan {
    /// The tables, in [`TABLES`] order.
    pub tables: Vec<TablePlan>,
    /// What is not copied and why nothing is lost by it.
    pub notes: Vec<String>,
}

/// A SQL identifier, quoted.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Plans the copy of `sqlite` into the schema `pg` is connected to.
/// Everything that would be lost, every table and column at once, is
/// refused with [`MigrateError::Unsupported`].
pub async fn plan(sqlite: &Connection, pg: &impl GenericClient) -> Result<Plan, MigrateError> {
    let mut plan = Plan::default();
    let mut refused = Vec::new();
    let present = sqlite_tables(sqlite)?;
    for name in present
        .iter()
        .filter(|n| !TABLES.iter().any(|t| t.name == *n))
    {
        let rows = count(sqlite, name, None)?;
        if rows == 0 {
            plan.notes.push(format!(
                "table {name}: not a clinic-server table this version copies; it is empty, so nothing is lost"
            ));
        } else {
            refused.push(format!(
                "table {name} ({rows} rows) is not a clinic-server table this version copies"
            ));
        }
    }
    for table in TABLES
        .iter()
        .filter(|t| present.iter().any(|n| n == t.name))
    {
        let pg_columns = pg_columns(pg, table.name).await?;
        if pg_columns.is_empty() {
            let rows = count(sqlite, table.name, None)?;
            if rows == 0 {
                plan.notes.push(format!(
                    "table {}: PostgreSQL has no such table yet; it is empty in SQLite, so nothing is lost",
                    table.name
                ));
            } else {
                refused.push(format!(
                    "table {} ({rows} rows) has no PostgreSQL table yet",
                    table.name
                ));
            }
            continue;
        }
        match plan_table(sqlite, table, &pg_columns, &mut plan.notes)? {
            Ok(t) => plan.tables.push(t),
            Err(mut problems) => refused.append(&mut problems),
        }
    }
    if refused.is_empty() {
        Ok(plan)
    } else {
        Err(MigrateError::Unsupported(refused))
    }
}

/// The columns of one table both schemas have, or what would be lost.
fn plan_table(
    sqlite: &Connection,
    table: &Table,
    pg_columns: &[(String, String, bool)],
    notes: &mut Vec<String>,
) -> Result<Result<TablePlan, Vec<String>>, MigrateError> {
    let mut problems = Vec::new();
    let mut columns = Vec::new();
    for name in sqlite_columns(sqlite, table.name)? {
        let Some((_, data_type, identity)) = pg_columns.iter().find(|c| c.0 == name) else {
            let filled = count(sqlite, table.name, Some(&name))?;
            if filled == 0 {
                notes.push(format!(
                    "column {}.{name}: PostgreSQL has no such column yet; every row's is empty, so nothing is lost",
                    table.name
                ));
            } else {
                problems.push(format!(
                    "column {}.{name} ({filled} rows with a value) has no PostgreSQL column yet",
                    table.name
                ));
            }
            continue;
        };
        let Some(kind) = ColumnKind::from_pg(data_type) else {
            problems.push(format!(
                "column {}.{name} is of PostgreSQL type {data_type}, which migrate-data does not fill",
                table.name
            ));
            continue;
        };
        columns.push(Column {
            name,
            kind,
            identity: *identity,
        });
    }
    let mut key = Vec::new();
    for k in table.key {
        match columns.iter().position(|c| c.name == *k) {
            Some(i) => key.push(i),
            None => problems.push(format!(
                "key column {}.{k} is missing from one of the schemas",
                table.name
            )),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    Ok(Ok(TablePlan {
        name: table.name,
        columns,
        key,
    }))
}

fn sqlite_error(source: rusqlite::Error) -> MigrateError {
    MigrateError::Sqlite { source }
}

/// The SQLite database's own tables.
pub fn sqlite_tables(sqlite: &Connection) -> Result<Vec<String>, MigrateError> {
    let mut stmt = sqlite
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )
        .map_err(sqlite_error)?;
    let names = stmt
        .query_map([], |r| r.get(0))
        .map_err(sqlite_error)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(sqlite_error)?;
    Ok(names)
}

/// A SQLite table's columns, in their order.
pub fn sqlite_columns(sqlite: &Connection, table: &str) -> Result<Vec<String>, MigrateError> {
    let mut stmt = sqlite
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(sqlite_error)?;
    let names = stmt
        .query_map([table], |r| r.get(0))
        .map_err(sqlite_error)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(sqlite_error)?;
    Ok(names)
}

/// Rows of a SQLite table, or those where `column` is not NULL.
fn count(sqlite: &Connection, table: &str, column: Option<&str>) -> Result<i64, MigrateError> {
    let filter = column.map_or(String::new(), |c| {
        format!(" WHERE {} IS NOT NULL", quote(c))
    });
    sqlite
        .query_row(
            &format!("SELECT COUNT(*) FROM {}{filter}", quote(table)),
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_error)
}

/// A PostgreSQL table's columns in the current schema: name, data type
/// and whether it is an identity column; empty when there is no table.
async fn pg_columns(
    pg: &impl GenericClient,
    table: &str,
) -> Result<Vec<(String, String, bool)>, MigrateError> {
    let rows = pg
        .query(
            "SELECT column_name::text, data_type::text, is_identity::text = 'YES'
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .map_err(|e| MigrateError::pg(table, &e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::server::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        conn
    }

    #[test]
    fn every_sqlite_table_is_listed_with_its_primary_key() {
        let conn = latest();
        let tables = sqlite_tables(&conn).unwrap();
        for name in &tables {
            let listed = TABLES.iter().find(|t| t.name == name);
            let listed = listed.unwrap_or_else(|| panic!("table {name} is not in TABLES"));
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
                .unwrap();
            let key: Vec<String> = stmt
                .query_map([name], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(key, listed.key, "the key of {name}");
        }
        for t in TABLES {
            assert!(
                tables.iter().any(|n| n == t.name),
                "{} is not a table",
                t.name
            );
        }
    }
}
