//! The `gm-server` binary: a thin CLI over the `gm_server` library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gm_server::config::LogFormat;
use gm_server::{Config, RunningServer, Store, keys, logging, store, tls};

mod cli;

// The admin API allocates per row it decodes and serializes; glibc's allocator contended on
// its arenas under concurrent requests, mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use cli::{AdminCommand, AuditCommand, TokensCommand};

#[derive(Debug, Parser)]
#[command(
    name = "gm-server",
    version,
    about = "The central GM and telemetry server"
)]
struct Cli {
    /// TOML configuration file (see `gm-server config default`).
    #[arg(long, short, global = true, env = "GM_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (TLS identity, default SQLite database). Overrides the config file.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Store URL: postgres://… or sqlite://…; unset uses gm.db in the data directory.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log format. Overrides the config file.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until SIGTERM or Ctrl-C.
    Serve {
        /// QUIC address game servers connect to.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// HTTP address (health, admin API).
        #[arg(long)]
        http_listen: Option<std::net::SocketAddr>,
    },
    /// Manage game-server keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage staff accounts (the first admin can only be created here, on the server).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Create API tokens for automation.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run a GM command through the admin API, as the owner of an API token.
    Cmd {
        /// The command line, e.g. "/kick Bob spamming".
        line: String,
        /// The game server a command without a player goes to (a game command, `/announce here`).
        #[arg(long)]
        server: Option<String>,
        /// API token (create one with `gm-server tokens create`).
        #[arg(long, env = "GM_SERVER_TOKEN", hide_env_values = true)]
        token: String,
        /// Admin API base URL.
        #[arg(long, default_value = "https://localhost:7401")]
        url: String,
        /// CA (or self-signed certificate) to trust; default: the data directory's certificate.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Print the SHA-256 fingerprint of the TLS certificate (created if missing).
    Fingerprint,
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// A name for the key, usually the game server or fleet it is for (e.g. eu-1).
        #[arg(long)]
        name: String,
        /// The game-server ids that may use it, comma-separated; a trailing * makes a prefix
        /// (e.g. `eu-1` or `eu-*,test-eu`). Without it, any id may.
        #[arg(long)]
        servers: Option<String>,
    },
    /// Bind a key to the game-server ids that may use it; running gm-servers end the sessions
    /// it no longer admits within `quic.roster_refresh_ms`.
    Bind {
        /// The key's name.
        #[arg(long)]
        name: String,
        /// Comma-separated ids; a trailing * makes a prefix (e.g. `eu-*`).
        #[arg(long, required_unless_present = "any", conflicts_with = "any")]
        servers: Option<String>,
        /// Let any game-server id use the key again.
        #[arg(long)]
        any: bool,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key: running gm-servers end the sessions using it within
    /// `quic.roster_refresh_ms`, and refuse it at every handshake.
    Revoke {
        /// The key's name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration, with comments.
    Default,
    /// Print the configuration in effect (file + environment + flags).
    Show,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &cli.database_url {
        config.database.url = Some(url.clone());
    }
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    logging::init(config.log.format, &config.log.filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            http_listen,
        } => {
            if let Some(a) = listen {
                config.quic.listen = a;
            }
            if let Some(a) = http_listen {
                config.http.listen = a;
            }
            serve(config).await
        }
        Command::Keys { command } => keys_command(command, &config).await,
        Command::Admin { command } => {
            let store = open_store(&config).await?;
            let r = cli::admin(command, &store).await;
            store.close().await;
            r
        }
        Command::Tokens { command } => {
            let store = open_store(&config).await?;
            let r = cli::tokens(command, &store, &config).await;
            store.close().await;
            r
        }
        Command::Audit { command } => {
            let store = open_store(&config).await?;
            let r = cli::audit(command, &store).await;
            store.close().await;
            r
        }
        Command::Cmd {
            line,
            server,
            token,
            url,
            ca_file,
        } => {
            let ca = ca_file.unwrap_or_else(|| config.data_dir.join("tls/cert.pem"));
            cli::run_command(&url, &token, &ca, &line, server.as_deref()).await
        }
        Command::Fingerprint => {
            std::fs::create_dir_all(&config.data_dir)?;
            let id = tls::Identity::load_or_create(&config.data_dir, &config.quic.hostnames)?;
            println!("{}", id.fingerprint());
            Ok(())
        }
        Command::Config { command } => {
            match command {
                ConfigCommand::Default => print!("{}", Config::default_toml()),
                ConfigCommand::Show => println!("{config:#?}"),
            }
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let scheme = match config.http.tls {
        gm_server::config::HttpTls::Off => "http",
        _ => "https",
    };
    let server = RunningServer::start(config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "gm-server listening")?;
    writeln!(out, "  game servers (QUIC): {}", server.quic_addr())?;
    writeln!(
        out,
        "  HTTP:                {scheme}://{}",
        server.http_addr()
    )?;
    writeln!(out, "  certificate SHA-256: {}", server.fingerprint())?;
    out.flush()?;
    drop(out);
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)?;
    Ok(Store::open(
        config.database.url.as_deref(),
        &config.data_dir,
        config.database.max_connections,
    )
    .await?)
}

/// Audits a key's creation or binding with the ids it is bound to; returns them in words.
async fn audit_key_binding(
    store: &Store,
    action: &str,
    name: &str,
    servers: Option<&keys::ServerIds>,
) -> anyhow::Result<String> {
    let bound = servers.map(ToString::to_string);
    let params = serde_json::json!({ "servers": bound });
    cli::audit_cli_with(store, action, &format!("key:{name}"), params).await?;
    Ok(bound.map_or("any game-server id".to_string(), |ids| {
        format!("game-server ids {ids}")
    }))
}

async fn keys_command(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = match command {
        KeysCommand::Create { name, servers } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                bail!("a key name must be 1 to 64 printable characters");
            }
            let servers = servers.as_deref().map(keys::ServerIds::parse).transpose()?;
            let key = keys::generate();
            store
                .create_key_for(
                    name,
                    &key.hash,
                    &key.hint,
                    servers.as_ref(),
                    store::now_ms(),
                )
                .await?;
            let usable = audit_key_binding(&store, "key.create", name, servers.as_ref()).await?;
            println!("{}", key.secret);
            eprintln!(
                "key {name:?} created, for {usable}. This is the only time it is shown: store \
                 it in the game server's configuration now."
            );
            Ok(())
        }
        KeysCommand::Bind { name, servers, any } => {
            let name = name.trim();
            let servers = match (servers, any) {
                (_, true) => None,
                (Some(list), false) => Some(keys::ServerIds::parse(&list)?),
                (None, false) => bail!("give --servers or --any"),
            };
            if store.bind_key(name, servers.as_ref()).await? {
                let usable = audit_key_binding(&store, "key.bind", name, servers.as_ref()).await?;
                println!(
                    "key {name:?} is now for {usable}; running gm-servers end the sessions it \
                     no longer admits within quic.roster_refresh_ms"
                );
                Ok(())
            } else {
                Err(anyhow::anyhow!("no active key named {name:?}"))
            }
        }
        KeysCommand::List => {
            let keys = store.list_keys().await?;
            if keys.is_empty() {
                eprintln!(
                    "no keys yet: create one with `gm-server keys create --name <name> \
                     --servers <its server id>`"
                );
            }
            println!(
                "{:<24} {:<14} {:<10} {:<14} SERVERS",
                "NAME", "KEY", "STATE", "LAST USED (ms)"
            );
            for k in keys {
                let state = if k.revoked_at_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let used = k
                    .last_used_at_ms
                    .map_or("never".to_string(), |t| t.to_string());
                println!(
                    "{:<24} {:<14} {:<10} {:<14} {}",
                    k.name,
                    format!("{}…", k.hint),
                    state,
                    used,
                    k.server_ids.as_deref().unwrap_or("any")
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { name } => {
            let name = name.trim();
            if store.revoke_key(name, store::now_ms()).await? {
                cli::audit_cli(&store, "key.revoke", &format!("key:{name}")).await?;
                println!("key {name:?} revoked");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no active key named {name:?}"))
            }
        }
    };
    store.close().await;
    result
}
