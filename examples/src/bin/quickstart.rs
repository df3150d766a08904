//! One command: gm-server on embedded SQLite plus the example game connected to it.
//!
//! Run with: `cargo run -p gm-examples --bin quickstart`
//!
//! It keeps its data in `./gm-data/quickstart` (certificate, SQLite database), creates a fresh
//! game-server key named "quickstart" on each start (revoking the previous one), and every few seconds
//! asks the game for its `status` through gm-server, the way an operator's tools will.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use gm_examples::game::{ExampleGame, GameConfig};
use gm_sdk::GmClient;
use gm_server::{Config, RunningServer, keys, store};

#[derive(Debug, Parser)]
#[command(about = "gm-server on SQLite with an example game server connected")]
struct Args {
    /// Data directory for the quickstart server.
    #[arg(long, default_value = "gm-data/quickstart")]
    data_dir: PathBuf,
    /// QUIC address for game servers.
    #[arg(long, default_value = "127.0.0.1:7400")]
    quic: SocketAddr,
    /// HTTP address.
    #[arg(long, default_value = "127.0.0.1:7401")]
    http: SocketAddr,
    /// Simulated players.
    #[arg(long, default_value_t = 50)]
    players: usize,
    /// Stop after this many seconds (runs until Ctrl-C when unset).
    #[arg(long)]
    run_for: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,quinn=warn".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = Config::ephemeral(&args.data_dir);
    config.quic.listen = args.quic;
    config.http.listen = args.http;
    let server = RunningServer::start(config).await?;

    // A fresh key each start: the old secret was never stored, only its hash.
    let store = server.store();
    let key_name = "quickstart";
    store.revoke_key(key_name, store::now_ms()).await?;
    let key = keys::generate();
    // Bound to the one game server it is for, as every production key should be.
    let game_id = "quickstart-game";
    let only_this_game = keys::ServerIds::parse(game_id)?;
    store
        .create_key_for(
            key_name,
            &key.hash,
            &key.hint,
            Some(&only_this_game),
            store::now_ms(),
        )
        .await?;

    let gm = GmClient::builder(server.quic_addr().to_string())
        .pin_fingerprint(server.fingerprint())
        .key(&key.secret)
        .server_id(game_id)
        .server_display_name("Quickstart game")
        .region("local")
        .game_build("example")
        .commands(gm_examples::game::game_commands())
        .event_kinds(gm_examples::game::event_kinds())
        .spawn()?;
    let stop = Arc::new(AtomicBool::new(false));
    let game_stop = stop.clone();
    let mut game = ExampleGame::new(
        GameConfig {
            target_players: args.players,
            ..GameConfig::default()
        },
        gm.clone(),
    );
    let game_thread = std::thread::spawn(move || game.run(&game_stop));
    for _ in 0..100 {
        if gm.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let data = args.data_dir.display();
    let http = server.http_addr();
    let quic = server.quic_addr();
    let fp = server.fingerprint();
    println!();
    println!("gm-server is running on embedded SQLite ({data}).");
    println!("  game servers connect to  {quic} (QUIC)");
    println!("  certificate fingerprint  {fp}");
    println!("  health                   https://{http}/healthz");
    println!("  readiness                https://{http}/readyz");
    println!("  admin API                https://{http}/api/v1  (OpenAPI: /api/openapi.json)");
    println!(
        "  Prometheus metrics       https://{http}/metrics  (a viewer's token; docs/monitoring.md)"
    );
    println!(
        "  (HTTPS with the certificate above: curl --cacert {data}/tls/cert.pem https://localhost:{}/readyz)",
        http.port()
    );
    println!(
        "The example game \"quickstart-game\" uses key {key_name:?}: {:?}",
        gm.status()
    );
    println!("Next:");
    println!("  - create your first admin (only possible here, on the server's host):");
    println!(
        "      cargo run -p gm-server -- --data-dir {data} admin create --name you --role admin"
    );
    println!("  - list keys:     cargo run -p gm-server -- --data-dir {data} keys list");
    println!("  - run another game against this server:");
    println!(
        "      cargo run -p gm-server -- --data-dir {data} keys create --name my-game --servers my-game"
    );
    println!(
        "      cargo run -p gm-examples --bin example-game -- --gm {quic} --fingerprint {fp} --key <KEY> --server-id my-game"
    );
    println!("Press Ctrl-C to stop.");
    println!();

    let gateway = server.gateway().clone();
    let status_loop = async {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            match gateway
                .send_command("quickstart-game", "status", vec![], "quickstart")
                .await
            {
                Ok(reply) => println!("status from the game via gm-server: {reply:?}"),
                Err(e) => println!("status: {e}"),
            }
        }
    };
    let deadline = async {
        match args.run_for {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = deadline => {}
        _ = status_loop => {}
    }
    stop.store(true, Ordering::Relaxed);
    let _ = game_thread.join();
    gm.shutdown();
    server.shutdown().await;
    Ok(())
}
