//! Configuring a [`GmClient`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::backoff::Backoff;
use crate::client::GmClient;
use crate::command::{CommandHandler, CommandOutcome, CommandSpec, IncomingCommand};
use crate::driver;
use crate::tls::{ServerTrust, parse_fingerprint};

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No way to trust gm-server's certificate was chosen.
    #[error("choose how to trust gm-server: pin_fingerprint(...) or trust_ca_file(...)")]
    NoTrust,
    /// The key is empty.
    #[error("a game-server key is required (create one with `gm-server keys create`)")]
    NoKey,
    /// The server id is empty or too long.
    #[error("server id must be 1 to {} characters", gm_proto::MAX_IDENT_LEN)]
    BadServerId,
    /// The fingerprint is not 32 bytes of hex.
    #[error("{0:?} is not a SHA-256 fingerprint (64 hex digits, colons optional)")]
    BadFingerprint(String),
    /// The CA file could not be read.
    #[error("cannot use CA file {0}: {1}")]
    CaFile(std::path::PathBuf, String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A game command could not be registered.
    #[error("invalid game command: {0}")]
    Command(#[from] gm_proto::command::RegistryError),
    /// The driver thread or runtime could not start.
    #[error("cannot start the SDK driver: {0}")]
    Runtime(String),
}

/// Builds a [`GmClient`]. Every setting but the address, trust and key has a default.
///
/// ```no_run
/// let client = gm_sdk::GmClient::builder("gm.example.net:7400")
///     .pin_fingerprint("53:9E:75:7E:8B:0A:35:EE:6F:18:01:96:28:CB:E5:8C:2B:FC:F0:ED:8C:23:59:1E:94:D3:DF:7F:09:50:4B:C9")
///     .key(std::env::var("GM_KEY").unwrap_or_default())
///     .server_id("eu-1")
///     .spawn()?;
/// # Ok::<(), gm_sdk::BuildError>(())
/// ```
#[must_use]
pub struct GmClientBuilder {
    pub(crate) addr: String,
    pub(crate) server_name: Option<String>,
    pub(crate) trust: Option<ServerTrust>,
    pub(crate) key: String,
    pub(crate) server_id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) region: String,
    pub(crate) game_build: String,
    pub(crate) protocol_version: u16,
    pub(crate) backoff: Backoff,
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) command_queue: usize,
    pub(crate) handler: Option<Arc<CommandHandler>>,
    pub(crate) registry: gm_proto::command::Registry,
    pub(crate) registry_error: Option<gm_proto::command::RegistryError>,
    pub(crate) telemetry: TelemetryConfig,
}

/// How the SDK ships telemetry. Every field has a default.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// How often metric deltas are sent (default 1 s).
    pub interval: Duration,
    /// How often event rings are drained when they are not busy (default 50 ms; a busy ring
    /// is drained as fast as the connection takes it).
    pub event_flush: Duration,
    /// Events each [`GmClient::event_writer`] ring holds before it drops and counts (default
    /// 65,536: 2 MiB). This is what bounds memory while gm-server is unreachable.
    pub event_ring_capacity: usize,
    /// Metric series the registry holds; later ones are recorded into `telemetry_overflow_*`
    /// and counted (default 10,000).
    pub max_series: usize,
    /// Names of event kinds, sent to gm-server so it can count events by name.
    pub event_kinds: Vec<(u32, String)>,
    /// Bytes of telemetry frames sent and not yet acknowledged by gm-server (default 16 MiB):
    /// kept to send again after a reconnect. When it is full, events wait in their rings;
    /// only if gm-server stops acknowledging altogether does it grow to twice this, and then
    /// the oldest frames are forgotten and counted as dropped.
    pub max_unacked_bytes: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            interval: Duration::from_secs(1),
            event_flush: Duration::from_millis(50),
            event_ring_capacity: 65_536,
            max_series: 10_000,
            event_kinds: Vec::new(),
            max_unacked_bytes: 16 << 20,
        }
    }
}

