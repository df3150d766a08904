//! One store test suite, run against embedded SQLite and against a real PostgreSQL.
//!
//! PostgreSQL comes from `GM_TEST_DATABASE_URL` (an admin URL; each test creates its own
//! database). `scripts/test.sh` starts a throw-away cluster and sets it, together with
//! `GM_REQUIRE_POSTGRES=1` so that a missing PostgreSQL fails the run instead of skipping.

mod common;

use gm_server::store::{Backend, GameServerRecord, StoreError};
use gm_server::{Store, keys};

struct TestStore {
    store: Store,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Option<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path(), 4).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    Some(TestStore { store, _dir: dir })
}

/// A fresh database in the test cluster, or `None` when PostgreSQL is not configured (and
/// not required).
async fn postgres() -> Option<TestStore> {
    let admin_url = match std::env::var("GM_TEST_DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            assert!(
                std::env::var("GM_REQUIRE_POSTGRES").is_err(),
                "GM_REQUIRE_POSTGRES is set but GM_TEST_DATABASE_URL is not"
            );
            eprintln!("SKIPPED: PostgreSQL not configured (run scripts/test.sh)");
            return None;
        }
    };
    let url = create_database(&admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path(), 4).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    Some(TestStore { store, _dir: dir })
}

/// Creates an empty database for one test and returns its URL.
pub async fn create_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("gm_test_{}", hex_id());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn hex_id() -> String {
    keys::generate().hash[..16].to_string()
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                if let Some(t) = super::sqlite().await { super::$case(&t.store).await }
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                if let Some(t) = super::postgres().await { super::$case(&t.store).await }
            })*
        }
    };
}

store_suite!(
    keys_are_created_listed_found_and_revoked,
    keys_are_bound_to_server_ids_and_unbound,
    key_names_are_unique,
    handshakes_are_recorded_and_updated,
    migrations_are_idempotent,
    audit_entries_chain_and_verify,
    admins_sessions_tokens_and_links,
);

async fn keys_are_bound_to_server_ids_and_unbound(store: &Store) {
    let k = keys::generate();
    let eu = keys::ServerIds::parse("eu-*, test-1").unwrap();
    let created = store
        .create_key_for("eu", &k.hash, &k.hint, Some(&eu), 1000)
        .await
        .unwrap();
    assert_eq!(created.server_ids.as_deref(), Some("eu-*,test-1"));
    assert_eq!(store.find_key(&k.hash).await.unwrap(), Some(created));
    let any = keys::generate();
    let unbound = store
        .create_key("any", &any.hash, &any.hint, 1001)
        .await
        .unwrap();
    assert_eq!(unbound.server_ids, None);

    let one = keys::ServerIds::parse("eu-1").unwrap();
    assert!(store.bind_key("any", Some(&one)).await.unwrap());
    let found = store.find_key(&any.hash).await.unwrap().unwrap();
    assert_eq!(found.server_ids.as_deref(), Some("eu-1"));
    assert!(store.bind_key("eu", None).await.unwrap());
    let found = store.find_key(&k.hash).await.unwrap().unwrap();
    assert_eq!(found.server_ids, None);

    assert!(!store.bind_key("missing", None).await.unwrap());
    assert!(store.revoke_key("any", 2000).await.unwrap());
    assert!(
        !store.bind_key("any", None).await.unwrap(),
        "a revoked key is not rebound"
    );
    let found = store.find_key(&any.hash).await.unwrap().unwrap();
    assert_eq!(found.server_ids.as_deref(), Some("eu-1"));
}

async fn keys_are_created_listed_found_and_revoked(store: &Store) {
    store.ping().await.unwrap();
    let k = keys::generate();
    let created = store
        .create_key("eu-1", &k.hash, &k.hint, 1000)
        .await
        .unwrap();
    assert_eq!(
        (created.name.as_str(), created.created_at_ms),
        ("eu-1", 1000)
    );
    assert_eq!(created.revoked_at_ms, None);
    let other = keys::generate();
    store
        .create_key("us-1", &other.hash, &other.hint, 1001)
        .await
        .unwrap();

    let listed = store.list_keys().await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["eu-1", "us-1"]
    );
    assert_eq!(
        store.find_key(&k.hash).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.find_key(&keys::hash("nope")).await.unwrap(), None);

    assert!(store.revoke_key("eu-1", 2000).await.unwrap());
    assert!(
        !store.revoke_key("eu-1", 3000).await.unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_key("missing", 3000).await.unwrap());
    let found = store.find_key(&k.hash).await.unwrap().unwrap();
    assert_eq!(found.revoked_at_ms, Some(2000));
    let untouched = store.find_key(&other.hash).await.unwrap().unwrap();
    assert_eq!(untouched.revoked_at_ms, None);
}

