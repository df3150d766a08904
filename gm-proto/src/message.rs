//! The messages exchanged between a game server (through gm-sdk) and gm-server.
//!
//! Every frame carries exactly one [`Message`]. Variants are only ever appended, so a message
//! table in an older peer stays valid; variants `Hello` (0), `Welcome` (1) and `Reject` (2) and
//! the first field of [`Hello`] are frozen forever, because they are what two peers speaking
//! different protocol versions must still understand to tell each other so.

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks by default.
pub const PROTOCOL_VERSION: u16 = 1;

/// Every protocol version this crate can speak, oldest first.
pub const SUPPORTED_VERSIONS: &[u16] = &[1];

/// Longest identifier (server id, name, region, build, SDK version) accepted in a [`Hello`].
pub const MAX_IDENT_LEN: usize = 128;

/// Longest game-server key accepted in a [`Hello`].
pub const MAX_KEY_LEN: usize = 256;

/// One protocol message; the payload of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Client → server, first frame of a session. Frozen layout (see module docs).
    Hello(Hello),
    /// Server → client: the handshake succeeded.
    Welcome(Welcome),
    /// Server → client: the handshake failed; the server closes the connection after it.
    /// Frozen layout (see module docs).
    Reject(Reject),
    /// Either direction: liveness probe; the peer answers with [`Message::Pong`].
    Ping {
        /// Echoed back in the pong so the sender can measure the round trip.
        nonce: u64,
    },
    /// Either direction: answer to a [`Message::Ping`].
    Pong {
        /// The nonce of the ping being answered.
        nonce: u64,
    },
    /// Server → client: run a command on the game server.
    CommandRequest(CommandRequest),
    /// Client → server: the result of a [`CommandRequest`].
    CommandReply(CommandReply),
    /// Server → client: the server is going away; reconnect after a short delay.
    ShuttingDown {
        /// Human-readable reason, for logs.
        reason: String,
    },
    /// Client → server: players online now, sent after every welcome so the fleet directory
    /// resynchronizes after a reconnect. Replaces what the server knew of this game server.
    PlayerSnapshot {
        /// Everyone online.
        players: Vec<PlayerInfo>,
    },
    /// Client → server: a player joined.
    PlayerJoined(PlayerInfo),
    /// Client → server: a player left.
    PlayerLeft {
        /// Their account id.
        account_id: u64,
    },
    /// Client → server: a player typed a slash command that the game server does not run
    /// locally; gm-server authorizes it with the role linked to the account and answers with
    /// [`Message::InGameReply`].
    InGameCommand {
        /// Correlates the reply (chosen by the client).
        ticket: u64,
        /// Who typed it.
        account_id: u64,
        /// The line as typed.
        line: String,
    },
    /// Server → client: the answer to an [`Message::InGameCommand`], to show to the player.
    InGameReply {
        /// The ticket of the command.
        ticket: u64,
        /// What to show.
        outcome: CommandOutcome,
    },
    /// Client → server: the game's own commands (beside gm-server's built-ins), sent after
    /// every welcome, so gm-server can authorize and route them from the API.
    GameCommands {
        /// The specs.
        specs: Vec<crate::command::CommandSpec>,
    },
    /// Server → client: every in-game account linked to a staff identity, with its role. The
    /// game runs its own commands locally for these accounts without a round trip. Replaces the
    /// previous roster; sent after every welcome and whenever links or roles change.
    Roster {
        /// Account id and role.
        entries: Vec<(u64, crate::command::Role)>,
    },
    /// Client → server: a game command ran locally for a rostered account; gm-server audits
    /// it (and checks the account really has the role).
    LocalCommandRan {
        /// Who typed it.
        account_id: u64,
        /// The line.
        line: String,
        /// What it did.
        outcome: CommandOutcome,
    },
    /// Client → server, on the telemetry stream: one interval's metric deltas.
    Metrics(crate::telemetry::MetricBatch),
    /// Client → server, on the telemetry stream: a batch of events.
    Events(crate::telemetry::EventBatch),
    /// Server → client: every telemetry frame of SDK instance `instance` up to and including
    /// `seq` has been applied (metrics) or stored (events); the SDK may forget them. Frames it
    /// still holds are sent again on the next session, and gm-server skips what it already
    /// has.
    TelemetryAck {
        /// The SDK instance the frames came from.
        instance: u64,
        /// The highest frame sequence number done, with every one before it.
        seq: u64,
    },
}

/// A player as the fleet directory knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// Account id, stable across sessions.
    pub account_id: u64,
    /// Character name shown in game.
    pub name: String,
}

impl Message {
    /// A short, stable name of the variant, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Reject(_) => "reject",
            Message::Ping { .. } => "ping",
            Message::Pong { .. } => "pong",
            Message::CommandRequest(_) => "command-request",
            Message::CommandReply(_) => "command-reply",
            Message::ShuttingDown { .. } => "shutting-down",
            Message::PlayerSnapshot { .. } => "player-snapshot",
            Message::PlayerJoined(_) => "player-joined",
            Message::PlayerLeft { .. } => "player-left",
            Message::InGameCommand { .. } => "in-game-command",
            Message::InGameReply { .. } => "in-game-reply",
            Message::GameCommands { .. } => "game-commands",
            Message::Roster { .. } => "roster",
            Message::LocalCommandRan { .. } => "local-command-ran",
            Message::Metrics(_) => "metrics",
            Message::Events(_) => "events",
            Message::TelemetryAck { .. } => "telemetry-ack",
        }
    }
}

