//! The store: embedded SQLite by default, PostgreSQL when one machine is outgrown.
//!
//! Both backends run the same SQL (written in the subset both accept, with `$n` placeholders)
//! through [`Store`]'s methods; the migrations differ only where the dialects do and live in
//! `migrations/sqlite` and `migrations/postgres`.

/// Runs the same query code against whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

mod admin;
mod audit;
mod inline;
mod metrics;
mod telemetry;

pub use admin::{AdminRecord, AuditFilter, SessionRecord, TokenRecord};
pub use metrics::{StoreMetrics, StoreOp};
pub use telemetry::{EventChunk, EventCountQuery, EventCountRow};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How much of the SQLite file each pooled connection maps into memory (address space,
/// shared with the OS page cache; not memory of its own).
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// What a SQLite WAL is cut back to when it restarts, should a long reader have let it grow
/// past that; below it, the file is reused in place (rewriting cached pages is cheaper than
/// extending a file).
const SQLITE_WAL_LIMIT_BYTES: u64 = 64 << 20;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique name exists.
    #[error("{what} {name:?} already exists")]
    Duplicate {
        /// Kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The database URL is not one gm-server understands.
    #[error("unsupported database url {0:?}: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database refused or failed the query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A game-server key as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRecord {
    /// Row id.
    pub id: i64,
    /// Operator-chosen name, for example `eu-1`.
    pub name: String,
    /// First characters of the secret.
    pub hint: String,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
    /// Last successful handshake with this key.
    pub last_used_at_ms: Option<i64>,
    /// The game-server ids that may use it, as stored (see [`crate::keys::ServerIds`]);
    /// `None` for any.
    pub server_ids: Option<String>,
}

impl KeyRecord {
    /// Whether the key's binding admits a game server with `server_id` (revocation aside).
    /// A binding that does not parse (edited by hand) admits no id rather than every id.
    pub fn admits(&self, server_id: &str) -> bool {
        self.server_ids.as_deref().is_none_or(|stored| {
            crate::keys::ServerIds::parse(stored).is_ok_and(|ids| ids.allows(server_id))
        })
    }
}

/// A game server that completed a handshake.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GameServerRecord {
    /// Id from its hello.
    pub server_id: String,
    /// Display name.
    pub name: String,
    /// Region label.
    pub region: String,
    /// Game build.
    pub game_build: String,
    /// SDK version.
    pub sdk_version: String,
    /// Name of the key it authenticated with.
    pub key_name: String,
    /// Its address as last seen.
    pub remote_addr: String,
    /// First handshake, Unix milliseconds.
    pub first_seen_ms: i64,
    /// Latest handshake, Unix milliseconds.
    pub last_seen_ms: i64,
}

/// Handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// Serializes audit appends within this process (PostgreSQL also takes an advisory lock,
    /// for several gm-server instances).
    audit_tail: std::sync::Arc<tokio::sync::Mutex<AuditTail>>,
    /// SQLite files: connections for the per-request hot paths, run on the calling thread.
    inline: Option<std::sync::Arc<inline::InlineSqlite>>,
    metrics: std::sync::Arc<StoreMetrics>,
}

