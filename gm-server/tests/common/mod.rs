//! Helpers shared by gm-server's integration tests: a real server on loopback, keys, clients.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use gm_sdk::{Backoff, GmClient, GmClientBuilder};
use gm_server::{Config, RunningServer, keys, store};

/// A gm-server on 127.0.0.1 with ephemeral ports, a temporary data directory and short
/// timeouts so failures show quickly.
pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::ephemeral(dir);
    config.quic.handshake_timeout_ms = 3_000;
    config.quic.heartbeat_ms = 500;
    config.quic.idle_timeout_ms = 3_000;
    config.quic.command_timeout_ms = 2_000;
    config.shutdown.drain_timeout_ms = 2_000;
    config
}

pub async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_server_with(dir, |_| {}).await
}

pub async fn start_server_with(
    dir: tempfile::TempDir,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let server = RunningServer::start(config).await.expect("server starts");
    TestServer { server, dir }
}

impl TestServer {
    /// Creates a key through the store, as `gm-server keys create` does, and returns the secret.
    pub async fn create_key(&self, name: &str) -> String {
        let key = keys::generate();
        self.server
            .store()
            .create_key(name, &key.hash, &key.hint, store::now_ms())
            .await
            .unwrap();
        key.secret
    }

    /// Creates a key bound to `servers` (ids, or prefixes ending in `*`) and returns its
    /// secret.
    pub async fn create_bound_key(&self, name: &str, servers: &str) -> String {
        let key = keys::generate();
        let servers = keys::ServerIds::parse(servers).unwrap();
        self.server
            .store()
            .create_key_for(name, &key.hash, &key.hint, Some(&servers), store::now_ms())
            .await
            .unwrap();
        key.secret
    }

    /// A client builder pinned to this server's certificate, with fast reconnects.
    pub fn client(&self, key: &str, server_id: &str) -> GmClientBuilder {
        GmClient::builder(self.server.quic_addr().to_string())
            .pin_fingerprint(self.server.fingerprint())
            .key(key)
            .server_id(server_id)
            .region("test")
            .game_build("test-build")
            .idle_timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(3))
            .backoff(Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(500),
            })
    }
}

impl TestServer {
    /// An HTTPS client that trusts this server's certificate, keeps cookies, and reaches
    /// `https://localhost:<port>` on loopback.
    pub fn http(&self) -> reqwest::Client {
        let pem = std::fs::read(self.dir.path().join("tls/cert.pem")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve("localhost", self.server.http_addr())
            .cookie_store(true)
            .build()
            .unwrap()
    }

    /// `https://localhost:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.http_addr().port())
    }

    /// Creates an admin with a known password (no one-time password, no TOTP).
    pub async fn create_admin(
        &self,
        name: &str,
        role: gm_server::auth::Role,
        password: &str,
    ) -> i64 {
        let hash = gm_server::auth::secret::hash_password(password);
        self.server
            .store()
            .create_admin(name, role.as_str(), &hash, false, store::now_ms())
            .await
            .unwrap()
            .id
    }

    /// Creates an API token for an admin and returns the secret.
    pub async fn create_token(&self, admin_id: i64, role: gm_server::auth::Role) -> String {
        use gm_server::auth::secret;
        let token = secret::random_token("gmt_");
        let now = store::now_ms();
        self.server
            .store()
            .create_token(
                admin_id,
                "test",
                role.as_str(),
                &secret::token_hash(&token),
                &token[..10],
                now,
                now + 86_400_000,
            )
            .await
            .unwrap();
        token
    }
}

/// Polls `cond` every 10 ms until it holds or `within` passes; returns the time it took.
pub async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > within {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// The game servers the store has recorded, once it has `n` (the handshake is recorded in
/// the background so the welcome does not wait for the store).
pub async fn recorded_game_servers(
    store: &gm_server::Store,
    n: usize,
) -> Vec<gm_server::store::GameServerRecord> {
    for _ in 0..500 {
        let servers = store.list_game_servers().await.unwrap();
        if servers.len() >= n {
            return servers;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store never recorded {n} game servers");
}

/// The newest audit rows (up to 10) with `action`, once there are at least `n` of them or 3 s
/// have passed (appends from game servers happen in the background).
pub async fn audit_rows(
    t: &TestServer,
    action: &str,
    n: usize,
) -> Vec<gm_server::audit::AuditRecord> {
    let filter = gm_server::store::AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    let start = Instant::now();
    loop {
        let rows = t
            .server
            .store()
            .list_audit(&filter, None, 10)
            .await
            .unwrap();
        if rows.len() >= n || start.elapsed() > Duration::from_secs(3) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls a client until it is connected.
pub async fn wait_connected(client: &GmClient) {
    wait_for("client connected", Duration::from_secs(10), || {
        client.is_connected()
    })
    .await;
}

/// Runs the real `gm-server --data-dir dir args…`, which must succeed; returns its stdout
/// (trimmed) and stderr.
pub fn gm_server_cli(dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gm-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
        stderr,
    )
}
