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
    key_names_are_unique,
    handshakes_are_recorded_and_updated,
    migrations_are_idempotent,
);

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
    let seen = t.server.store().list_game_servers().await.unwrap();
    assert_eq!(seen[0].key_name, "pg-fleet");
    client.shutdown();
    t.server.shutdown().await;
}
