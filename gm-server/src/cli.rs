//! The CLI's staff, token and audit commands. Everything here acts on the store directly, on
//! the server's host: that is what makes it the only way to create the first admin.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;
use gm_server::audit::{NewAuditEntry, Via};
use gm_server::auth::{Role, check_admin_name, secret};
use gm_server::store::now_ms;
use gm_server::{Config, Store};

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create an account. Without --password-stdin a one-time password is printed, to be
    /// changed at first login.
    Create {
        /// Login name.
        #[arg(long)]
        name: String,
        /// viewer, support_agent, game_master, senior_game_master or admin.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Unlock an account locked after failed logins.
    Unlock {
        /// Login name.
        #[arg(long)]
        name: String,
    },
    /// Remove an account's second factor (it must enroll again if its role requires one).
    ResetTotp {
        /// Login name.
        #[arg(long)]
        name: String,
    },
    /// Set a new one-time password, end the account's sessions and revoke its API tokens
    /// (whoever knew the old password could have made some).
    ResetPassword {
        /// Login name.
        #[arg(long)]
        name: String,
        /// Leave the account's API tokens working (a forgotten password, not a leaked one).
        #[arg(long)]
        keep_tokens: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Create an API token for an account; printed once.
    Create {
        /// The account that owns it.
        #[arg(long)]
        admin: String,
        /// A name for the token.
        #[arg(long)]
        name: String,
        /// Role it acts with (at most the account's).
        #[arg(long)]
        role: String,
        /// Lifetime in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first broken link if there is one.
    Verify,
}

/// Who ran the CLI, for the audit log.
fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

pub(crate) async fn audit_cli(store: &Store, action: &str, target: &str) -> anyhow::Result<()> {
    audit_cli_with(store, action, target, serde_json::json!({})).await
}

/// [`audit_cli`] with the action's parameters.
pub(crate) async fn audit_cli_with(
    store: &Store,
    action: &str,
    target: &str,
    params: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = NewAuditEntry::new(operator(), Via::Cli, action)
        .source("localhost")
        .target(target)
        .params(params);
    store.append_audit(&entry, now_ms()).await?;
    Ok(())
}

async fn find(store: &Store, name: &str) -> anyhow::Result<gm_server::store::AdminRecord> {
    store
        .admin_by_name(name)
        .await?
        .with_context(|| format!("no account named {name:?}"))
}

pub(crate) async fn admin(command: AdminCommand, store: &Store) -> anyhow::Result<()> {
    match command {
        AdminCommand::Create {
            name,
            role,
            password_stdin,
        } => {
            check_admin_name(&name).map_err(anyhow::Error::msg)?;
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (password, one_time) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                let pw = line.trim_end_matches(['\r', '\n']).to_string();
                secret::check_password_policy(&pw).map_err(anyhow::Error::msg)?;
                (pw, false)
            } else {
                (secret::one_time_password(), true)
            };
            let pw = password.clone();
            let hash = tokio::task::spawn_blocking(move || secret::hash_password(&pw)).await?;
            store
                .create_admin(&name, role.as_str(), &hash, one_time, now_ms())
                .await?;
            let entry = NewAuditEntry::new(operator(), Via::Cli, "admin.create")
                .source("localhost")
                .target(format!("admin:{name}"))
                .params(serde_json::json!({ "role": role }));
            store.append_audit(&entry, now_ms()).await?;
            if one_time {
                println!("{password}");
                eprintln!(
                    "account {name:?} ({role}) created. The one-time password above is shown \
                     once and must be changed at first login."
                );
            } else {
                eprintln!("account {name:?} ({role}) created.");
            }
        }
        AdminCommand::List => {
            println!(
                "{:<6} {:<24} {:<20} {:<6} {:<9}",
                "ID", "NAME", "ROLE", "TOTP", "STATE"
            );
            let mut after = 0;
            loop {
                let page = store.list_admins(after, 200).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for a in &page {
                    let state = if a.disabled {
                        "disabled"
                    } else if a.locked_until_ms.is_some_and(|t| t > now_ms()) {
                        "locked"
                    } else {
                        "active"
                    };
                    let totp = if a.totp_secret.is_some() { "yes" } else { "no" };
                    println!(
                        "{:<6} {:<24} {:<20} {:<6} {:<9}",
                        a.id, a.name, a.role, totp, state
                    );
                }
            }
        }
        AdminCommand::Unlock { name } => {
            let a = find(store, &name).await?;
            store.set_login_failures(a.id, 0, None, None).await?;
            audit_cli(store, "admin.unlock", &format!("admin:{name}")).await?;
            println!("account {name:?} unlocked");
        }
        AdminCommand::ResetTotp { name } => {
            let a = find(store, &name).await?;
            store.set_totp(a.id, None, None).await?;
            audit_cli(store, "admin.reset_totp", &format!("admin:{name}")).await?;
            println!("second factor of {name:?} removed");
        }
        AdminCommand::ResetPassword { name, keep_tokens } => {
            let a = find(store, &name).await?;
            let password = secret::one_time_password();
            let pw = password.clone();
            let hash = tokio::task::spawn_blocking(move || secret::hash_password(&pw)).await?;
            store.set_password(a.id, &hash, true).await?;
            let now = now_ms();
            let sessions = store.revoke_all_sessions(a.id, now).await?;
            let revoked = if keep_tokens {
                0
            } else {
                store.revoke_all_tokens(a.id, now).await?
            };
            audit_cli_with(
                store,
                "admin.reset_password",
                &format!("admin:{name}"),
                serde_json::json!({
                    "sessions_ended": sessions,
                    "tokens_revoked": revoked,
                    "tokens_kept": keep_tokens,
                }),
            )
            .await?;
            println!("{password}");
            let tokens = if keep_tokens {
                "their API tokens were kept".to_string()
            } else {
                format!("{revoked} API token(s) revoked")
            };
            eprintln!("one-time password set for {name:?}; {sessions} session(s) ended, {tokens}");
        }
    }
    Ok(())
}

pub(crate) async fn tokens(
    command: TokensCommand,
    store: &Store,
    config: &Config,
) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            admin,
            name,
            role,
            days,
        } => {
            let owner = find(store, &admin).await?;
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let owner_role: Role = owner.role.parse().map_err(anyhow::Error::msg)?;
            if role > owner_role {
                bail!("a token cannot have a role above its owner's ({owner_role})");
            }
            if days == 0 || days > config.auth.max_token_days {
                bail!(
                    "--days must be between 1 and {}",
                    config.auth.max_token_days
                );
            }
            let token = secret::random_token("gmt_");
            let now = now_ms();
            let record = store
                .create_token(
                    owner.id,
                    &name,
                    role.as_str(),
                    &secret::token_hash(&token),
                    &token[..10],
                    now,
                    now + i64::from(days) * 86_400_000,
                )
                .await?;
            audit_cli(store, "token.create", &format!("token:{}", record.id)).await?;
            println!("{token}");
            eprintln!("token {name:?} for {admin:?} ({role}, {days} days) created; shown once");
        }
    }
    Ok(())
}

