//! Command round-trip latency percentiles (criterion reports means; these need p99):
//! - gateway → game (SDK callback answers at once) → reply, over loopback QUIC;
//! - the same started from the HTTPS admin API (`POST /api/v1/commands`, a game command
//!   routed by player presence), beside `GET /healthz` on the same connection as its floor,
//!   once with reqwest as the client and once with hyper's bare HTTP/1.1 client;
//! - gateway → a bevy game ticking at 60 Hz with `GmPlugin` → reply from a system.
//!
//! The game's SDK driver runs on a thread of its own, as in a game process; everything shares
//! this machine's cores.
//!
//! Run with: `cargo bench -p gm-benches --bench latency` (`GM_LATENCY_ONLY=callback`, `api`,
//! `store` or `bevy` runs one part alone, for profiling).

use std::time::{Duration, Instant};

use bevy_app::{App, Update};
use bevy_ecs::prelude::*;
use gm_sdk::bevy::{Gm, GmCommand, GmPlugin, GmSystems};
use gm_sdk::{Arg, CommandOutcome, CommandSpec, Role};
use gm_server::auth::secret;
use gm_server::{Config, store};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

mod support;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<28} n={:<6} p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        v.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        v[v.len() - 1]
    );
}

fn answer(gm: Res<Gm>, mut commands: MessageReader<GmCommand>) {
    for GmCommand(cmd) in commands.read() {
        gm.0.reply(cmd, CommandOutcome::ok("pong"));
    }
}

/// An HTTPS client on one kept-alive connection: reqwest, or hyper's bare HTTP/1.1 client.
enum Http {
    Reqwest {
        client: reqwest::Client,
        base: String,
    },
    Hyper(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
}

impl Http {
    fn reqwest(pem: &[u8], addr: std::net::SocketAddr) -> Http {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
            .resolve("localhost", addr)
            .build()
            .unwrap();
        let base = format!("https://localhost:{}", addr.port());
        Http::Reqwest { client, base }
    }

    async fn hyper(pem: &[u8], addr: std::net::SocketAddr) -> Http {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        Http::Hyper(sender)
    }

    /// Sends a request; returns the Server-Timing `app` duration (if any) and the body.
    async fn send(
        &mut self,
        post: Option<(&str, &'static str)>,
        path: &str,
    ) -> (Option<Duration>, Bytes) {
        let (headers, body) = match self {
            Http::Reqwest { client, base } => {
                let url = format!("{base}{path}");
                let req = match post {
                    Some((token, body)) => client
                        .post(url)
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body),
                    None => client.get(url),
                };
                let r = req.send().await.unwrap();
                let headers = r.headers().clone();
                (headers, r.bytes().await.unwrap())
            }
            Http::Hyper(sender) => {
                let req = hyper::Request::builder()
                    .uri(path)
                    .header(hyper::header::HOST, "localhost");
                let req = match post {
                    Some((token, body)) => req
                        .method(hyper::Method::POST)
                        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from_static(body.as_bytes()))),
                    None => req.body(Full::new(Bytes::new())),
                };
                sender.ready().await.unwrap();
                let r = sender.send_request(req.unwrap()).await.unwrap();
                let headers = r.headers().clone();
                (headers, r.into_body().collect().await.unwrap().to_bytes())
            }
        };
        let server = headers
            .get("server-timing")
            .and_then(|v| v.to_str().ok()?.strip_prefix("app;dur=")?.parse().ok())
            .map(|ms: f64| Duration::from_secs_f64(ms / 1000.0));
        (server, body)
    }
}

