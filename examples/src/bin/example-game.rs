//! The example game server alone: a headless bevy_ecs loop with simulated players, connected to
//! a gm-server you started.
//!
//! Run with:
//! `cargo run -p gm-examples --bin example-game -- --gm 127.0.0.1:7400 --fingerprint <FP> --key <KEY>`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use gm_examples::game::{ExampleGame, GameConfig};
use gm_sdk::GmClient;

#[derive(Debug, Parser)]
#[command(about = "Example game server with simulated players, linked to gm-sdk")]
struct Args {
    /// gm-server's QUIC address.
    #[arg(long, default_value = "127.0.0.1:7400", env = "GM_ADDR")]
    gm: String,
    /// SHA-256 fingerprint of gm-server's certificate (`gm-server fingerprint`).
    #[arg(long, env = "GM_FINGERPRINT")]
    fingerprint: String,
    /// Game-server key (`gm-server keys create --name … --servers <this server id>`).
    #[arg(long, env = "GM_KEY", hide_env_values = true)]
    key: String,
    /// This game server's id in the fleet.
    #[arg(long, default_value = "example-1")]
    server_id: String,
    /// Region label.
    #[arg(long, default_value = "local")]
    region: String,
    /// Simulated players to keep online.
    #[arg(long, default_value_t = 50)]
    players: usize,
    /// Ticks per second.
    #[arg(long, default_value_t = 60.0)]
    tick_hz: f64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let gm = GmClient::builder(&args.gm)
        .pin_fingerprint(&args.fingerprint)
        .key(&args.key)
        .server_id(&args.server_id)
        .region(&args.region)
        .game_build(concat!("example-", env!("CARGO_PKG_VERSION")))
        .commands(gm_examples::game::game_commands())
        .event_kinds(gm_examples::game::event_kinds())
        .spawn()?;
    let mut game = ExampleGame::new(
        GameConfig {
            tick_hz: args.tick_hz,
            target_players: args.players,
            seed: rand::random(),
        },
        gm.clone(),
    );
    let stats = game.stats();
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let ticks = stats.ticks.load(Ordering::Relaxed);
            tracing::info!(
                players = stats.players.load(Ordering::Relaxed),
                tick_rate = (ticks - last) as f64 / 5.0,
                gm = ?gm.status(),
                "game running"
            );
            last = ticks;
        }
    });
    game.run(&stop);
    Ok(())
}
