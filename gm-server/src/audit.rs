//! The audit log: one append-only, hash-chained record of every admin and GM action and every
//! security event.
//!
//! Each entry's hash is SHA-256 over its content and the previous entry's hash, so changing,
//! removing or reordering a stored row breaks the chain at that row, and
//! `gm-server audit verify` names the first broken link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Through what an action came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The web dashboard (cookie session).
    Dashboard,
    /// The HTTP API with a bearer token.
    Api,
    /// A slash command typed in game.
    InGame,
    /// The `gm-server` command line on the server's host.
    Cli,
    /// A game server (for example a refused handshake).
    GameServer,
    /// gm-server itself.
    System,
}

impl Via {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Dashboard => "dashboard",
            Via::Api => "api",
            Via::InGame => "in_game",
            Via::Cli => "cli",
            Via::GameServer => "game_server",
            Via::System => "system",
        }
    }
}

/// An entry about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who acted: an admin name, a game-server id, or `-` when unknown.
    pub actor: String,
    /// The actor's role at the time (`-` when none).
    pub actor_role: String,
    /// Through what.
    pub via: Via,
    /// Source address or game-server id.
    pub source: String,
    /// What was done, dotted (`auth.login`, `admin.create`, `key.revoke`, …).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Parameters, as a JSON object (never secrets).
    pub params: serde_json::Value,
    /// `ok` or `error: …` / `denied: …`.
    pub result: String,
}

impl NewAuditEntry {
    /// An entry with empty parameters and result `ok`.
    pub fn new(actor: impl Into<String>, via: Via, action: impl Into<String>) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.into(),
            actor_role: "-".into(),
            via,
            source: "-".into(),
            action: action.into(),
            target: String::new(),
            params: serde_json::Value::Object(Default::default()),
            result: "ok".into(),
        }
    }

    /// Sets the actor's role.
    pub fn role(mut self, role: impl std::fmt::Display) -> Self {
        self.actor_role = role.to_string();
        self
    }

    /// Sets the source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Sets the parameters.
    pub fn params(mut self, params: serde_json::Value) -> Self {
        self.params = params;
        self
    }

    /// Sets the result.
    pub fn result(mut self, result: impl Into<String>) -> Self {
        self.result = result.into();
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the log.
    pub id: i64,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who acted.
    pub actor: String,
    /// Their role then.
    pub actor_role: String,
    /// Through what (`dashboard`, `api`, `in_game`, `cli`, `game_server`, `system`).
    pub via: String,
    /// Source address or game server.
    pub source: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// Parameters as JSON text.
    pub params: String,
    /// Outcome.
    pub result: String,
    /// Hash of the entry before.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The chain hash of an entry: fields separated by a unit separator so no two different
/// entries encode alike.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: &str,
    at_ms: i64,
    actor: &str,
    actor_role: &str,
    via: &str,
    source: &str,
    action: &str,
    target: &str,
    params: &str,
    result: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    for field in [
        &at_ms.to_string()[..],
        actor,
        actor_role,
        via,
        source,
        action,
        target,
        params,
        result,
    ] {
        h.update([0x1f]);
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

impl AuditRecord {
    /// The hash this record should carry given its content and `prev_hash`.
    pub fn expected_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.at_ms,
            &self.actor,
            &self.actor_role,
            &self.via,
            &self.source,
            &self.action,
            &self.target,
            &self.params,
            &self.result,
        )
    }
}

/// The outcome of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// The first entry whose link is broken, if any.
    pub first_broken: Option<BrokenLink>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BrokenLink {
    /// Id of the entry.
    pub id: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a run of consecutive records, continuing from `prev` (the hash before the first).
/// Returns the first broken link.
pub fn verify_run(prev: &mut String, records: &[AuditRecord]) -> Option<BrokenLink> {
    for r in records {
        if r.prev_hash != *prev {
            return Some(BrokenLink {
                id: r.id,
                reason: "its previous-hash does not match the entry before it (an entry was \
                         removed, inserted or reordered)"
                    .into(),
            });
        }
        if r.expected_hash() != r.hash {
            return Some(BrokenLink {
                id: r.id,
                reason: "its content does not match its hash (the entry was changed)".into(),
            });
        }
        prev.clone_from(&r.hash);
    }
    None
}