async fn key_names_are_unique(store: &Store) {
    let a = keys::generate();
    let b = keys::generate();
    store.create_key("eu-1", &a.hash, &a.hint, 1).await.unwrap();
    let err = store
        .create_key("eu-1", &b.hash, &b.hint, 2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate { what: "key", .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "key \"eu-1\" already exists");
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
    // Once revoked, the name can be given to a new key (rotation); the old row stays.
    assert!(store.revoke_key("eu-1", 3).await.unwrap());
    store.create_key("eu-1", &b.hash, &b.hint, 4).await.unwrap();
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed.iter().filter(|k| k.revoked_at_ms.is_none()).count(),
        1
    );
    assert!(
        store
            .find_key(&b.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_none()
    );
}

async fn handshakes_are_recorded_and_updated(store: &Store) {
    let k = keys::generate();
    let key = store.create_key("eu-1", &k.hash, &k.hint, 1).await.unwrap();
    let mut record = GameServerRecord {
        server_id: "eu-1-a".into(),
        name: "EU 1 A".into(),
        region: "eu".into(),
        game_build: "1.0".into(),
        sdk_version: "0.1.0".into(),
        key_name: "eu-1".into(),
        remote_addr: "127.0.0.1:5000".into(),
        first_seen_ms: 100,
        last_seen_ms: 100,
    };
    store.record_handshake(key.id, &record).await.unwrap();
    record.game_build = "1.1".into();
    record.first_seen_ms = 200;
    record.last_seen_ms = 200;
    store.record_handshake(key.id, &record).await.unwrap();
    let servers = store.list_game_servers().await.unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].game_build, "1.1");
    assert_eq!(
        (servers[0].first_seen_ms, servers[0].last_seen_ms),
        (100, 200)
    );
    let key = store.find_key(&k.hash).await.unwrap().unwrap();
    assert_eq!(key.last_used_at_ms, Some(200));
}

async fn migrations_are_idempotent(store: &Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.list_keys().await.unwrap().is_empty());
}

/// The whole QUIC path with PostgreSQL as the store.
#[tokio::test]
async fn postgres_backed_server_serves_game_servers() {
    let Ok(admin_url) = std::env::var("GM_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("GM_REQUIRE_POSTGRES").is_err(),
            "PostgreSQL required"
        );
        eprintln!("SKIPPED: PostgreSQL not configured (run scripts/test.sh)");
        return;
    };
    let url = create_database(&admin_url).await;
    let dir = tempfile::tempdir().unwrap();
    let t = common::start_server_with(dir, |c| c.database.url = Some(url)).await;
    assert_eq!(t.server.store().backend(), Backend::Postgres);
    let key = t.create_key("pg-fleet").await;
    let client = t.client(&key, "pg-1").spawn().unwrap();
    common::wait_connected(&client).await;
    let reply = t
        .server
        .gateway()
        .send_command("pg-1", "status", vec![], "tester")
        .await
        .unwrap();
    assert_eq!(reply.field("server_id"), Some("pg-1"));
    let seen = common::recorded_game_servers(t.server.store(), 1).await;
    assert_eq!(seen[0].key_name, "pg-fleet");
    client.shutdown();
    t.server.shutdown().await;
}

async fn audit_entries_chain_and_verify(store: &Store) {
    use gm_server::audit::{GENESIS, NewAuditEntry, Via};
    use gm_server::store::AuditFilter;
    let mut tasks = Vec::new();
    // Concurrent appends still form one chain.
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let e = NewAuditEntry::new(format!("actor{}", i % 3), Via::Api, "test.action")
                .target(format!("t{i}"))
                .params(serde_json::json!({ "i": i }));
            store.append_audit(&e, 1000 + i).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = store.verify_audit().await.unwrap();
    assert_eq!(report.checked, 20);
    assert_eq!(report.first_broken, None);
    let all = store
        .list_audit(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(all.last().unwrap().prev_hash, GENESIS);
    for pair in all.windows(2) {
        assert_eq!(
            pair[0].prev_hash, pair[1].hash,
            "newest first, each links to the one before"
        );
    }
    let filter = AuditFilter {
        actor: Some("actor1".into()),
        ..Default::default()
    };
    let some = store.list_audit(&filter, None, 100).await.unwrap();
    assert!(!some.is_empty() && some.iter().all(|r| r.actor == "actor1"));
    let page = store
        .list_audit(&AuditFilter::default(), Some(all[4].id), 3)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        [all[5].id, all[6].id, all[7].id]
    );
}

