//! The audit log table: appends that extend the hash chain, filtered listing, verification.

use super::{AuditFilter, Pool, Store, StoreError};
use crate::audit::{AuditRecord, GENESIS, NewAuditEntry, VerifyReport, entry_hash, verify_run};

macro_rules! audit_columns {
    () => {
        "id, at_ms, actor, actor_role, via, source, action, target, params, result, prev_hash, hash"
    };
}

/// Arbitrary key of the PostgreSQL advisory lock that serializes appends across instances.
const AUDIT_LOCK_KEY: i64 = 0x0067_6d61_7564_6974;

impl Store {
    /// Appends an entry, extending the hash chain, and returns it as stored.
    pub async fn append_audit(
        &self,
        entry: &NewAuditEntry,
        now_ms: i64,
    ) -> Result<AuditRecord, StoreError> {
        let _timer = self.metrics.timer(super::StoreOp::AuditAppend);
        let params = entry.params.to_string();
        let mut tail = self.audit_tail.lock().await;
        let tail = &mut *tail;
        let inline = self
            .inline
            .as_ref()
            .and_then(|inline| append_inline(inline, tail, entry, &params, now_ms));
        let record = match (inline, &self.pool) {
            (Some(record), Pool::Sqlite(pool)) => {
                // Counts on past the mark while a checkpoint runs; the checkpoint resets it.
                tail.since_checkpoint = tail.since_checkpoint.saturating_add(1);
                if tail.since_checkpoint == super::inline::CHECKPOINT_EVERY {
                    tokio::spawn(checkpoint_wal(pool.clone(), self.audit_tail.clone()));
                }
                record
            }
            _ => append_pooled(&self.pool, entry, &params, now_ms).await?,
        };
        tail.last_hash = Some(record.hash.clone());
        Ok(record)
    }

    /// Entries matching `filter`, newest first, with id below `before` (keyset pagination).
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let _timer = self.metrics.timer(super::StoreOp::AuditList);
        let records = on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_log WHERE 1 = 1"
            ));
            if let Some(before) = before {
                q.push(" AND id < ").push_bind(before);
            }
            for (column, value) in [
                ("actor", &filter.actor),
                ("action", &filter.action),
                ("via", &filter.via),
                ("target", &filter.target),
            ] {
                if let Some(v) = value {
                    q.push(" AND ").push(column).push(" = ").push_bind(v.clone());
                }
            }
            if let Some(since) = filter.since_ms {
                q.push(" AND at_ms >= ").push_bind(since);
            }
            if let Some(until) = filter.until_ms {
                q.push(" AND at_ms < ").push_bind(until);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            q.build_query_as::<AuditRecord>().fetch_all(pool).await?
        });
        Ok(records)
    }

    /// Walks the whole chain in id order and reports the first broken link.
    pub async fn verify_audit(&self) -> Result<VerifyReport, StoreError> {
        const BATCH: i64 = 5_000;
        let sql = concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let mut prev = GENESIS.to_string();
        let mut after = 0i64;
        let mut checked = 0u64;
        loop {
            let batch = on_pool!(self, pool => sqlx::query_as::<_, AuditRecord>(sql)
                .bind(after)
                .bind(BATCH)
                .fetch_all(pool)
                .await?);
            let Some(last) = batch.last() else {
                return Ok(VerifyReport {
                    checked,
                    first_broken: None,
                });
            };
            after = last.id;
            if let Some(broken) = verify_run(&mut prev, &batch) {
                checked += batch.iter().take_while(|r| r.id < broken.id).count() as u64;
                return Ok(VerifyReport {
                    checked,
                    first_broken: Some(broken),
                });
            }
            checked += batch.len() as u64;
        }
    }
}

/// Copies the WAL back into the database file in the background, in a way that lets the next
/// inline append start the WAL from its beginning again.
///
/// SQLite restarts the WAL only when a write begins with every frame already copied back and
/// no reader inside the WAL. A checkpoint that runs beside steady appends always ends a few
/// frames behind them, so without the second step below the WAL grows for as long as appends
/// keep coming (about 22 KiB each), and every write extends the file instead of overwriting
/// cached pages.
async fn checkpoint_wal(
    pool: sqlx::SqlitePool,
    tail: std::sync::Arc<tokio::sync::Mutex<super::AuditTail>>,
) {
    async fn checkpoint(conn: &mut sqlx::SqliteConnection) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(conn)
            .await
        {
            tracing::warn!("WAL checkpoint failed: {e}");
        }
    }
    // The connection first: appends must not wait for the pool while they are held below.
    match pool.acquire().await {
        Ok(mut conn) => {
            // The bulk of the copy and both fsyncs, beside appends.
            checkpoint(&mut conn).await;
            // Then the few frames appended meanwhile, with appends held: a few pages and an
            // fsync, once every `CHECKPOINT_EVERY` appends. PASSIVE never waits for readers;
            // if one is inside the WAL at the next append, the restart waits for the next
            // round.
            let mut tail = tail.lock().await;
            checkpoint(&mut conn).await;
            tail.since_checkpoint = 0;
        }
        // Counted again from zero, so the next round tries again.
        Err(e) => {
            tracing::warn!("WAL checkpoint skipped: {e}");
            tail.lock().await.since_checkpoint = 0;
        }
    }
}

