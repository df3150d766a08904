//! What several benches start the same way: a runtime like gm-server's on this machine, and a
//! gm-server on loopback with a game-server key.
#![allow(dead_code, unreachable_pub)] // each bench uses part of it

use std::time::Duration;

use gm_sdk::{GmClient, GmClientBuilder};
use gm_server::{Config, RunningServer, keys, store};

/// Two workers, as `gm-server serve` has on two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A gm-server with `config`, and the secret of a key created in its store.
pub async fn server_with_key(config: Config) -> (RunningServer, String) {
    let server = RunningServer::start(config).await.unwrap();
    let key = keys::generate();
    server
        .store()
        .create_key("bench", &key.hash, &key.hint, store::now_ms())
        .await
        .unwrap();
    (server, key.secret)
}

/// A client builder for `server`, pinned to its certificate.
pub fn client(server: &RunningServer, key: &str, server_id: &str) -> GmClientBuilder {
    GmClient::builder(server.quic_addr().to_string())
        .pin_fingerprint(server.fingerprint())
        .key(key)
        .server_id(server_id)
}

/// Waits until `client` has a session.
pub async fn connected(client: &GmClient) {
    while !client.is_connected() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