impl std::fmt::Debug for GmClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmClientBuilder")
            .field("addr", &self.addr)
            .field("server_id", &self.server_id)
            .field("trust", &self.trust)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl GmClientBuilder {
    pub(crate) fn new(addr: impl Into<String>) -> Self {
        GmClientBuilder {
            addr: addr.into(),
            server_name: None,
            trust: None,
            key: String::new(),
            server_id: String::new(),
            display_name: None,
            region: String::new(),
            game_build: String::new(),
            protocol_version: gm_proto::PROTOCOL_VERSION,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            command_queue: 256,
            handler: None,
            registry: gm_proto::command::Registry::new(),
            registry_error: None,
            telemetry: TelemetryConfig::default(),
        }
    }

    /// Telemetry settings (see [`TelemetryConfig`]).
    pub fn telemetry(mut self, config: TelemetryConfig) -> Self {
        self.telemetry = config;
        self
    }

    /// Names an event kind: events emitted with `kind` are counted under `name` by gm-server.
    ///
    /// ```
    /// const PLAYER_DIED: u32 = 1;
    /// let builder = gm_sdk::GmClient::builder("gm.example.net:7400")
    ///     .event_kind(PLAYER_DIED, "player_died");
    /// ```
    pub fn event_kind(mut self, kind: u32, name: impl Into<String>) -> Self {
        self.telemetry.event_kinds.push((kind, name.into()));
        self
    }

    /// Names several event kinds (see [`event_kind`](Self::event_kind)).
    pub fn event_kinds<N: Into<String>>(self, kinds: impl IntoIterator<Item = (u32, N)>) -> Self {
        kinds
            .into_iter()
            .fold(self, |b, (kind, name)| b.event_kind(kind, name))
    }

    /// Trust exactly the certificate with this SHA-256 fingerprint (printed by gm-server).
    pub fn pin_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.trust = Some(ServerTrust::Fingerprint(fingerprint.into()));
        self
    }

    /// Trust certificates issued by the CA in this PEM file.
    pub fn trust_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trust = Some(ServerTrust::CaFile(path.into()));
        self
    }

    /// Accept any certificate: anyone on the network path can impersonate gm-server.
    /// For local experiments only.
    pub fn dangerous_insecure_accept_any_certificate(mut self) -> Self {
        self.trust = Some(ServerTrust::InsecureAcceptAnyCertificate);
        self
    }

    /// Sets the trust policy directly.
    pub fn trust(mut self, trust: ServerTrust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Host name checked against the certificate with a CA (default: the address's host).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The game-server key from `gm-server keys create`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Stable id of this game server in the fleet.
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = id.into();
        self
    }

    /// Display name (default: the server id).
    pub fn server_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// Region label.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The game build this server runs.
    pub fn game_build(mut self, build: impl Into<String>) -> Self {
        self.game_build = build.into();
        self
    }

    /// Reconnect policy (default 200 ms doubling to 30 s, with jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long one connection attempt may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// A gm-server silent for this long is considered gone (default 15 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Commands buffered for the game loop before more are refused as busy (default 256).
    pub fn command_queue(mut self, capacity: usize) -> Self {
        self.command_queue = capacity.max(1);
        self
    }

    /// Registers a game command (beside gm-server's built-ins). gm-server learns it at each
    /// connection, so staff can run it from the API or another game server; GMs typing it
    /// in this game run it locally, authorized by the roster gm-server pushes.
    ///
    /// ```
    /// use gm_sdk::{Arg, CommandSpec, GmClient, Role};
    /// let builder = GmClient::builder("gm.example.net:7400").command(
    ///     CommandSpec::new("tp", "Teleport a player")
    ///         .arg(Arg::player("player"))
    ///         .arg(Arg::float("x", -1e4, 1e4))
    ///         .arg(Arg::float("y", -1e4, 1e4))
    ///         .role(Role::GameMaster),
    /// );
    /// ```
    pub fn command(mut self, spec: CommandSpec) -> Self {
        if let Err(e) = self.registry.register(spec)
            && self.registry_error.is_none()
        {
            self.registry_error = Some(e);
        }
        self
    }

    /// Registers several game commands (see [`command`](Self::command)).
    pub fn commands(self, specs: impl IntoIterator<Item = CommandSpec>) -> Self {
        specs.into_iter().fold(self, Self::command)
    }

    /// Answers commands on the driver the moment they arrive (see [`CommandHandler`]).
    pub fn on_command(
        mut self,
        handler: impl Fn(&IncomingCommand) -> Option<CommandOutcome> + Send + Sync + 'static,
    ) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Speaks another protocol version; only for testing version negotiation.
    #[doc(hidden)]
    pub fn protocol_version(mut self, version: u16) -> Self {
        self.protocol_version = version;
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        if let Some(e) = &self.registry_error {
            return Err(BuildError::Command(e.clone()));
        }
        match &self.trust {
            None => return Err(BuildError::NoTrust),
            Some(ServerTrust::Fingerprint(fp)) => {
                parse_fingerprint(fp)?;
            }
            Some(_) => {}
        }
        if self.key.is_empty() {
            return Err(BuildError::NoKey);
        }
        if self.server_id.is_empty() || self.server_id.chars().count() > gm_proto::MAX_IDENT_LEN {
            return Err(BuildError::BadServerId);
        }
        Ok(())
    }

    /// The client handle and the driver future, for games that run tokio: spawn the driver on
    /// your runtime. The driver ends when [`GmClient::shutdown`] is called or every handle is
    /// dropped.
    pub fn build(self) -> Result<(GmClient, Driver), BuildError> {
        self.validate()?;
        let (client, fut) = driver::start(self)?;
        Ok((
            client,
            Driver {
                inner: Box::pin(fut),
            },
        ))
    }

    /// For games without tokio: runs the driver on a thread of its own and returns the handle.
    pub fn spawn(self) -> Result<GmClient, BuildError> {
        let (client, driver) = self.build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BuildError::Runtime(e.to_string()))?;
        std::thread::Builder::new()
            .name("gm-sdk-driver".into())
            .spawn(move || runtime.block_on(driver))
            .map_err(|e| BuildError::Runtime(e.to_string()))?;
        Ok(client)
    }
}

/// The future that owns the connection to gm-server. Spawn it on a tokio runtime.
#[must_use = "the driver does nothing unless spawned or awaited"]
pub struct Driver {
    inner: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

impl Future for Driver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}
