//! Commands from gm-server, as the game sees them.

pub use gm_proto::{CommandErrorCode, CommandOutcome};

/// A command gm-server asks the game to run. Answer it with [`crate::GmClient::reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCommand {
    /// Command name without the slash.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Who issued it.
    pub issued_by: String,
    pub(crate) id: gm_proto::RequestId,
    pub(crate) session: u64,
}

impl IncomingCommand {
    /// The request id, for the game's logs.
    pub fn id(&self) -> u64 {
        self.id.0
    }
}

/// A handler run on the SDK's driver the moment a command arrives. Return `Some` to answer at
/// once, `None` to hand the command to the game loop (see [`crate::GmClient::poll_command`]).
/// It runs on the driver's thread, not the game's: keep it short and non-blocking.
pub type CommandHandler = dyn Fn(&IncomingCommand) -> Option<CommandOutcome> + Send + Sync;