/// 5,500 `GET /healthz` (the floor: the same client and connection, a route that does
/// nothing), then 5,500 `POST /api/v1/commands` one after the other; the last 5,000 of each,
/// with the commands' server times.
async fn api_commands(
    mut http: Http,
    token: &str,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    let mut floor = Vec::new();
    for i in 0..5_500 {
        let t0 = Instant::now();
        let (_, body) = http.send(None, "/healthz").await;
        assert_eq!(&body[..], b"ok\n");
        if i >= 500 {
            floor.push(t0.elapsed());
        }
    }
    let (mut v, mut server_time) = (Vec::new(), Vec::new());
    for i in 0..5_500 {
        let t0 = Instant::now();
        let (server, body) = http
            .send(Some((token, r#"{"line":"/ping Bob"}"#)), "/api/v1/commands")
            .await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["text"], "pong", "{body}");
        if i >= 500 {
            v.push(t0.elapsed());
            server_time.push(server.expect("the API sends Server-Timing"));
        }
    }
    (floor, v, server_time)
}

fn main() {
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let mut config = Config::ephemeral(dir.path());
        config.auth.require_totp_for.clear();
        let (server, key) = support::server_with_key(config).await;
        let store = server.store();
        let builder = |id: &str| support::client(&server, &key, id);
        // A game answering by callback, with a player to route to and a game command.
        let cb = builder("callback-1")
            .command(
                CommandSpec::new("ping", "Answers at once")
                    .arg(Arg::player("player"))
                    .role(Role::Viewer),
            )
            .on_command(|_| Some(CommandOutcome::ok("pong")))
            .spawn()
            .unwrap();
        support::connected(&cb).await;
        cb.player_joined(1, "Bob");
        while server.gateway().presence().locate(1).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let gw = server.gateway().clone();

        // GM_LATENCY_ONLY=callback|api|store|bevy runs that part alone (for profiling one path).
        let only = std::env::var("GM_LATENCY_ONLY").ok();
        let parts = ["callback", "api", "store", "bevy"];
        if let Some(o) = &only {
            assert!(
                parts.contains(&o.as_str()),
                "GM_LATENCY_ONLY is one of {parts:?}"
            );
        }
        let part = |name: &str| only.as_deref().is_none_or(|o| o == name);
        let mut v = Vec::new();
        for i in 0..if part("callback") { 22_000 } else { 0 } {
            let t0 = Instant::now();
            gw.send_command("callback-1", "echo", vec![], "bench")
                .await
                .unwrap();
            if i >= 2_000 {
                v.push(t0.elapsed());
            }
        }
        if part("callback") {
            report("gateway→callback", v);
            // The issue's reference: raw quinn, 64 bytes each way on one stream, the echo on a
            // thread of its own like the game's driver.
            let (mut send, mut recv) = support::raw_quinn_pair(true).await;
            let mut v = Vec::new();
            for i in 0..22_000 {
                let t0 = Instant::now();
                send.write_all(&[7u8; 64]).await.unwrap();
                let mut back = [0u8; 64];
                recv.read_exact(&mut back).await.unwrap();
                if i >= 2_000 {
                    v.push(t0.elapsed());
                }
            }
            report("raw quinn 64 B echo", v);
        }

        let admin = store
            .create_admin("bench", "admin", "x", false, store::now_ms())
            .await
            .unwrap();
        let token = secret::random_token("gmt_");
        let now = store::now_ms();
        store
            .create_token(
                admin.id,
                "bench",
                "admin",
                &secret::token_hash(&token),
                &token[..10],
                now,
                now + 86_400_000,
            )
            .await
            .unwrap();
        // The API client runs on a thread and runtime of its own, as a separate process
        // (the CLI, a script, the dashboard's browser) would.
        let pem = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
        let http_addr = server.http_addr();
        // Two clients, one after the other: reqwest, and hyper's bare HTTP/1.1 client. On
        // these two cores the client competes with gm-server and the game for CPU (reqwest
        // spends about 90 µs of it per request), so a lean one shows more of the server.
        for kind in ["reqwest", "hyper"].into_iter().filter(|_| part("api")) {
            let (pem, api_token) = (pem.clone(), token.clone());
            let client = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let http = match kind {
                        "hyper" => Http::hyper(&pem, http_addr).await,
                        _ => Http::reqwest(&pem, http_addr),
                    };
                    api_commands(http, &api_token).await
                })
            });
            // Waited for off the runtime, which keeps serving meanwhile.
            let (floor, v, server_time) =
                tokio::task::spawn_blocking(move || client.join().unwrap())
                    .await
                    .unwrap();
            println!("client: {kind}");
            report("  HTTPS GET /healthz", floor);
            let outside = v
                .iter()
                .zip(&server_time)
                .map(|(total, server)| total.saturating_sub(*server))
                .collect();
            report("  HTTPS API→callback", v);
            report("    of which server time", server_time);
            report("    outside the server", outside);
        }
        // The pieces of the HTTPS path that touch the store.
        let mut v = Vec::new();
        let hash = secret::token_hash(&token);
        let store_runs = if part("store") { 2_000 } else { 0 };
        for _ in 0..store_runs {
            let t0 = Instant::now();
            store
                .active_token_owner(&hash, store::now_ms())
                .await
                .unwrap()
                .unwrap();
            v.push(t0.elapsed());
        }
        let mut w = Vec::new();
        for _ in 0..store_runs {
            let e =
                gm_server::audit::NewAuditEntry::new("bench", gm_server::audit::Via::Api, "bench");
            let t0 = Instant::now();
            store.append_audit(&e, store::now_ms()).await.unwrap();
            w.push(t0.elapsed());
        }
        if part("store") {
            report("store: token + owner lookup", v);
            report("store: audit append", w);
        }
        if !part("bevy") {
            cb.shutdown();
            server.shutdown().await;
            return;
        }

        // A bevy game at 60 Hz, started only now so that its ticks do not load the other
        // measurements (it would be another machine in production).
        let bevy_client = builder("bevy-1").spawn().unwrap();
        // While the commands run, the game thread also records how late each tick starts
        // (its wake-up from the sleep, or an overlong tick before it), which the command
        // latency inherits beside the SDK's own part.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let recording = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let game = std::thread::spawn({
            let (stop, recording) = (stop.clone(), recording.clone());
            move || {
                let mut app = App::new();
                app.add_plugins(GmPlugin::new(bevy_client))
                    .add_systems(Update, answer.after(GmSystems));
                let period = Duration::from_secs_f64(1.0 / 60.0);
                let mut next = Instant::now();
                let mut late = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if recording.load(std::sync::atomic::Ordering::Relaxed) {
                        late.push(Instant::now().saturating_duration_since(next));
                    }
                    app.update();
                    next += period;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                late
            }
        });
        while !server.gateway().is_connected("bevy-1") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        recording.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut v = Vec::new();
        for _ in 0..600 {
            let t0 = Instant::now();
            gw.send_command("bevy-1", "ping", vec![], "bench")
                .await
                .unwrap();
            v.push(t0.elapsed());
        }
        report("gateway→bevy 60 Hz", v);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let late = tokio::task::spawn_blocking(move || game.join().unwrap())
            .await
            .unwrap();
        report("  bevy tick start lateness", late);
        cb.shutdown();
        server.shutdown().await;
    });
}