const INSERT_AUDIT: &str = concat!(
    "INSERT INTO audit_log (at_ms, actor, actor_role, via, source, action, target, ",
    "params, result, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ",
    "RETURNING ",
    audit_columns!()
);

const LAST_AUDIT_HASH: &str = "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1";

fn hash_entry(prev: &str, entry: &NewAuditEntry, params: &str, now_ms: i64) -> String {
    entry_hash(
        prev,
        now_ms,
        &entry.actor,
        &entry.actor_role,
        entry.via.as_str(),
        &entry.source,
        &entry.action,
        &entry.target,
        params,
        &entry.result,
    )
}

/// Binds an entry's columns in `INSERT_AUDIT` order, from `at_ms` to `hash`.
macro_rules! bind_entry {
    ($query:expr, $entry:expr, $params:expr, $now_ms:expr, $prev:expr, $hash:expr) => {
        $query
            .bind($now_ms)
            .bind(&$entry.actor)
            .bind(&$entry.actor_role)
            .bind($entry.via.as_str())
            .bind(&$entry.source)
            .bind(&$entry.action)
            .bind(&$entry.target)
            .bind($params)
            .bind(&$entry.result)
            .bind($prev)
            .bind($hash)
    };
}

/// The SQLite fast path, on this thread: one statement that inserts only if the chain still
/// ends where this process last left it. `None` sends the caller to the pool: first append,
/// another process (such as the CLI) appended since, SQLite was busy, or it failed.
fn append_inline(
    inline: &super::inline::InlineSqlite,
    tail: &super::AuditTail,
    entry: &NewAuditEntry,
    params: &str,
    now_ms: i64,
) -> Option<AuditRecord> {
    let prev = tail.last_hash.as_deref()?;
    let hash = hash_entry(prev, entry, params, now_ms);
    let sql = concat!(
        "INSERT INTO audit_log (at_ms, actor, actor_role, via, source, action, target, ",
        "params, result, prev_hash, hash) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 ",
        "WHERE COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), $12) = $10 ",
        "RETURNING ",
        audit_columns!()
    );
    inline
        .write(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query(rusqlite::params![
                now_ms,
                entry.actor,
                entry.actor_role,
                entry.via.as_str(),
                entry.source,
                entry.action,
                entry.target,
                params,
                entry.result,
                prev,
                hash,
                GENESIS,
            ])?;
            let record = rows.next()?.map(super::inline::audit_record).transpose()?;
            // Step to the end: in autocommit mode that is where SQLite commits, and where a
            // failed commit (disk full, I/O error) is reported. Dropping the rows instead
            // would reset the statement and lose that error.
            while rows.next()?.is_some() {}
            Ok(record)
        })
        .flatten()
}

/// Reads the chain's end inside the open transaction `$tx`, appends after it and commits.
macro_rules! append_in_tx {
    ($tx:ident, $entry:expr, $params:expr, $now_ms:expr) => {{
        let prev: Option<String> = sqlx::query_scalar(LAST_AUDIT_HASH)
            .fetch_optional(&mut *$tx)
            .await?;
        let prev = prev.unwrap_or_else(|| GENESIS.to_string());
        let hash = hash_entry(&prev, $entry, $params, $now_ms);
        let record = bind_entry!(
            sqlx::query_as::<_, AuditRecord>(INSERT_AUDIT),
            $entry,
            $params,
            $now_ms,
            &prev,
            &hash
        )
        .fetch_one(&mut *$tx)
        .await?;
        $tx.commit().await?;
        record
    }};
}

/// Appends through the pool, reading the chain's end inside the transaction.
async fn append_pooled(
    pool: &Pool,
    entry: &NewAuditEntry,
    params: &str,
    now_ms: i64,
) -> Result<AuditRecord, StoreError> {
    Ok(match pool {
        Pool::Sqlite(pool) => {
            // `BEGIN IMMEDIATE`, so no other process can append between the read and the
            // write.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            append_in_tx!(tx, entry, params, now_ms)
        }
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            // Serializes appends across gm-server instances sharing the database.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
            append_in_tx!(tx, entry, params, now_ms)
        }
    })
}
