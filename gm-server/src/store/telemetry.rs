//! Telemetry events in the store: raw batches as they arrived, and counts per event name per
//! time bucket, which is what queries read.

use super::{Pool, Store, StoreError};

/// Events of one game server ready to be stored: the packed records and their counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChunk {
    /// Which game server sent them.
    pub server_id: String,
    /// When gm-server received them, Unix milliseconds.
    pub received_at_ms: i64,
    /// Earliest and latest event time, Unix milliseconds.
    pub first_at_ms: i64,
    /// See `first_at_ms`.
    pub last_at_ms: i64,
    /// How many records.
    pub count: i64,
    /// JSON object of the kinds named in the session: number → name.
    pub kinds_json: String,
    /// Packed records (`gm_proto::telemetry::EventRecord`).
    pub records: Vec<u8>,
    /// (event name, bucket start in Unix milliseconds, count).
    pub counts: Vec<(String, i64, i64)>,
    /// The SDK instance and frame numbers the events came in (not stored: the writer marks
    /// them done once stored).
    pub instance: u64,
    /// See `instance`.
    pub frames: Vec<u64>,
}

/// Which counts to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCountQuery {
    /// Only this game server (all when `None`).
    pub server: Option<String>,
    /// Only this event name.
    pub name: Option<String>,
    /// From (inclusive), Unix milliseconds.
    pub from_ms: i64,
    /// To (exclusive), Unix milliseconds.
    pub to_ms: i64,
    /// Width of a result bucket, milliseconds (a multiple of the stored bucket width).
    pub bucket_ms: i64,
    /// Most rows returned.
    pub limit: i64,
}

/// Events of one name in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EventCountRow {
    /// Event name.
    pub name: String,
    /// Start of the bucket, Unix milliseconds.
    pub bucket_ms: i64,
    /// How many events.
    pub count: i64,
}

impl Store {
    /// Stores chunks of events in one transaction.
    pub async fn append_events(&self, chunks: &[EventChunk]) -> Result<(), StoreError> {
        let _timer = self.metrics.timer(super::StoreOp::EventsWrite);
        if chunks.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for c in chunks {
                sqlx::query(concat!(
                    "INSERT INTO telemetry_event_batches (server_id, received_at_ms, first_at_ms, ",
                    "last_at_ms, event_count, kinds, records) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(&c.server_id)
                .bind(c.received_at_ms)
                .bind(c.first_at_ms)
                .bind(c.last_at_ms)
                .bind(c.count)
                .bind(&c.kinds_json)
                .bind(&c.records)
                .execute(&mut *tx)
                .await?;
                if let Some(last) = c.frames.iter().max() {
                    sqlx::query(concat!(
                        "INSERT INTO telemetry_event_cursors (server_id, instance, last_seq) ",
                        "VALUES ($1, $2, $3) ON CONFLICT (server_id, instance) DO UPDATE SET last_seq = ",
                        "CASE WHEN excluded.last_seq > telemetry_event_cursors.last_seq ",
                        "THEN excluded.last_seq ELSE telemetry_event_cursors.last_seq END"
                    ))
                    .bind(&c.server_id)
                    .bind(c.instance as i64)
                    .bind(*last as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                for (name, bucket, count) in &c.counts {
                    sqlx::query(concat!(
                        "INSERT INTO telemetry_event_counts (server_id, name, bucket_ms, event_count) ",
                        "VALUES ($1, $2, $3, $4) ON CONFLICT (server_id, name, bucket_ms) ",
                        "DO UPDATE SET event_count = telemetry_event_counts.event_count + excluded.event_count"
                    ))
                    .bind(&c.server_id)
                    .bind(name)
                    .bind(bucket)
                    .bind(count)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Counts per event name per bucket, oldest first.
    pub async fn event_counts(
        &self,
        q: &EventCountQuery,
    ) -> Result<Vec<EventCountRow>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, pool => {
            let mut b = sqlx::QueryBuilder::new("SELECT name, (bucket_ms / ");
            b.push_bind(q.bucket_ms)
                .push(") * ")
                .push_bind(q.bucket_ms)
                .push(" AS b, CAST(SUM(event_count) AS BIGINT) FROM telemetry_event_counts WHERE bucket_ms >= ")
                .push_bind(q.from_ms)
                .push(" AND bucket_ms < ")
                .push_bind(q.to_ms);
            if let Some(s) = &q.server {
                b.push(" AND server_id = ").push_bind(s);
            }
            if let Some(n) = &q.name {
                b.push(" AND name = ").push_bind(n);
            }
            b.push(" GROUP BY name, b ORDER BY b, name LIMIT ").push_bind(q.limit);
            b.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(name, bucket_ms, count)| EventCountRow {
                name,
                bucket_ms,
                count,
            })
            .collect())
    }

    /// The last event frame stored for this SDK instance of `server_id`.
    pub async fn event_cursor(
        &self,
        server_id: &str,
        instance: u64,
    ) -> Result<Option<u64>, StoreError> {
        let sql =
            "SELECT last_seq FROM telemetry_event_cursors WHERE server_id = $1 AND instance = $2";
        let last: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(server_id)
                .bind(instance as i64)
                .fetch_optional(pool)
                .await?
        });
        Ok(last.map(|l| l as u64))
    }

    /// Deletes events received before `before_ms`; returns how many batches went.
    pub async fn prune_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let n = on_pool!(self, pool => {
            let n = sqlx::query("DELETE FROM telemetry_event_batches WHERE received_at_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM telemetry_event_counts WHERE bucket_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?;
            n
        });
        Ok(n)
    }

    /// Events stored (for tests and the dashboard).
    pub async fn stored_event_count(&self) -> Result<i64, StoreError> {
        let n: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT CAST(SUM(event_count) AS BIGINT) FROM telemetry_event_batches")
                .fetch_one(pool)
                .await?
        });
        Ok(n.unwrap_or(0))
    }
}