async fn admins_sessions_tokens_and_links(store: &Store) {
    assert_eq!(store.admin_count().await.unwrap(), 0);
    let a = store
        .create_admin("alice", "admin", "hash", true, 1)
        .await
        .unwrap();
    assert!(a.must_change_password && !a.disabled && a.failed_logins == 0);
    let err = store
        .create_admin("alice", "viewer", "h", false, 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { what: "admin", .. }));
    store
        .set_login_failures(a.id, 3, Some(10), Some(99))
        .await
        .unwrap();
    let a2 = store.admin_by_name("alice").await.unwrap().unwrap();
    assert_eq!((a2.failed_logins, a2.locked_until_ms), (3, Some(99)));
    assert!(
        store
            .update_admin(a.id, Some("viewer"), Some(true))
            .await
            .unwrap()
    );
    assert!(!store.update_admin(999, None, None).await.unwrap());
    let a3 = store.admin_by_id(a.id).await.unwrap().unwrap();
    assert_eq!((a3.role.as_str(), a3.disabled), ("viewer", true));

    let s1 = store
        .create_session(a.id, "tok1", "csrf1", "127.0.0.1", "ua", 100, 10_000)
        .await
        .unwrap();
    let s2 = store
        .create_session(a.id, "tok2", "csrf2", "127.0.0.1", "ua", 100, 10_000)
        .await
        .unwrap();
    assert_eq!(store.list_sessions(a.id, 200).await.unwrap().len(), 2);
    assert!(store.revoke_session(s1, a.id, 300).await.unwrap());
    assert!(!store.revoke_session(s1, a.id, 300).await.unwrap());
    assert_eq!(
        store
            .session_by_token("tok1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms,
        Some(300)
    );
    assert_eq!(store.revoke_all_sessions(a.id, 400).await.unwrap(), 1);
    assert!(
        store
            .session_by_token("tok2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );
    let _ = s2;

    let t = store
        .create_token(a.id, "ci", "viewer", "thash", "gmt_abcdef", 1, 100)
        .await
        .unwrap();
    assert_eq!(
        store.token_by_hash("thash").await.unwrap().unwrap().id,
        t.id
    );
    assert!(store.revoke_token(t.id, a.id, 5).await.unwrap());
    assert!(!store.revoke_token(t.id, a.id + 1, 5).await.unwrap());

    store.link_player(a.id, 42, 1).await.unwrap();
    let b = store
        .create_admin("bob", "game_master", "h", false, 1)
        .await
        .unwrap();
    assert!(matches!(
        store.link_player(b.id, 42, 1).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        store.admin_for_player(42).await.unwrap().unwrap().name,
        "alice"
    );
    assert_eq!(store.player_links(a.id).await.unwrap(), [42]);
    assert!(store.unlink_player(a.id, 42).await.unwrap());
    assert_eq!(store.admin_for_player(42).await.unwrap(), None);
}

/// Two processes appending to one SQLite file (gm-server and the CLI) keep one chain.
#[tokio::test]
async fn audit_chain_survives_two_writers_on_one_sqlite_file() {
    use gm_server::audit::{NewAuditEntry, Via};
    let dir = tempfile::tempdir().unwrap();
    let server = Store::open(None, dir.path(), 4).await.unwrap();
    let cli = Store::open(None, dir.path(), 1).await.unwrap();
    for i in 0..10 {
        let who = if i % 3 == 0 { &cli } else { &server };
        let e = NewAuditEntry::new(format!("w{i}"), Via::Cli, "test");
        who.append_audit(&e, i).await.unwrap();
    }
    let report = server.verify_audit().await.unwrap();
    assert_eq!((report.checked, report.first_broken), (10, None));
}

/// While another connection holds SQLite's write lock, an append does not fail and does not
/// block the async runtime: it waits for the lock off the runtime and lands once the lock is
/// released, still on the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_append_waits_out_another_writer() {
    use gm_server::audit::{NewAuditEntry, Via};
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path(), 2).await.unwrap();
    // The first append goes through the pool; later ones through the inline connection.
    for i in 0..3 {
        let e = NewAuditEntry::new(format!("before{i}"), Via::Cli, "test");
        store.append_audit(&e, i).await.unwrap();
    }
    let url = format!("sqlite://{}", dir.path().join("gm.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let appending = {
        let store = store.clone();
        tokio::spawn(async move {
            let e = NewAuditEntry::new("during", Via::Cli, "test");
            store.append_audit(&e, 10).await
        })
    };
    // The runtime keeps running other tasks while the append waits.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !appending.is_finished(),
        "the append cannot land while the lock is held"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let record = appending.await.unwrap().unwrap();
    assert_eq!(record.actor, "during");
    let e = NewAuditEntry::new("after", Via::Cli, "test");
    store.append_audit(&e, 11).await.unwrap();
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.checked, report.first_broken), (5, None));
}

