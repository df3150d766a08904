//! The bevy plugin (feature `bevy`): commands from gm-server arrive as [`GmCommand`]
//! messages, answers to commands players typed as [`GmCommandReply`] messages, and the client
//! is the [`Gm`] resource.
//!
//! ```
//! use bevy_app::{App, Update};
//! use bevy_ecs::prelude::*;
//! use gm_sdk::bevy::{Gm, GmCommand, GmPlugin};
//! use gm_sdk::{CommandOutcome, GmClient};
//!
//! fn handle(gm: Res<Gm>, mut commands: MessageReader<GmCommand>) {
//!     for GmCommand(cmd) in commands.read() {
//!         gm.0.reply(cmd, CommandOutcome::ok(format!("ran /{}", cmd.command)));
//!     }
//! }
//!
//! # fn client() -> GmClient { unimplemented!() }
//! # fn demo() {
//! App::new()
//!     .add_plugins(GmPlugin::new(client()))
//!     .add_systems(Update, handle)
//!     .run();
//! # }
//! ```

use bevy_app::{App, Plugin, PreUpdate};
use bevy_ecs::prelude::*;

use crate::client::{CommandReply, GmClient};
use crate::command::IncomingCommand;

/// The SDK handle as a bevy resource.
#[derive(Resource, Debug, Clone)]
pub struct Gm(pub GmClient);

/// A command for the game to run; answer with `Gm::0.reply`.
#[derive(Message, Debug, Clone)]
pub struct GmCommand(pub IncomingCommand);

/// gm-server's (or the local roster's) answer to a command a player typed: show it to them.
#[derive(Message, Debug, Clone)]
pub struct GmCommandReply(pub CommandReply);

/// The SDK's systems, in `PreUpdate`: order game systems after them to see this tick's
/// commands.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct GmSystems;

/// Adds the [`Gm`] resource, the messages and the systems that fill them.
#[derive(Debug, Clone)]
pub struct GmPlugin {
    client: GmClient,
}

impl GmPlugin {
    /// A plugin for an already built client.
    pub fn new(client: GmClient) -> GmPlugin {
        GmPlugin { client }
    }
}

impl Plugin for GmPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Gm(self.client.clone()))
            .add_message::<GmCommand>()
            .add_message::<GmCommandReply>()
            .add_systems(PreUpdate, (poll_commands, poll_replies).in_set(GmSystems));
    }
}

/// Moves queued commands into messages. Idle, it is one channel check.
pub fn poll_commands(gm: Res<Gm>, mut out: MessageWriter<GmCommand>) {
    while let Some(cmd) = gm.0.poll_command() {
        out.write(GmCommand(cmd));
    }
}

/// Moves answers to typed commands into messages.
pub fn poll_replies(gm: Res<Gm>, mut out: MessageWriter<GmCommandReply>) {
    while let Some(reply) = gm.0.poll_command_reply() {
        out.write(GmCommandReply(reply));
    }
}
