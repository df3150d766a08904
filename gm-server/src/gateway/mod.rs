//! The gateway: accepts game servers over QUIC, authenticates them, keeps the directory of
//! connected servers and routes commands to them.

mod connection;
mod presence;

pub use presence::{PlayerLocation, Presence};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use gm_proto::CommandOutcome;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::Store;

/// How many recent connection failures are kept for operators.
const RECENT_FAILURES: usize = 256;

/// A connected game server, as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameServerInfo {
    /// Id from its hello.
    pub server_id: String,
    /// Display name.
    pub name: String,
    /// Region label.
    pub region: String,
    /// Game build.
    pub game_build: String,
    /// SDK version.
    pub sdk_version: String,
    /// Name of the key it used.
    pub key_name: String,
    /// Its address.
    pub remote_addr: SocketAddr,
    /// Session id given in the welcome.
    pub session_id: u64,
}

/// Why a connection attempt or a session ended badly; kept so operators can see why a game
/// server is not connected without reading logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    /// Peer address.
    pub remote_addr: SocketAddr,
    /// Server id, when the hello was read.
    pub server_id: Option<String>,
    /// What went wrong.
    pub kind: FailureKind,
    /// Human-readable detail, as logged.
    pub reason: String,
}

/// Category of a [`ConnectionFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// TLS or QUIC handshake failed (wrong certificate pinned, not our ALPN, …).
    Tls,
    /// Unknown key.
    InvalidKey,
    /// Revoked key.
    RevokedKey,
    /// A key bound to other game-server ids than the one in the hello.
    KeyNotForServer,
    /// Protocol version not spoken here.
    UnsupportedVersion,
    /// Malformed hello fields.
    InvalidHello,
    /// Over the connection cap.
    ServerFull,
    /// Refused because gm-server is shutting down.
    ShuttingDown,
    /// Malformed or oversized frame, or an unexpected message.
    ProtocolError,
    /// Handshake or idle timeout.
    Timeout,
}

/// Counters of the gateway, read by tests and (later) `/metrics`.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// QUIC connections accepted.
    pub accepted: AtomicU64,
    /// Sessions that completed the handshake.
    pub established: AtomicU64,
    /// Handshakes refused (any reason).
    pub rejected: AtomicU64,
    /// Connections closed for a protocol error.
    pub protocol_errors: AtomicU64,
    /// Frames received.
    pub frames_in: AtomicU64,
    /// Frames sent.
    pub frames_out: AtomicU64,
}

/// Why a command did not get an answer from the game.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No game server with that id is connected.
    #[error("game server {0:?} is not connected")]
    NotConnected(String),
    /// The game did not reply in time.
    #[error("game server did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection ended before the reply came.
    #[error("game server disconnected before answering")]
    Disconnected,
    /// Too many commands are in flight to that game server.
    #[error("game server is busy: {0}")]
    Busy(String),
}

/// Sent from the gateway to one connection's driver.
#[derive(Debug)]
pub(crate) enum ToConnection {
    Command {
        command: String,
        args: Vec<String>,
        issued_by: String,
        reply: oneshot::Sender<Result<CommandOutcome, CommandError>>,
    },
    InGameReply {
        ticket: u64,
        outcome: CommandOutcome,
    },
    Roster(Vec<(u64, gm_proto::command::Role)>),
    TelemetryAck {
        instance: u64,
        seq: u64,
    },
    /// The session's key no longer admits it (revoked, or bound to other ids since).
    End {
        kind: FailureKind,
        reason: String,
    },
}

#[derive(Debug)]
pub(crate) struct Entry {
    info: GameServerInfo,
    tx: mpsc::Sender<ToConnection>,
    replaced: CancellationToken,
    /// The key the session authenticated with, to check again when keys change.
    key_id: i64,
    /// Set once the session has been told to end, so it is told (and audited) once.
    ending: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) events: crate::events::EventBus,
    pub(crate) telemetry: crate::telemetry::Telemetry,
    pub(crate) presence: Presence,
    pub(crate) registry: gm_proto::command::Registry,
    /// Each connected game server's own commands.
    pub(crate) game_commands: DashMap<String, Arc<gm_proto::command::Registry>>,
    pub(crate) config: crate::config::QuicConfig,
    pub(crate) directory: DashMap<String, Entry>,
    pub(crate) stats: GatewayStats,
    pub(crate) failures: Mutex<VecDeque<ConnectionFailure>>,
    pub(crate) connections: AtomicUsize,
    pub(crate) next_session: AtomicU64,
    /// The staff roster as last sent to game servers, to tell when the store's has changed.
    pub(crate) sent_roster: Mutex<Option<Roster>>,
    /// Cancelled when the server starts shutting down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

/// Accounts with a staff role, as game servers receive them.
pub(crate) type Roster = Vec<(u64, gm_proto::command::Role)>;