/// What the audit appender keeps between appends.
#[derive(Debug, Default)]
struct AuditTail {
    /// The last hash this process appended.
    last_hash: Option<String>,
    /// Inline appends since the last background WAL checkpoint.
    since_checkpoint: u32,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! key_columns {
    () => {
        "id, name, hint, created_at_ms, revoked_at_ms, last_used_at_ms, server_ids"
    };
}

impl Store {
    /// Opens the store named by `url`, or the SQLite file `gm.db` in `data_dir` when `url` is
    /// `None`, and applies pending migrations.
    pub async fn open(
        url: Option<&str>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let store = match url {
            None => Self::open_sqlite(&data_dir.join("gm.db"), max_connections).await?,
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(u)
                    .await?;
                Store::from_pool(Pool::Postgres(pool))
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(u)?;
                Self::sqlite_pool(opts, max_connections).await?
            }
            Some(u) => return Err(StoreError::UnsupportedUrl(u.to_string())),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (creating if needed) a SQLite file in WAL mode.
    pub async fn open_sqlite(path: &Path, max_connections: u32) -> Result<Store, StoreError> {
        let opts = SqliteConnectOptions::new().filename(path);
        Self::sqlite_pool(opts, max_connections).await
    }

    async fn sqlite_pool(
        opts: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        // WAL with synchronous=NORMAL survives a killed process (not a power cut) and lets
        // readers proceed during writes.
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Reads through a memory map skip a copy per page from the OS page cache, which
            // showed in deep audit pages. (The inline connections do without: see there.)
            .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
            .pragma("journal_size_limit", SQLITE_WAL_LIMIT_BYTES.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // A ping before every acquire is a round trip to the connection's worker thread
            // that can only fail if the file vanished, which the query itself reports.
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await?;
        let mut store = Store::from_pool(Pool::Sqlite(pool));
        // An in-memory database is private to its connection: no second connection sees it.
        let file = opts.get_filename();
        if file != Path::new(":memory:") && !file.to_string_lossy().contains("mode=memory") {
            store.inline = Some(std::sync::Arc::new(inline::InlineSqlite::new(file)));
        }
        Ok(store)
    }

    fn from_pool(pool: Pool) -> Store {
        Store {
            pool,
            audit_tail: Default::default(),
            inline: None,
            metrics: Default::default(),
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Latency of the timed operations.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection, waiting for queries in progress.
    pub async fn close(&self) {
        // Appends in progress finish first.
        let _tail = self.audit_tail.lock().await;
        if let Some(inline) = &self.inline {
            inline.close();
        }
        on_pool!(self, pool => pool.close().await);
    }

    /// Stores a new key under `name`, usable by any game-server id.
    pub async fn create_key(
        &self,
        name: &str,
        key_hash: &str,
        hint: &str,
        now_ms: i64,
    ) -> Result<KeyRecord, StoreError> {
        self.create_key_for(name, key_hash, hint, None, now_ms)
            .await
    }

    /// Stores a new key under `name`, usable only by `server_ids` (any id when `None`).
    pub async fn create_key_for(
        &self,
        name: &str,
        key_hash: &str,
        hint: &str,
        server_ids: Option<&crate::keys::ServerIds>,
        now_ms: i64,
    ) -> Result<KeyRecord, StoreError> {
        let sql = concat!(
            "INSERT INTO game_server_keys (name, key_hash, hint, created_at_ms, server_ids) ",
            "VALUES ($1, $2, $3, $4, $5) RETURNING ",
            key_columns!()
        );
        let server_ids = server_ids.map(ToString::to_string);
        let result = on_pool!(self, pool => sqlx::query_as::<_, KeyRecord>(sql)
            .bind(name)
            .bind(key_hash)
            .bind(hint)
            .bind(now_ms)
            .bind(&server_ids)
            .fetch_one(pool)
            .await);
        result.map_err(|e| duplicate(e, "key", name))
    }

    /// Binds the active key `name` to `server_ids` (any id when `None`). Running gm-servers
    /// end the sessions it no longer admits on their next key check (`quic.roster_refresh_ms`).
    /// Returns false when no unrevoked key has that name.
    pub async fn bind_key(
        &self,
        name: &str,
        server_ids: Option<&crate::keys::ServerIds>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE game_server_keys SET server_ids = $1 \
                   WHERE name = $2 AND revoked_at_ms IS NULL";
        let server_ids = server_ids.map(ToString::to_string);
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(&server_ids)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Every key, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM game_server_keys ORDER BY id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, KeyRecord>(sql).fetch_all(pool).await?))
    }

    /// Marks the key `name` revoked. Returns false when no unrevoked key has that name.
    pub async fn revoke_key(&self, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE game_server_keys SET revoked_at_ms = $1 \
                   WHERE name = $2 AND revoked_at_ms IS NULL";
        let done = on_pool!(self, pool => sqlx::query(sql)
            .bind(now_ms)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// The key whose hash is `key_hash`, revoked or not.
    pub async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM game_server_keys WHERE key_hash = $1"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, KeyRecord>(sql)
            .bind(key_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// Records a completed handshake: the key's last use and the game server's details.
    pub async fn record_handshake(
        &self,
        key_id: i64,
        server: &GameServerRecord,
    ) -> Result<(), StoreError> {
        let touch = "UPDATE game_server_keys SET last_used_at_ms = $1 WHERE id = $2";
        let upsert = "INSERT INTO game_servers (server_id, name, region, game_build, \
                      sdk_version, key_name, remote_addr, first_seen_ms, last_seen_ms) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                      ON CONFLICT (server_id) DO UPDATE SET name = excluded.name, \
                      region = excluded.region, game_build = excluded.game_build, \
                      sdk_version = excluded.sdk_version, key_name = excluded.key_name, \
                      remote_addr = excluded.remote_addr, last_seen_ms = excluded.last_seen_ms";
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(touch)
                .bind(server.last_seen_ms)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(upsert)
                .bind(&server.server_id)
                .bind(&server.name)
                .bind(&server.region)
                .bind(&server.game_build)
                .bind(&server.sdk_version)
                .bind(&server.key_name)
                .bind(&server.remote_addr)
                .bind(server.last_seen_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every game server ever seen, by id.
    pub async fn list_game_servers(&self) -> Result<Vec<GameServerRecord>, StoreError> {
        let sql = "SELECT server_id, name, region, game_build, sdk_version, key_name, \
                   remote_addr, first_seen_ms, last_seen_ms FROM game_servers ORDER BY server_id";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, GameServerRecord>(sql)
            .fetch_all(pool)
            .await?),
        )
    }
}

/// Maps a unique violation to [`StoreError::Duplicate`].
fn duplicate(e: sqlx::Error, what: &'static str, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate {
            what,
            name: name.to_string(),
        },
        _ => e.into(),
    }
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
