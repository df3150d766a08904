//! What the game can ask about the connection to gm-server.

use std::time::Instant;

/// State of the connection to gm-server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Trying to connect (first time or after losing the connection).
    Connecting {
        /// Attempts made since the last successful session.
        attempt: u32,
        /// Why the previous attempt or session ended, if any.
        last_error: Option<String>,
    },
    /// Connected and authenticated.
    Connected {
        /// Session id given by gm-server, for correlating its logs.
        session_id: u64,
        /// When the session was established.
        since: Instant,
    },
    /// gm-server refused this game server in a way retrying will not fix without an operator
    /// (wrong key, revoked key, protocol version, certificate). The SDK keeps retrying at its
    /// longest backoff, so fixing it on the server side is enough.
    Refused {
        /// What kind of refusal.
        kind: RefusalKind,
        /// The reason, in words fit for a log.
        reason: String,
    },
    /// The driver stopped (shutdown was requested or every handle was dropped).
    Stopped,
}

impl ConnectionStatus {
    /// True when connected.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionStatus::Connected { .. })
    }
}

/// Why gm-server (or its certificate) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// gm-server does not know the key, or the key is bound to other server ids (see
    /// `gm-server keys list`).
    InvalidKey,
    /// The key was revoked.
    RevokedKey,
    /// gm-server does not speak our protocol version.
    UnsupportedVersion,
    /// gm-server found the hello malformed (for example an over-long server id).
    InvalidHello,
    /// gm-server's certificate did not match the pinned fingerprint or the CA.
    Certificate,
    /// Another game server connected with the same server id and took over the session.
    DuplicateServerId,
}

/// Figures the game reports each tick, answered by the built-in `status` command without
/// touching the game thread.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GameStatus {
    /// Players online.
    pub players: u32,
    /// Measured ticks per second.
    pub tick_rate_hz: f32,
}
