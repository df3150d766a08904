//! Commands from gm-server, as the game sees them.

pub use gm_proto::{CommandErrorCode, CommandOutcome};

pub use gm_proto::command::{Arg, ArgValue, CommandSpec, ParsedCommand, PlayerRef, Role};

/// A command for the game to run: sent by gm-server (from the API, the CLI, or a GM in another
/// game server), or typed here by a rostered GM and authorized locally. Answer it with
/// [`crate::GmClient::reply`].
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCommand {
    /// Command name without the slash.
    pub command: String,
    /// Arguments as words.
    pub args: Vec<String>,
    /// Typed arguments, for commands the game registered with
    /// [`crate::GmClientBuilder::command`].
    pub parsed: Option<ParsedCommand>,
    /// Who issued it (staff name, or `#account` for a command typed in this game).
    pub issued_by: String,
    pub(crate) origin: Origin,
}

/// Where a command came from, so its reply goes back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `CommandRequest` from gm-server in session generation `session`.
    Server {
        id: gm_proto::RequestId,
        session: u64,
    },
    /// Typed in this game by `account_id`; answered locally and audited by gm-server.
    Local {
        ticket: u64,
        account_id: u64,
        line: String,
    },
}

impl IncomingCommand {
    /// The account that typed it, for commands typed in this game.
    pub fn typed_by(&self) -> Option<u64> {
        match self.origin {
            Origin::Local { account_id, .. } => Some(account_id),
            Origin::Server { .. } => None,
        }
    }
}

/// A handler run on the SDK's driver the moment a command arrives. Return `Some` to answer at
/// once, `None` to hand the command to the game loop (see [`crate::GmClient::poll_command`]).
/// It runs on the driver's thread, not the game's: keep it short and non-blocking.
pub type CommandHandler = dyn Fn(&IncomingCommand) -> Option<CommandOutcome> + Send + Sync;
