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
        let params = entry.params.to_string();
        let mut last_hash = self.audit_lock.lock().await;
        // SQLite fast path: one statement that inserts only if the chain still ends where this
        // process last left it (another process, such as the CLI, may have appended since).
        if let (Pool::Sqlite(pool), Some(prev)) = (&self.pool, last_hash.as_ref()) {
            let hash = entry_hash(
                prev,
                now_ms,
                &entry.actor,
                &entry.actor_role,
                entry.via.as_str(),
                &entry.source,
                &entry.action,
                &entry.target,
                &params,
                &entry.result,
            );
            let sql = concat!(
                "INSERT INTO audit_log (at_ms, actor, actor_role, via, source, action, target, ",
                "params, result, prev_hash, hash) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 ",
                "WHERE COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), $12) = $10 ",
                "RETURNING ",
                audit_columns!()
            );
            let inserted = sqlx::query_as::<_, AuditRecord>(sql)
                .bind(now_ms)
                .bind(&entry.actor)
                .bind(&entry.actor_role)
                .bind(entry.via.as_str())
                .bind(&entry.source)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&params)
                .bind(&entry.result)
                .bind(prev)
                .bind(&hash)
                .bind(GENESIS)
                .fetch_optional(pool)
                .await?;
            if let Some(record) = inserted {
                *last_hash = Some(record.hash.clone());
                return Ok(record);
            }
        }
        let last = "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1";
        let insert = concat!(
            "INSERT INTO audit_log (at_ms, actor, actor_role, via, source, action, target, ",
            "params, result, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ",
            "RETURNING ",
            audit_columns!()
        );
        let record = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if matches!(self.pool, Pool::Postgres(_)) {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(AUDIT_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
            }
            let prev: Option<String> = sqlx::query_scalar(last).fetch_optional(&mut *tx).await?;
            let prev = prev.unwrap_or_else(|| GENESIS.to_string());
            let hash = entry_hash(
                &prev,
                now_ms,
                &entry.actor,
                &entry.actor_role,
                entry.via.as_str(),
                &entry.source,
                &entry.action,
                &entry.target,
                &params,
                &entry.result,
            );
            let record = sqlx::query_as::<_, AuditRecord>(insert)
                .bind(now_ms)
                .bind(&entry.actor)
                .bind(&entry.actor_role)
                .bind(entry.via.as_str())
                .bind(&entry.source)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&params)
                .bind(&entry.result)
                .bind(&prev)
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            record
        });
        *last_hash = Some(record.hash.clone());
        Ok(record)
    }

    /// Entries matching `filter`, newest first, with id below `before` (keyset pagination).
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
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
