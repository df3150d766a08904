//! gm-server killed with SIGKILL and started again: the SDK reconnects by itself, and the
//! example game's tick loop keeps its rate the whole time. Uses the real `gm-server` binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gm_examples::game::{ExampleGame, GameConfig};
use gm_sdk::{Backoff, GmClient};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_gm-server");

fn cli(dir: &std::path::Path, args: &[&str]) -> String {
    common::gm_server_cli(dir, args).0
}

/// Starts `gm-server serve` and waits until it prints that it listens.
fn serve(dir: &std::path::Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--http-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().unwrap().unwrap();
    assert_eq!(line, "gm-server listening");
    std::thread::spawn(move || for _ in lines {});
    child
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn killed_server_restarts_and_the_game_never_misses_a_tick() {
    let dir = tempfile::tempdir().unwrap();
    let key = cli(dir.path(), &["keys", "create", "--name", "eu-1"]);
    assert!(key.starts_with("gmk_"));
    let fingerprint = cli(dir.path(), &["fingerprint"]);
    let listed = cli(dir.path(), &["keys", "list"]);
    assert!(
        listed.contains("eu-1") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "keys list must never show a secret");
    // Bound to its own id, and a binding that cannot parse is refused with the reason.
    cli(
        dir.path(),
        &["keys", "bind", "--name", "eu-1", "--servers", "eu-1"],
    );
    let listed = cli(dir.path(), &["keys", "list"]);
    let row = listed.lines().find(|l| l.starts_with("eu-1")).unwrap();
    assert!(row.trim_end().ends_with(" eu-1"), "{listed}");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["keys", "bind", "--name", "eu-1", "--servers", "e*u"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"e*u\" is not a game-server id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_udp_port();
    let mut server = serve(dir.path(), port);

    let gm = GmClient::builder(format!("127.0.0.1:{port}"))
        .pin_fingerprint(&fingerprint)
        .key(&key)
        .server_id("eu-1")
        .idle_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(1))
        .backoff(Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        })
        .spawn()
        .unwrap();
    let mut game = ExampleGame::new(
        GameConfig {
            tick_hz: 60.0,
            target_players: 100,
            seed: 7,
        },
        gm.clone(),
    );
    let stats = game.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let game_stop = stop.clone();
    let game_thread = std::thread::spawn(move || game.run(&game_stop));

    wait("first connection", Duration::from_secs(10), || {
        gm.is_connected()
    });
    std::thread::sleep(Duration::from_secs(1));

    // SIGKILL: no goodbye, no close frame. The SDK finds out through its idle timeout.
    server.kill().unwrap();
    server.wait().unwrap();
    let down_at = Instant::now();
    let ticks_at_kill = stats.ticks.load(Ordering::Relaxed);
    let noticed = wait(
        "SDK notices the dead server",
        Duration::from_secs(5),
        || !gm.is_connected(),
    );
    assert!(
        noticed <= Duration::from_secs(3),
        "noticed after {noticed:?}"
    );
    // Stay down a while with the SDK retrying.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(down_at.elapsed()));
    let down_for = down_at.elapsed();
    let ticks_down = stats.ticks.load(Ordering::Relaxed) - ticks_at_kill;
    let rate_down = ticks_down as f64 / down_for.as_secs_f64();

    let restarted_at = Instant::now();
    let mut server = serve(dir.path(), port);
    let took = wait("SDK reconnects", Duration::from_secs(10), || {
        gm.is_connected()
    });
    let reconnect = restarted_at.elapsed();
    eprintln!(
        "down {down_for:?}: {ticks_down} ticks ({rate_down:.1}/s); reconnected {took:?} after restart; \
         longest tick {} µs",
        stats.max_tick_us.load(Ordering::Relaxed)
    );
    // Bound: one backoff ceiling (500 ms) plus one handshake, with room for a loaded CI box.
    assert!(
        reconnect < Duration::from_secs(3),
        "reconnected after {reconnect:?}"
    );
    assert_eq!(gm.stats().reconnects, 1);
    // 60 Hz while the server was down: within 5 %.
    assert!(
        (57.0..=63.0).contains(&rate_down),
        "tick rate while down: {rate_down:.1}/s"
    );

    // SIGTERM with the game connected: the game is told, the server exits 0.
    let pid = server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "graceful shutdown exit status: {status}");
    wait("SDK told of the shutdown", Duration::from_secs(5), || {
        !gm.is_connected()
    });
    let why = gm.last_disconnect().unwrap_or_default();
    assert!(why.contains("shutting down"), "{why}");

    stop.store(true, Ordering::Relaxed);
    game_thread.join().unwrap();
    gm.shutdown();
}