pub(crate) async fn audit(command: AuditCommand, store: &Store) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify => {
            let report = store.verify_audit().await?;
            match report.first_broken {
                None => println!("audit log intact: {} entries verified", report.checked),
                Some(b) => {
                    println!(
                        "audit log BROKEN at entry {}: {} ({} entries before it verified)",
                        b.id, b.reason, report.checked
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    Ok(())
}

/// `gm-server cmd`: POSTs the line to `/api/v1/commands` and prints the answer; exits 1 when
/// the command did not run.
pub(crate) async fn run_command(
    url: &str,
    token: &str,
    ca: &std::path::Path,
    line: &str,
    server: Option<&str>,
) -> anyhow::Result<()> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .build()?;
    let resp = client
        .post(format!("{}/api/v1/commands", url.trim_end_matches('/')))
        .bearer_auth(token)
        .json(&serde_json::json!({ "line": line, "server": server }))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("the answer is not JSON")?;
    if !status.is_success() {
        bail!(
            "{status}: {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("request refused")
        );
    }
    println!("{}", body["text"].as_str().unwrap_or_default());
    if let Some(fields) = body["fields"].as_array() {
        for f in fields {
            println!(
                "  {} = {}",
                f["key"].as_str().unwrap_or(""),
                f["value"].as_str().unwrap_or("")
            );
        }
    }
    if body["ok"] != true {
        std::process::exit(1);
    }
    Ok(())
}
