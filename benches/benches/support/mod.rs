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

/// A raw quinn connection on loopback with one long-lived bidirectional stream, primed, to a
/// server that echoes 64-byte messages: on this runtime, or on a thread and current-thread
/// runtime of its own (as the game's SDK driver runs in the latency bench).
pub async fn raw_quinn_pair(own_thread: bool) -> (quinn::SendStream, quinn::RecvStream) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let server_config = quinn::ServerConfig::with_single_cert(vec![cert_der.clone()], key).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let addr = if own_thread {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = quinn::Endpoint::server(server_config, any).unwrap();
                tx.send(server.local_addr().unwrap()).unwrap();
                echo_64(server).await
            })
        });
        rx.recv().unwrap()
    } else {
        let server = quinn::Endpoint::server(server_config, any).unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(echo_64(server));
        addr
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_config =
        quinn::ClientConfig::with_root_certificates(std::sync::Arc::new(roots)).unwrap();
    let mut client = quinn::Endpoint::client(any).unwrap();
    client.set_default_client_config(client_config);
    let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // The server only sees the stream once data arrives: prime it.
    send.write_all(&[0u8; 64]).await.unwrap();
    let mut buf = [0u8; 64];
    recv.read_exact(&mut buf).await.unwrap();
    std::mem::forget(client);
    std::mem::forget(conn);
    (send, recv)
}

/// Echoes 64-byte messages on the first stream of the first connection.
async fn echo_64(server: quinn::Endpoint) {
    let conn = server.accept().await.unwrap().await.unwrap();
    let (mut send, mut recv) = conn.accept_bi().await.unwrap();
    let mut buf = [0u8; 64];
    while recv.read_exact(&mut buf).await.is_ok() {
        if send.write_all(&buf).await.is_err() {
            break;
        }
    }
}