/// A SQLite store in `dir` with the admin `ana` and her token hashed as `hash-1`.
async fn sqlite_with_a_token(
    dir: &std::path::Path,
) -> (
    Store,
    gm_server::store::AdminRecord,
    gm_server::store::TokenRecord,
) {
    let store = Store::open(None, dir, 2).await.unwrap();
    let admin = store
        .create_admin("ana", "admin", "x", false, 0)
        .await
        .unwrap();
    let token = store
        .create_token(admin.id, "ci", "viewer", "hash-1", "gmt_1", 0, i64::MAX)
        .await
        .unwrap();
    (store, admin, token)
}

/// A token revoked through the pool is refused by the next lookup, which runs on the
/// calling thread through a connection of its own.
#[tokio::test]
async fn revoked_token_is_refused_by_the_next_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let (store, admin, token) = sqlite_with_a_token(dir.path()).await;
    for _ in 0..3 {
        let (t, owner) = store
            .active_token_owner("hash-1", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t.id, owner.name.as_str()), (token.id, "ana"));
    }
    assert!(store.revoke_token(token.id, admin.id, 2).await.unwrap());
    assert_eq!(store.active_token_owner("hash-1", 3).await.unwrap(), None);
}

/// Steady audit appends reuse the SQLite WAL instead of growing it: the background checkpoint
/// lets the WAL restart from its beginning. Each append writes about 22 KiB of WAL, so the
/// 5,000 appends here would leave a WAL of over 100 MiB if it never restarted; restarting
/// every 1,000 appends, it stays near 25 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_audit_appends_keep_the_sqlite_wal_small() {
    use gm_server::audit::{NewAuditEntry, Via};
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = sqlite_with_a_token(dir.path()).await;
    let wal = dir.path().join("gm.db-wal");
    let mut largest = 0;
    for i in 0..5_000 {
        // What each API command does: a token lookup, then the append.
        store
            .active_token_owner("hash-1", 1)
            .await
            .unwrap()
            .unwrap();
        let e = NewAuditEntry::new("ana", Via::Api, "command").target(format!("/who {i}"));
        store.append_audit(&e, i).await.unwrap();
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    }
    assert!(
        largest < 48 << 20,
        "the WAL grew to {} MiB over 5,000 appends",
        largest >> 20
    );
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.checked, report.first_broken), (5_000, None));
}

/// Migration 5 rebuilds the SQLite audit log without AUTOINCREMENT (one WAL page fewer per
/// append): rows written before it keep their ids and their hash chain, and appends go on
/// from the last id.
#[tokio::test]
async fn sqlite_audit_log_keeps_its_rows_and_chain_across_the_rowid_migration() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gm.db");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
    sqlx::migrate!("migrations/sqlite")
        .run_to(4, &pool)
        .await
        .unwrap();
    let mut prev = gm_server::audit::GENESIS.to_string();
    // Ids with gaps, so that a migration renumbering the rows would show.
    for (id, actor) in [(10_i64, "ana"), (20, "bo"), (35, "cy")] {
        let hash = gm_server::audit::entry_hash(
            &prev, id, actor, "gm", "api", "-", "command", "/kick", "{}", "ok",
        );
        sqlx::query(
            "INSERT INTO audit_log (id, at_ms, actor, actor_role, via, source, action, target, \
             params, result, prev_hash, hash) \
             VALUES ($1, $1, $2, 'gm', 'api', '-', 'command', '/kick', '{}', 'ok', $3, $4)",
        )
        .bind(id)
        .bind(actor)
        .bind(&prev)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
        prev = hash;
    }
    let sql = |pool: sqlx::SqlitePool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert!(sql(pool.clone()).await.contains("AUTOINCREMENT"));
    pool.close().await;

    let store = Store::open(None, dir.path(), 2).await.unwrap();
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.checked, report.first_broken), (3, None));
    let page = store
        .list_audit(&Default::default(), None, 10)
        .await
        .unwrap();
    let rows: Vec<_> = page.iter().map(|r| (r.id, r.actor.as_str())).collect();
    assert_eq!(rows, [(35, "cy"), (20, "bo"), (10, "ana")]);
    let entry = gm_server::audit::NewAuditEntry::new("dee", gm_server::audit::Via::Api, "x");
    assert_eq!(store.append_audit(&entry, 40).await.unwrap().id, 36);
    let report = store.verify_audit().await.unwrap();
    assert_eq!((report.checked, report.first_broken), (4, None));
    let opts = SqliteConnectOptions::new().filename(&path);
    let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
    assert!(!sql(pool.clone()).await.contains("AUTOINCREMENT"));
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log' \
         ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        ["audit_log_action", "audit_log_actor", "audit_log_at"]
    );
}