/// The handshake a game server opens its session with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version the client speaks. Must stay the first field.
    pub protocol_version: u16,
    /// Stable id of this game server, unique in the fleet (for example `eu-1-shard-3`).
    pub server_id: String,
    /// Display name shown to operators.
    pub server_name: String,
    /// Region label (for example `eu-west`).
    pub region: String,
    /// The game build this server runs.
    pub game_build: String,
    /// Version of gm-sdk the game server links.
    pub sdk_version: String,
    /// The game-server key issued by `gm-server keys create`.
    pub key: String,
}

impl Hello {
    /// Checks the field bounds every server enforces before it looks at the key.
    pub fn validate(&self) -> Result<(), String> {
        let idents = [
            ("server_id", &self.server_id),
            ("server_name", &self.server_name),
            ("region", &self.region),
            ("game_build", &self.game_build),
            ("sdk_version", &self.sdk_version),
        ];
        for (name, value) in idents {
            if value.chars().count() > MAX_IDENT_LEN {
                return Err(format!("{name} is longer than {MAX_IDENT_LEN} characters"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{name} contains control characters"));
            }
        }
        if self.server_id.is_empty() {
            return Err("server_id must not be empty".into());
        }
        if self.key.is_empty() || self.key.len() > MAX_KEY_LEN {
            return Err(format!("key must be 1 to {MAX_KEY_LEN} bytes"));
        }
        Ok(())
    }
}

/// The server's answer to an accepted [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version both sides now speak.
    pub protocol_version: u16,
    /// Id of this session on the server, for correlating logs.
    pub session_id: u64,
    /// How often each side should ping the other, in milliseconds.
    pub heartbeat_interval_ms: u32,
    /// gm-server's version, for logs.
    pub server_version: String,
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectCode {
    /// The client's protocol version is not spoken by this server.
    UnsupportedVersion,
    /// The key is not known to the server, or is bound to other server ids.
    InvalidKey,
    /// The key was revoked by an operator.
    RevokedKey,
    /// The server is at its connection cap.
    ServerFull,
    /// The server is shutting down.
    ShuttingDown,
    /// The hello was malformed (a field out of bounds).
    InvalidHello,
    /// The server cannot check keys right now (its store is unreachable); retry later.
    Unavailable,
}

impl RejectCode {
    /// True when retrying with the same configuration cannot succeed without an operator.
    pub fn needs_operator(self) -> bool {
        matches!(
            self,
            RejectCode::UnsupportedVersion
                | RejectCode::InvalidKey
                | RejectCode::RevokedKey
                | RejectCode::InvalidHello
        )
    }
}

/// A refused handshake. Frozen layout (see module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// Machine-readable reason.
    pub code: RejectCode,
    /// Human-readable reason, safe to log on both sides.
    pub message: String,
    /// Protocol versions the server speaks, so the client can say what to upgrade.
    pub supported_versions: Vec<u16>,
}

/// Identifies one request within a session; replies carry the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A command for the game server to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    /// Correlates the reply.
    pub id: RequestId,
    /// Command name without the slash, for example `status`.
    pub command: String,
    /// Arguments, already split.
    pub args: Vec<String>,
    /// Who issued it (admin or GM name), for the game's own logs.
    pub issued_by: String,
}

/// The result of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The id of the request being answered.
    pub id: RequestId,
    /// What happened.
    pub outcome: CommandOutcome,
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// The command ran.
    Ok {
        /// Text shown to whoever issued the command.
        text: String,
        /// Structured values (for example `players = 12`), shown as a table or used by tools.
        fields: Vec<(String, String)>,
    },
    /// The command failed.
    Error {
        /// Machine-readable kind of failure.
        code: CommandErrorCode,
        /// Text shown to whoever issued the command.
        message: String,
    },
}

impl CommandOutcome {
    /// A successful outcome with text only.
    pub fn ok(text: impl Into<String>) -> Self {
        CommandOutcome::Ok {
            text: text.into(),
            fields: Vec::new(),
        }
    }

    /// A failed outcome.
    pub fn error(code: CommandErrorCode, message: impl Into<String>) -> Self {
        CommandOutcome::Error {
            code,
            message: message.into(),
        }
    }

    /// The value of a structured field, if present.
    pub fn field(&self, key: &str) -> Option<&str> {
        match self {
            CommandOutcome::Ok { fields, .. } => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            CommandOutcome::Error { .. } => None,
        }
    }
}

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandErrorCode {
    /// The game server does not know the command.
    UnknownCommand,
    /// The arguments were wrong.
    BadArguments,
    /// The game ran the command and it failed.
    Failed,
    /// The game did not answer in time.
    Timeout,
    /// The game server could not take the command (queue full, shutting down).
    Unavailable,
}
