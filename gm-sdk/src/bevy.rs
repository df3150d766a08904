//! The bevy plugin (feature `bevy`): commands from gm-server arrive as [`GmCommand`]
//! messages, answers to commands players typed as [`GmCommandReply`] messages, and the client
//! is the [`Gm`] resource. Each tick's duration (from `First` to `Last`) goes into
//! `game_tick_seconds` and the world's entity count into `game_entities`, which the SDK
//! ships to gm-server with the game's own metrics.
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

use std::time::Instant;

use bevy_app::{App, First, Last, Plugin};
use bevy_ecs::message::Messages;
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

/// The SDK's systems that bring this tick's commands, in `First`: every `Update` system sees
/// them.
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
            .insert_resource(TickClock(Instant::now()))
            .add_systems(First, begin_tick.in_set(GmSystems))
            .add_systems(Last, end_tick);
    }
}

/// When the current tick began.
#[derive(Resource, Debug, Clone, Copy)]
pub struct TickClock(pub Instant);

/// Starts the tick's clock and moves queued commands and replies into messages. Idle, it is
/// a clock read and two channel checks. (Exclusive: fetching two message writers would cost
/// more than the check on an idle tick.)
pub fn begin_tick(world: &mut World) {
    let now = Instant::now();
    if let Some(mut clock) = world.get_resource_mut::<TickClock>() {
        clock.0 = now;
    }
    let Some(gm) = world.get_resource::<Gm>() else {
        return;
    };
    let (commands, replies) = (gm.0.has_commands(), gm.0.has_command_replies());
    if !commands && !replies {
        return;
    }
    let gm = gm.0.clone();
    if commands && let Some(mut out) = world.get_resource_mut::<Messages<GmCommand>>() {
        while let Some(cmd) = gm.poll_command() {
            out.write(GmCommand(cmd));
        }
    }
    if replies && let Some(mut out) = world.get_resource_mut::<Messages<GmCommandReply>>() {
        while let Some(reply) = gm.poll_command_reply() {
            out.write(GmCommandReply(reply));
        }
    }
}

/// Records the tick's duration and the entity count.
pub fn end_tick(world: &World) {
    if let (Some(gm), Some(clock)) = (
        world.get_resource::<Gm>(),
        world.get_resource::<TickClock>(),
    ) {
        gm.0.record_tick(clock.0.elapsed());
        gm.0.report_entities(world.entities().len() as usize);
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
