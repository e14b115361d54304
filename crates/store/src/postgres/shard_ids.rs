//! Ids on a shard: every sequence of a shard's schema counts in steps of core's `ID_STEP` from its shard's number,
//! so an id (of an organization, user, conversation, message, file, …) or a cursor taken on one shard is
//! never taken on another, and an organization's rows can move between shards keeping their ids.

use parley_core::store::{ID_BASE, ID_STEP, StoreResult};

use super::sql::{backend, rows};
use super::writer::Db;

/// How far a sequence jumps when it is first laid out, past values other nodes may be handing out from it
/// at that moment.
const MARGIN: i64 = ID_STEP * ID_STEP;

/// Lays out every sequence of the schema for shard `number` (below `ID_STEP`): each counts by `ID_STEP`
/// from at least `ID_BASE`, and its next value is `number` modulo `ID_STEP`. A sequence laid out already is
/// left as it is; the caller holds the schema's turn, so nodes starting together lay out each sequence
/// once.
pub(crate) async fn lay_out(db: &Db, number: i64) -> StoreResult<()> {
    let sequences = rows(
        db,
        "SELECT sequencename, increment_by, coalesce(last_value, 0) FROM pg_sequences
         WHERE schemaname = current_schema()",
        &[],
    )
    .await?;
    for sequence in sequences {
        let name: String = sequence.try_get(0).map_err(backend)?;
        let step: i64 = sequence.try_get(1).map_err(backend)?;
        let last: i64 = sequence.try_get(2).map_err(backend)?;
        if step == ID_STEP && last.rem_euclid(ID_STEP) == number && last >= ID_BASE {
            continue;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        db.batch_execute(&format!("ALTER SEQUENCE {quoted} INCREMENT BY {ID_STEP}"))
            .await
            .map_err(backend)?;
        // `nextval` reads the newest value handed out, whoever took it; the next is past it by the margin.
        db.execute(
            "SELECT setval($1::text::regclass,
                           greatest(nextval($1::text::regclass) / $2 + $3 / $2, $5 / $2) * $2 + $4, false)",
            &[&quoted, &ID_STEP, &MARGIN, &number, &ID_BASE],
        )
        .await
        .map_err(backend)?;
        tracing::info!(sequence = %name, shard = number, "laid out a sequence for its shard");
    }
    Ok(())
}

/// The SQL condition that `column` (an id or a cursor of this schema) was taken here, on shard `shard`
/// (`None`: a store that is no shard, where every one was). Rows a move copied in carry another shard's, and
/// what walks this shard's own ids in order (the writer's check of the log against the bus, the notifier,
/// the search indexer) passes them by: their own shard walked them. The first shard's ids from before it
/// was a shard are its own.
pub(crate) fn made_here(column: &str, shard: Option<i64>) -> String {
    match shard {
        None => "TRUE".to_owned(),
        Some(0) => format!("({column} < {ID_BASE} OR {column} % {ID_STEP} = 0)"),
        Some(n) => format!("({column} >= {ID_BASE} AND {column} % {ID_STEP} = {n})"),
    }
}