/// Handle to the gateway; cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl Gateway {
    pub(crate) fn new(
        store: Store,
        config: crate::config::QuicConfig,
        events: crate::events::EventBus,
        telemetry: crate::telemetry::Telemetry,
    ) -> Gateway {
        Gateway {
            inner: Arc::new(Inner {
                store,
                events,
                telemetry,
                presence: Presence::default(),
                registry: crate::commands::server_registry(),
                game_commands: DashMap::new(),
                config,
                directory: DashMap::new(),
                stats: GatewayStats::default(),
                failures: Mutex::new(VecDeque::new()),
                connections: AtomicUsize::new(0),
                // Random start: session ids stay distinct across restarts in logs.
                next_session: AtomicU64::new(rand::random::<u32>() as u64 + 1),
                sent_roster: Mutex::new(None),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    /// Accepts connections on `endpoint` until shutdown begins.
    pub(crate) async fn accept_loop(self, endpoint: quinn::Endpoint) {
        let inner = &self.inner;
        loop {
            let incoming = tokio::select! {
                _ = inner.shutdown.cancelled() => break,
                incoming = endpoint.accept() => match incoming {
                    Some(i) => i,
                    None => break,
                },
            };
            // Hard cap well above the soft one: past it we do not even spend a TLS handshake.
            if inner.connections.load(Ordering::Relaxed) >= inner.config.max_connections * 2 + 16 {
                incoming.refuse();
                continue;
            }
            inner.stats.accepted.fetch_add(1, Ordering::Relaxed);
            let gateway = self.clone();
            inner.tasks.spawn(connection::run(gateway, incoming));
        }
        inner.tasks.close();
    }

    /// Game servers connected now, sorted by id.
    pub fn connected(&self) -> Vec<GameServerInfo> {
        let mut list: Vec<_> = self
            .inner
            .directory
            .iter()
            .map(|e| e.info.clone())
            .collect();
        list.sort_by(|a, b| a.server_id.cmp(&b.server_id));
        list
    }

    /// Whether a game server with this id is connected.
    pub fn is_connected(&self, server_id: &str) -> bool {
        self.inner.directory.contains_key(server_id)
    }

    /// Sends a command to one game server and waits for its reply (bounded by the command
    /// timeout).
    pub async fn send_command(
        &self,
        server_id: &str,
        command: &str,
        args: Vec<String>,
        issued_by: &str,
    ) -> Result<CommandOutcome, CommandError> {
        let tx = self
            .inner
            .directory
            .get(server_id)
            .map(|e| e.tx.clone())
            .ok_or_else(|| CommandError::NotConnected(server_id.to_string()))?;
        let (reply, rx) = oneshot::channel();
        tx.try_send(ToConnection::Command {
            command: command.to_string(),
            args,
            issued_by: issued_by.to_string(),
            reply,
        })
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CommandError::Busy("command queue full".into()),
            mpsc::error::TrySendError::Closed(_) => CommandError::Disconnected,
        })?;
        // The session times the command out itself; this bound only guards against a
        // connection task that is stuck writing to a peer that stopped reading.
        let bound = Duration::from_millis(self.inner.config.command_timeout_ms)
            + Duration::from_millis(self.inner.config.idle_timeout_ms);
        match tokio::time::timeout(bound, rx).await {
            Ok(reply) => reply.unwrap_or(Err(CommandError::Disconnected)),
            Err(_) => Err(CommandError::Timeout(bound)),
        }
    }

    /// The most recent connection failures, newest last.
    pub fn recent_failures(&self) -> Vec<ConnectionFailure> {
        self.inner.failures.lock().iter().cloned().collect()
    }

    /// Game telemetry: the fleet's metrics and the events store.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.inner.telemetry
    }

    /// Gateway counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.inner.stats
    }

    /// QUIC connections open now, authenticated or not.
    pub fn open_connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    pub(crate) fn record_failure(&self, failure: ConnectionFailure) {
        tracing::warn!(
            remote = %failure.remote_addr,
            server_id = failure.server_id.as_deref().unwrap_or("-"),
            kind = ?failure.kind,
            "game server connection failed: {}",
            failure.reason
        );
        let mut failures = self.inner.failures.lock();
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    /// The staff roster as game servers receive it (sorted by account), noted as the one
    /// last sent to all of them: call it to send it to every game server.
    pub(crate) async fn roster_to_send(&self) -> Result<Roster, crate::store::StoreError> {
        let roster = self.load_roster().await?;
        *self.inner.sent_roster.lock() = Some(roster.clone());
        Ok(roster)
    }

    /// The staff roster as game servers receive it, for one game server (its handshake).
    /// Not noted as sent: the others may still hold an older one, which the refresh loop
    /// must still see as a change.
    pub(crate) async fn load_roster(&self) -> Result<Roster, crate::store::StoreError> {
        let mut roster: Roster = self
            .inner
            .store
            .staff_roster()
            .await?
            .into_iter()
            .filter_map(|(account, role)| Some((u64::try_from(account).ok()?, role.parse().ok()?)))
            .collect();
        roster.sort_unstable();
        Ok(roster)
    }

    /// Sends the current roster to every connected game server (after a link or role change).
    pub fn push_roster(&self) {
        let gateway = self.clone();
        tokio::spawn(async move {
            match gateway.roster_to_send().await {
                Ok(roster) => gateway.send_roster_to_all(roster),
                Err(e) => tracing::error!("could not load the staff roster: {e}"),
            }
        });
    }

    fn send_roster_to_all(&self, roster: Roster) {
        for entry in self.inner.directory.iter() {
            let _ = entry.tx.try_send(ToConnection::Roster(roster.clone()));
        }
    }

    /// Reads the roster every `quic.roster_refresh_ms` and sends it to every game server when
    /// it differs from the one last sent: roles and links changed by another gm-server
    /// instance on the same database (or anything else writing to it) reach the games within
    /// that time. Each round also ends the sessions whose key no longer admits them
    /// ([`Gateway::recheck_keys`]).
    pub(crate) async fn roster_refresh_loop(self) {
        let period = Duration::from_millis(self.inner.config.roster_refresh_ms.max(100));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let before = self.inner.sent_roster.lock().clone();
            self.recheck_keys().await;
            match self.roster_to_send().await {
                Ok(roster) if before.as_ref() != Some(&roster) => {
                    if before.is_some() {
                        tracing::info!(
                            entries = roster.len(),
                            "the staff roster changed outside this instance; sending it to game servers"
                        );
                    }
                    self.send_roster_to_all(roster);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("could not reload the staff roster: {e}"),
            }
        }
    }

    /// The fleet-wide player directory.
    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// Appends to the audit log and publishes the entry to live subscribers who may read it.
    pub async fn audit(
        &self,
        entry: crate::audit::NewAuditEntry,
    ) -> Result<(), crate::store::StoreError> {
        let record = self
            .inner
            .store
            .append_audit(&entry, crate::store::now_ms())
            .await?;
        self.inner.events.publish_with(
            "audit.appended",
            crate::auth::Permission::ViewAudit,
            || serde_json::to_value(&record).unwrap_or_default(),
        );
        Ok(())
    }

    /// Ends the sessions whose key was revoked, or bound to other server ids, since their
    /// handshake (by the CLI, another instance or a script), so that a revoke or a narrowed
    /// binding also reaches game servers already connected. Each one is audited. The game
    /// server's SDK reconnects and is refused at the handshake with the reason.
    async fn recheck_keys(&self) {
        if self.inner.directory.is_empty() {
            return;
        }
        let keys = match self.inner.store.list_keys().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!("could not check the keys of connected game servers: {e}");
                return;
            }
        };
        let keys: HashMap<i64, crate::store::KeyRecord> =
            keys.into_iter().map(|k| (k.id, k)).collect();
        for entry in self.inner.directory.iter() {
            let info = &entry.info;
            let (kind, reason) = match keys.get(&entry.key_id) {
                // Keys are never deleted: this session's key is newer than the list.
                None => continue,
                Some(k) if k.revoked_at_ms.is_some() => (
                    FailureKind::RevokedKey,
                    format!("game-server key {:?} has been revoked", k.name),
                ),
                Some(k) if !k.admits(&info.server_id) => (
                    FailureKind::KeyNotForServer,
                    format!(
                        "game-server key {:?} is not for server id {:?} any more",
                        k.name, info.server_id
                    ),
                ),
                Some(_) => continue,
            };
            if entry.ending.swap(true, Ordering::Relaxed) {
                continue;
            }
            let end = ToConnection::End {
                kind,
                reason: reason.clone(),
            };
            if entry.tx.try_send(end).is_err() {
                // Its queue is full: try again on the next round.
                entry.ending.store(false, Ordering::Relaxed);
                continue;
            }
            tracing::warn!(server_id = %info.server_id, key = %info.key_name, remote = %info.remote_addr, "ending a session: {reason}");
            self.audit_security(
                "game_server.disconnected",
                &info.server_id,
                info.remote_addr,
                &reason,
            );
        }
    }

    /// Audits a handshake refused for its key: a security event. Written in the background
    /// so the refusal is not delayed by the store.
    pub(crate) fn audit_rejection(&self, server_id: &str, remote: SocketAddr, reason: &str) {
        self.audit_security("game_server.rejected", server_id, remote, reason);
    }

    /// Audits, in the background, a game server refused or disconnected for its key.
    fn audit_security(&self, action: &str, server_id: &str, remote: SocketAddr, reason: &str) {
        let server_id: String = server_id.chars().take(128).collect();
        let entry = crate::audit::NewAuditEntry::new(
            server_id.clone(),
            crate::audit::Via::GameServer,
            action,
        )
        .source(remote.to_string())
        .target(format!("game_server:{server_id}"))
        .result(format!("denied: {reason}"));
        let gateway = self.clone();
        tokio::spawn(async move {
            if let Err(e) = gateway.audit(entry).await {
                tracing::error!("could not audit a game server's refusal or disconnection: {e}");
            }
        });
    }

    /// Begins shutdown: stops accepting, tells every game server, and waits (up to `drain`)
    /// for connections to finish.
    pub(crate) async fn shutdown(&self, drain: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(drain, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = self.open_connections(),
                "connections still open after the drain timeout; closing them"
            );
        }
    }
}
