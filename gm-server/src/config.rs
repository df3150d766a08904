//! gm-server configuration: a TOML file, overridden by `GM_SERVER_*` environment variables, overridden
//! by command-line flags. Every field has a default, so an empty file is a valid configuration.
//!
//! Environment variables name a field by its path, with `__` between levels:
//! `GM_SERVER_QUIC__LISTEN=0.0.0.0:7400`, `GM_SERVER_DATABASE__URL=postgres://…`,
//! `GM_SERVER_LOG__FORMAT=json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where gm-server keeps its TLS identity and, by default, its SQLite database.
    /// Default `./gm-data`.
    pub data_dir: PathBuf,
    /// The QUIC listener game servers connect to.
    pub quic: QuicConfig,
    /// The HTTP listener (health, readiness; later the admin API and dashboard).
    pub http: HttpConfig,
    /// The store.
    pub database: DatabaseConfig,
    /// Admin logins, sessions and tokens.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Game telemetry: metric aggregation and the events store.
    pub telemetry: TelemetryConfig,
}

/// Game telemetry settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Most game metric series held (over every game server); new ones past it are refused
    /// and counted in `gm_server_telemetry_series_refused_total`. Default 100,000.
    pub max_series: usize,
    /// Most of those one game server may hold. Default 20,000.
    pub max_series_per_server: usize,
    /// Hours events are kept in the store. Default 72.
    pub event_retention_hours: u64,
    /// Event chunks (up to 1 MiB each) waiting for the store before game servers' telemetry
    /// streams are slowed down (QUIC flow control pushes back to the SDK, whose rings then
    /// drop and count). Default 16.
    pub event_queue: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            max_series: 100_000,
            max_series_per_server: 20_000,
            event_retention_hours: 72,
            event_queue: 16,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("gm-data"),
            quic: QuicConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            log: LogConfig::default(),
            shutdown: ShutdownConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// QUIC listener settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuicConfig {
    /// Address to listen on. Default `0.0.0.0:7400`.
    pub listen: SocketAddr,
    /// Host names written into the self-signed certificate on first start.
    /// Default `["localhost"]`.
    pub hostnames: Vec<String>,
    /// Most game-server connections at once; more are refused with "server full". Default 2048.
    pub max_connections: usize,
    /// Largest frame accepted from a game server, in bytes. Default 1 MiB.
    pub max_frame_bytes: usize,
    /// Time a game server has to complete its handshake, in milliseconds. Default 10000.
    pub handshake_timeout_ms: u64,
    /// Heartbeat interval, in milliseconds. Default 5000.
    pub heartbeat_ms: u64,
    /// A game server silent for this long is disconnected, in milliseconds. Default 30000.
    pub idle_timeout_ms: u64,
    /// How long a command waits for the game's reply, in milliseconds. Default 5000.
    pub command_timeout_ms: u64,
    /// How often the staff roster (who may run game-local commands, with what role) is read
    /// again and sent to the game servers if it changed, in milliseconds. Changes made
    /// through this instance's API are sent at once; this bounds how long changes made by
    /// another gm-server instance on the same database take. The same round ends the
    /// sessions of game servers whose key was revoked, or bound to other ids, since they
    /// connected. Default 5000.
    pub roster_refresh_ms: u64,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            listen: "0.0.0.0:7400".parse().expect("valid"),
            hostnames: vec!["localhost".into()],
            max_connections: 2048,
            max_frame_bytes: gm_proto::DEFAULT_MAX_FRAME_LEN,
            handshake_timeout_ms: 10_000,
            heartbeat_ms: 5_000,
            idle_timeout_ms: 30_000,
            command_timeout_ms: 5_000,
            roster_refresh_ms: 5_000,
        }
    }
}

