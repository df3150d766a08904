//! The README's main command, run for a few seconds: gm-server starts on SQLite, the example
//! game connects, and a `status` command sent through gm-server comes back from the game.

use std::process::Command;

#[test]
fn quickstart_serves_the_example_game() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--quic",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--run-for",
            "6",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("certificate fingerprint"), "{stdout}");
    assert!(
        stdout.contains("Connected {"),
        "game connected before the banner: {stdout}"
    );
    let status = stdout
        .lines()
        .find(|l| l.starts_with("status from the game via gm-server: Ok"))
        .unwrap_or_else(|| panic!("no status reply in: {stdout}"));
    assert!(status.contains("(\"players\""), "{status}");
    assert!(
        dir.path().join("gm.db").exists(),
        "SQLite store in the data directory"
    );
}
