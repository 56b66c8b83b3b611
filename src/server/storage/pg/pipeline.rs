//! Writes of one transaction queued while its work is decided, then sent
//! to PostgreSQL together, so that they cost one round trip instead of one
//! each.
//!
//! tokio-postgres sends a query when its future is first polled and reads
//! the answers in order, so polling every query's future at once puts
//! them all on the wire before the first answer comes back. They still
//! run one after the other, in the order queued. When one fails, the
//! transaction is aborted and the ones after it fail too; the error
//! returned is the first in queue order, the real one.

use deadpool_postgres::GenericClient;
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;

/// A parameter owned by its queued statement.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// Boxes `value` as a queued statement's parameter.
pub(super) fn param<T: ToSql + Sync + Send + 'static>(value: T) -> Param {
    Box::new(value)
}

/// One queued statement.
pub(super) struct Write {
    /// Its SQL, prepared once per pooled connection.
    sql: &'static str,
    /// Its parameters, in order.
    params: Vec<Param>,
    /// Whether it returns one row whose first column (a `bigint`) the
    /// caller needs, such as a new row's id.
    returns_id: bool,
}

impl Write {
    /// A statement whose rows the caller does not need.
    pub(super) fn exec(sql: &'static str, params: Vec<Param>) -> Self {
        Self {
            sql,
            params,
            returns_id: false,
        }
    }

    /// A statement returning exactly one row with a `bigint` id first.
    pub(super) fn returning_id(sql: &'static str, params: Vec<Param>) -> Self {
        Self {
            sql,
            params,
            returns_id: true,
        }
    }
}

/// Sends `writes` on `client` as one pipeline and waits for every answer;
/// one entry per write, in order: the id for a [`Write::returning_id`],
/// `None` for the others.
pub(super) async fn send(
    client: &impl GenericClient,
    writes: &[Write],
) -> Result<Vec<Option<i64>>, tokio_postgres::Error> {
    try_join_all(writes.iter().map(|w| run(client, w))).await
}

async fn run(client: &impl GenericClient, w: &Write) -> Result<Option<i64>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(w.sql).await?;
    let params: Vec<&(dyn ToSql + Sync)> = w
        .params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    if w.returns_id {
        let row = client.query_one(&stmt, &params).await?;
        Ok(Some(row.try_get(0)?))
    } else {
        client.execute(&stmt, &params).await?;
        Ok(None)
    }
}