impl QuicConfig {
    /// The sans-IO session settings these values describe.
    pub fn session_config(&self) -> gm_proto::ServerConfig {
        gm_proto::ServerConfig {
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            heartbeat_interval: Duration::from_millis(self.heartbeat_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            command_timeout: Duration::from_millis(self.command_timeout_ms),
            server_version: env!("CARGO_PKG_VERSION").into(),
            ..gm_proto::ServerConfig::default()
        }
    }
}

/// HTTP listener settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:7401`.
    pub listen: SocketAddr,
    /// TLS on the HTTP listener. Default `self_signed`: the same certificate as QUIC.
    pub tls: HttpTls,
    /// Certificate chain (PEM) when `tls = "files"`.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) when `tls = "files"`.
    pub key_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:7401".parse().expect("valid"),
            tls: HttpTls::SelfSigned,
            cert_file: None,
            key_file: None,
        }
    }
}

/// How the HTTP listener is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpTls {
    /// HTTPS with gm-server's own certificate (the one game servers pin).
    SelfSigned,
    /// HTTPS with `cert_file` and `key_file`.
    Files,
    /// Plain HTTP. Session cookies and tokens cross the network in clear: only behind a
    /// TLS-terminating proxy on the same host. gm-server warns at start.
    Off,
}

/// Admin authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session unused for this long ends. Default 30.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, used or not. Default 12.
    pub session_absolute_hours: u64,
    /// Failed logins in a row before each further attempt must wait. Default 3.
    pub throttle_after: u32,
    /// First wait after `throttle_after` failures, doubling with each further one. Default 1000.
    pub throttle_base_ms: u64,
    /// Failed logins in a row that lock the account. Default 10.
    pub lockout_after: u32,
    /// How long an account stays locked. Default 15.
    pub lockout_minutes: u64,
    /// Failed logins from one address, within `address_window_minutes`, that lock the address
    /// out for that long. Default 30.
    pub address_lockout_after: u32,
    /// See `address_lockout_after`. Default 15.
    pub address_window_minutes: u64,
    /// Roles that must use a TOTP second factor. Default `["admin"]`.
    pub require_totp_for: Vec<crate::auth::Role>,
    /// Longest lifetime of an API token. Default 365.
    pub max_token_days: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            throttle_after: 3,
            throttle_base_ms: 1000,
            lockout_after: 10,
            lockout_minutes: 15,
            address_lockout_after: 30,
            address_window_minutes: 15,
            require_totp_for: vec![crate::auth::Role::Admin],
            max_token_days: 365,
        }
    }
}

/// Store settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL, `sqlite://path` for a given SQLite file, or unset for
    /// `gm.db` in the data directory. Default unset.
    pub url: Option<String>,
    /// Connections in the pool. Default 8.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 8,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Output format. Default `human`.
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` wins when set. Default `info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            filter: "info".into(),
        }
    }
}

/// Graceful shutdown settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long to wait for connections to drain before closing them, in milliseconds.
    /// Default 5000.
    pub drain_timeout_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout_ms: 5_000,
        }
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Defaults, then the TOML file at `path` if given (it must exist), then `GM_SERVER_*` variables.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    path.display()
                )))));
            }
            fig = fig.merge(Toml::file(path));
        }
        // GM_SERVER_CONFIG and GM_SERVER_TOKEN are CLI flags' variables, not settings.
        let env = Env::prefixed("GM_SERVER_")
            .split("__")
            .ignore(&["config", "token"]);
        fig.merge(env)
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }

    /// Defaults, but both listeners on loopback ephemeral ports and data in `data_dir`: for
    /// tests, benchmarks and embedding gm-server in another program.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Config {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid");
        Config {
            data_dir: data_dir.into(),
            quic: QuicConfig {
                listen: loopback,
                ..QuicConfig::default()
            },
            http: HttpConfig {
                listen: loopback,
                ..HttpConfig::default()
            },
            ..Config::default()
        }
    }

    /// The documented default configuration as TOML, for `gm-server config default`.
    pub fn default_toml() -> String {
        toml_like(&Config::default())
    }
}

