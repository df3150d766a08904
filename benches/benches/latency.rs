//! Command round-trip latency percentiles (criterion reports means; these need p99):
//! - gateway → game (SDK callback answers at once) → reply, over loopback QUIC;
//! - the same started from the HTTPS admin API (`POST /api/v1/commands`, a game command
//!   routed by player presence), beside `GET /healthz` on the same connection as its floor;
//! - gateway → a bevy game ticking at 60 Hz with `GmPlugin` → reply from a system.
//!
//! Run with: `cargo bench -p gm-benches --bench latency` (`GM_LATENCY_ONLY=api` runs the HTTPS
//! part alone, for profiling).

use std::time::{Duration, Instant};

use bevy_app::{App, Update};
use bevy_ecs::prelude::*;
use gm_sdk::bevy::{Gm, GmCommand, GmPlugin, GmSystems};
use gm_sdk::{Arg, CommandOutcome, CommandSpec, GmClient, Role};
use gm_server::auth::secret;
use gm_server::{Config, RunningServer, keys, store};

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

/// 5,500 `POST /api/v1/commands` one after the other; the last 5,000 round trips and their
/// server times.
async fn api_commands(
    pem: &[u8],
    http_addr: std::net::SocketAddr,
    token: &str,
) -> (Vec<Duration>, Vec<Duration>) {
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .resolve("localhost", http_addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/commands", http_addr.port());
    // The floor: the same client and connection, a route that does nothing.
    let health = format!("https://localhost:{}/healthz", http_addr.port());
    let mut floor = Vec::new();
    for i in 0..5_500 {
        let t0 = Instant::now();
        let r = http.get(&health).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok\n");
        if i >= 500 {
            floor.push(t0.elapsed());
        }
    }
    report("HTTPS GET /healthz", floor);
    let (mut v, mut server_time) = (Vec::new(), Vec::new());
    for i in 0..5_500 {
        let t0 = Instant::now();
        let r = http
            .post(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "line": "/ping Bob" }))
            .send()
            .await
            .unwrap();
        let server_ms: f64 = r
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok()?.strip_prefix("app;dur=")?.parse().ok())
            .expect("the API sends Server-Timing");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["text"], "pong", "{body}");
        if i >= 500 {
            v.push(t0.elapsed());
            server_time.push(Duration::from_secs_f64(server_ms / 1000.0));
        }
    }
    (v, server_time)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let mut config = Config::ephemeral(dir.path());
        config.auth.require_totp_for.clear();
        let server = RunningServer::start(config).await.unwrap();
        let key = keys::generate();
        let store = server.store();
        store
            .create_key("bench", &key.hash, &key.hint, store::now_ms())
            .await
            .unwrap();
        let builder = |id: &str| {
            GmClient::builder(server.quic_addr().to_string())
                .pin_fingerprint(server.fingerprint())
                .key(&key.secret)
                .server_id(id)
        };
        // A game answering by callback, with a player to route to and a game command.
        let (cb, driver) = builder("callback-1")
            .command(
                CommandSpec::new("ping", "Answers at once")
                    .arg(Arg::player("player"))
                    .role(Role::Viewer),
            )
            .on_command(|_| Some(CommandOutcome::ok("pong")))
            .build()
            .unwrap();
        tokio::spawn(driver);
        while !cb.is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cb.player_joined(1, "Bob");
        while server.gateway().presence().locate(1).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let gw = server.gateway().clone();

        // GM_LATENCY_ONLY=api skips the other parts (for profiling one path).
        let only_api = std::env::var("GM_LATENCY_ONLY").is_ok_and(|v| v == "api");
        let mut v = Vec::new();
        for i in 0..if only_api { 0 } else { 22_000 } {
            let t0 = Instant::now();
            gw.send_command("callback-1", "echo", vec![], "bench")
                .await
                .unwrap();
            if i >= 2_000 {
                v.push(t0.elapsed());
            }
        }
        if !only_api {
            report("gateway→callback", v);
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
        let (http_addr, api_token) = (server.http_addr(), token.clone());
        let (v, server_time) = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(api_commands(&pem, http_addr, &api_token))
        })
        .join()
        .unwrap();
        report("HTTPS API→callback", v);
        report("  of which server time", server_time);
        if only_api {
            cb.shutdown();
            server.shutdown().await;
            return;
        }

        // The pieces of the HTTPS path that touch the store.
        let mut v = Vec::new();
        let hash = secret::token_hash(&token);
        for _ in 0..2_000 {
            let t0 = Instant::now();
            store
                .active_token_owner(&hash, store::now_ms())
                .await
                .unwrap()
                .unwrap();
            v.push(t0.elapsed());
        }
        report("store: token + owner lookup", v);
        let mut v = Vec::new();
        for _ in 0..2_000 {
            let e =
                gm_server::audit::NewAuditEntry::new("bench", gm_server::audit::Via::Api, "bench");
            let t0 = Instant::now();
            store.append_audit(&e, store::now_ms()).await.unwrap();
            v.push(t0.elapsed());
        }
        report("store: audit append", v);

        // A bevy game at 60 Hz, started only now so that its ticks do not load the other
        // measurements (it would be another machine in production).
        let bevy_client = builder("bevy-1").spawn().unwrap();
        std::thread::spawn(move || {
            let mut app = App::new();
            app.add_plugins(GmPlugin::new(bevy_client))
                .add_systems(Update, answer.after(GmSystems));
            let period = Duration::from_secs_f64(1.0 / 60.0);
            let mut next = Instant::now();
            loop {
                app.update();
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        while !server.gateway().is_connected("bevy-1") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut v = Vec::new();
        for _ in 0..600 {
            let t0 = Instant::now();
            gw.send_command("bevy-1", "ping", vec![], "bench")
                .await
                .unwrap();
            v.push(t0.elapsed());
        }
        report("gateway→bevy 60 Hz", v);
        cb.shutdown();
        server.shutdown().await;
    });
}
