//! The account-care commands of the real `gm-server` binary, checked against its store.

mod common;

use gm_server::Store;
use gm_server::auth::secret;
use gm_server::store::{AuditFilter, now_ms};

use common::gm_server_cli as cli;

fn new_token(dir: &std::path::Path, admin: &str) -> String {
    let args = format!("tokens create --admin {admin} --name ci --role viewer --days 1");
    cli(dir, &args.split(' ').collect::<Vec<_>>()).0
}

/// Whether `token` still authenticates, per the store the server would use.
async fn works(dir: &std::path::Path, token: &str) -> bool {
    let store = Store::open(None, dir, 1).await.unwrap();
    let found = store
        .active_token_owner(&secret::token_hash(token), now_ms())
        .await
        .unwrap();
    store.close().await;
    found.is_some()
}

/// A password reset is the recovery path for a leaked password, and whoever held it could have
/// made API tokens: they are revoked with the sessions, unless the operator keeps them.
#[tokio::test]
async fn reset_password_revokes_the_accounts_api_tokens_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    cli(
        dir,
        &["admin", "create", "--name", "ana", "--role", "admin"],
    );
    cli(
        dir,
        &["admin", "create", "--name", "bo", "--role", "viewer"],
    );
    let (first, second) = (new_token(dir, "ana"), new_token(dir, "ana"));
    let others = new_token(dir, "bo");
    assert!(works(dir, &first).await && works(dir, &second).await);

    let (password, said) = cli(dir, &["admin", "reset-password", "--name", "ana"]);
    assert!(!password.is_empty());
    assert!(said.contains("2 API token(s) revoked"), "{said}");
    assert!(!works(dir, &first).await && !works(dir, &second).await);
    assert!(works(dir, &others).await, "only ana's tokens are revoked");

    let kept = new_token(dir, "ana");
    let (_, said) = cli(
        dir,
        &["admin", "reset-password", "--name", "ana", "--keep-tokens"],
    );
    assert!(said.contains("their API tokens were kept"), "{said}");
    assert!(works(dir, &kept).await);

    let store = Store::open(None, dir, 1).await.unwrap();
    let filter = AuditFilter {
        action: Some("admin.reset_password".into()),
        ..Default::default()
    };
    let rows = store.list_audit(&filter, None, 10).await.unwrap();
    let params: Vec<_> = rows
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.params).unwrap())
        .collect();
    assert_eq!(params.len(), 2);
    assert_eq!(
        (&params[0]["tokens_revoked"], &params[0]["tokens_kept"]),
        (&serde_json::json!(0), &serde_json::json!(true))
    );
    assert_eq!(params[1]["tokens_revoked"], 2);
    assert_eq!(rows[1].target, "admin:ana");
    store.close().await;
}

/// `GM_SERVER_CONFIG` and `GM_SERVER_TOKEN` are the variables of the `--config` and `--token`
/// flags; the configuration's own `GM_SERVER_*` variables must not take them for settings.
#[test]
fn the_flags_environment_variables_are_not_taken_for_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gm-server.toml");
    std::fs::write(&config, "[quic]\nroster_refresh_ms = 1000\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gm-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["config", "show"])
        .env("GM_SERVER_CONFIG", &config)
        .env("GM_SERVER_TOKEN", "gmt_not-a-setting")
        .env("GM_SERVER_QUIC__COMMAND_TIMEOUT_MS", "1234")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("roster_refresh_ms: 1000"),
        "the file applies: {shown}"
    );
    assert!(
        shown.contains("command_timeout_ms: 1234"),
        "settings still come from the environment: {shown}"
    );
}