fn toml_like(config: &Config) -> String {
    // Written by hand so the output carries comments; a test checks that it parses back to
    // the defaults.
    format!(
        r#"# gm-server configuration. Every value shown is the default.
# Any field can be overridden by an environment variable: GM_SERVER_<SECTION>__<FIELD>.
data_dir = "{data_dir}"

[quic]
listen = "{listen}"
hostnames = ["localhost"]
max_connections = {max_connections}
max_frame_bytes = {max_frame_bytes}
handshake_timeout_ms = {handshake}
heartbeat_ms = {heartbeat}
idle_timeout_ms = {idle}
command_timeout_ms = {command}
roster_refresh_ms = {roster}

[http]
listen = "{http}"
tls = "self_signed"   # or "files" (with cert_file and key_file), or "off" (plain HTTP)
# cert_file = "/etc/gm-server/cert.pem"
# key_file = "/etc/gm-server/key.pem"

[auth]
session_idle_minutes = 30
session_absolute_hours = 12
throttle_after = 3
throttle_base_ms = 1000
lockout_after = 10
lockout_minutes = 15
address_lockout_after = 30
address_window_minutes = 15
require_totp_for = ["admin"]
max_token_days = 365

[database]
# url = "postgres://gm@db.internal/gm"   # unset: SQLite file gm.db in data_dir
max_connections = {db_conns}

[log]
format = "human"   # or "json"
filter = "{filter}"

[shutdown]
drain_timeout_ms = {drain}

[telemetry]
max_series = {max_series}
max_series_per_server = {max_series_per_server}
event_retention_hours = {retention}
event_queue = {event_queue}
"#,
        data_dir = config.data_dir.display(),
        listen = config.quic.listen,
        max_connections = config.quic.max_connections,
        max_frame_bytes = config.quic.max_frame_bytes,
        handshake = config.quic.handshake_timeout_ms,
        heartbeat = config.quic.heartbeat_ms,
        idle = config.quic.idle_timeout_ms,
        command = config.quic.command_timeout_ms,
        roster = config.quic.roster_refresh_ms,
        http = config.http.listen,
        db_conns = config.database.max_connections,
        filter = config.log.filter,
        drain = config.shutdown.drain_timeout_ms,
        max_series = config.telemetry.max_series,
        max_series_per_server = config.telemetry.max_series_per_server,
        retention = config.telemetry.event_retention_hours,
        event_queue = config.telemetry.event_queue,
    )
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_parse_back_to_the_defaults() {
        let parsed: Config = Figment::from(Toml::string(&Config::default_toml()))
            .extract()
            .unwrap();
        assert_eq!(parsed, Config::default());
    }

    /// `gm-server config default` shows every setting, commented out where unset by default.
    #[test]
    fn documented_defaults_name_every_setting() {
        let doc = Config::default_toml();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut missing = Vec::new();
        for (key, value) in defaults.as_object().unwrap() {
            let fields: Vec<&String> = match value.as_object() {
                Some(section) => {
                    if !doc.contains(&format!("[{key}]")) {
                        missing.push(format!("[{key}]"));
                    }
                    section.keys().collect()
                }
                None => vec![key],
            };
            for field in fields {
                let shown = doc.lines().any(|l| {
                    l.trim_start_matches("# ")
                        .starts_with(&format!("{field} = "))
                });
                if !shown {
                    missing.push(format!("{key}.{field}"));
                }
            }
        }
        assert!(missing.is_empty(), "config default omits {missing:?}");
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gm.toml",
                "[quic]\nmax_connections = 5\n[log]\nformat = \"json\"\n",
            )?;
            jail.set_env("GM_SERVER_QUIC__MAX_CONNECTIONS", "7");
            jail.set_env("GM_UNRELATED_TOOL_SETTING", "ignored");
            let c = Config::load(Some(Path::new("gm.toml"))).unwrap();
            assert_eq!(c.quic.max_connections, 7);
            assert_eq!(c.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gm.toml", "[quic]\nmax_conections = 5\n")?;
            let err = Config::load(Some(Path::new("gm.toml"))).unwrap_err();
            assert!(err.to_string().contains("max_conections"), "{err}");
            Ok(())
        });
    }
}
