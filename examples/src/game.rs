//! A headless bevy_ecs game server with simulated players.
//!
//! Each tick runs one bevy schedule: players join up to a target, move, chat and sometimes
//! leave; GM commands from gm-server are taken from the SDK's queue and answered; the tick rate
//! and player count are reported to the SDK. Telemetry goes out through the SDK: each tick's
//! duration and entity count, counters of chat lines and GM commands, a histogram of player
//! speed, and an event per join, leave, chat line and GM command (see [`events`]). Nothing in a
//! tick waits for the network.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use gm_sdk::{
    Arg, ArgValue, CommandErrorCode, CommandOutcome, CommandSpec, GameStatus, GmClient, PlayerRef,
    Role,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Settings of the simulation.
#[derive(Debug, Clone)]
pub struct GameConfig {
    /// Ticks per second. Default 60.
    pub tick_hz: f64,
    /// Players the simulation keeps online (give or take joins and leaves). Default 50.
    pub target_players: usize,
    /// Seed of the simulation's randomness. Default 1.
    pub seed: u64,
}

impl Default for GameConfig {
    fn default() -> Self {
        GameConfig {
            tick_hz: 60.0,
            target_players: 50,
            seed: 1,
        }
    }
}

/// A simulated player.
#[derive(Component, Debug, Clone)]
pub struct Player {
    /// Account id, stable across sessions.
    pub account_id: u64,
    /// Character name shown in game.
    pub name: String,
}

/// Where a player is.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Position {
    /// East-west, 0 to 1000.
    pub x: f32,
    /// North-south, 0 to 1000.
    pub y: f32,
}

#[derive(Component, Debug, Clone, Copy)]
struct Velocity {
    x: f32,
    y: f32,
}

#[derive(Resource)]
struct Sim {
    rng: StdRng,
    next_account: u64,
    target: usize,
    dt: f32,
}

/// The last chat lines, newest last (bounded).
#[derive(Resource, Debug, Default)]
pub struct ChatLog(pub VecDeque<String>);

const CHAT_LINES: usize = 100;

impl ChatLog {
    fn push(&mut self, line: String) {
        if self.0.len() == CHAT_LINES {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }
}

#[derive(Resource)]
struct Gm(GmClient);

/// Event kinds the example game emits, named for gm-server by [`event_kinds`].
pub mod events {
    /// A player joined; `fields[0]` is the account id.
    pub const PLAYER_JOINED: u32 = 1;
    /// A player left; `fields[0]` is the account id.
    pub const PLAYER_LEFT: u32 = 2;
    /// A player said something in chat; `fields[0]` is the account id.
    pub const CHAT_LINE: u32 = 3;
    /// The game ran a GM command from gm-server.
    pub const GM_COMMAND: u32 = 4;
}

/// Names of the [`events`] kinds, to register with `GmClientBuilder::event_kind`.
pub fn event_kinds() -> Vec<(u32, &'static str)> {
    vec![
        (events::PLAYER_JOINED, "player_joined"),
        (events::PLAYER_LEFT, "player_left"),
        (events::CHAT_LINE, "chat_line"),
        (events::GM_COMMAND, "gm_command"),
    ]
}

/// The game's own metric handles, taken once from the SDK's registry.
#[derive(Resource)]
struct GameMetrics {
    chat_lines: gm_sdk::gm_telemetry::Counter,
    gm_commands: gm_sdk::gm_telemetry::Counter,
    speed: gm_sdk::gm_telemetry::Histogram,
}

/// The tick's event writer: one per emitting thread, so a non-send resource of the game loop.
struct Events(gm_sdk::gm_telemetry::event::EventWriter);

fn emit(events: &mut Events, kind: u32, account_id: u64) {
    events.0.emit(gm_sdk::gm_telemetry::event::Event {
        kind,
        fields: [account_id, 0],
        ..Default::default()
    });
}

/// Tick figures, shared with other threads (tests, the binary's status line).
#[derive(Debug, Default)]
pub struct TickStats {
    /// Ticks run since start.
    pub ticks: AtomicU64,
    /// Longest tick so far, in microseconds.
    pub max_tick_us: AtomicU64,
    /// Players online after the last tick.
    pub players: AtomicU64,
}

#[derive(Resource)]
struct Stats {
    shared: Arc<TickStats>,
    window_start: Instant,
    window_ticks: u32,
    measured_hz: f32,
}

const NAMES: [&str; 8] = [
    "Bob", "Alice", "Zoë", "Kai", "Mira", "Oskar", "Ayşe", "Nakamura",
];

/// The example game server.
pub struct ExampleGame {
    world: World,
    schedule: Schedule,
    period: Duration,
    stats: Arc<TickStats>,
}

impl std::fmt::Debug for ExampleGame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExampleGame")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl ExampleGame {
    /// A game linked to `gm`.
    pub fn new(config: GameConfig, gm: GmClient) -> ExampleGame {
        let period = Duration::from_secs_f64(1.0 / config.tick_hz.max(1.0));
        let stats = Arc::new(TickStats::default());
        let mut world = World::new();
        world.insert_resource(Sim {
            rng: StdRng::seed_from_u64(config.seed),
            next_account: 1000,
            target: config.target_players,
            dt: period.as_secs_f32(),
        });
        world.insert_resource(ChatLog::default());
        let key = gm_sdk::metrics::Key::from_static_name;
        world.insert_resource(GameMetrics {
            chat_lines: gm.metrics().counter(&key("chat_lines_total")),
            gm_commands: gm.metrics().counter(&key("gm_commands_total")),
            speed: gm.metrics().histogram(&key("player_speed")),
        });
        world.insert_resource(Gm(gm));
        world.insert_resource(Stats {
            shared: stats.clone(),
            window_start: Instant::now(),
            window_ticks: 0,
            measured_hz: config.tick_hz as f32,
        });
        let mut schedule = Schedule::default();
        schedule.add_systems(
            (
                join_players,
                leave_players,
                move_players,
                chat,
                gm_commands,
                report_status,
            )
                .chain(),
        );
        ExampleGame {
            world,
            schedule,
            period,
            stats,
        }
    }

    /// Tick figures, readable from any thread.
    pub fn stats(&self) -> Arc<TickStats> {
        self.stats.clone()
    }

    /// Runs one tick.
    pub fn tick(&mut self) {
        let start = Instant::now();
        // The event writer belongs to the thread that ticks, so it is made on the first tick
        // (the game may be built on one thread and run on another).
        if self.world.get_non_send::<Events>().is_none() {
            let writer = self.world.resource::<Gm>().0.event_writer();
            self.world.insert_non_send(Events(writer));
        }
        self.world
            .non_send_mut::<Events>()
            .0
            .set_time(gm_sdk::unix_ms());
        self.schedule.run(&mut self.world);
        let took = start.elapsed();
        let gm = &self.world.resource::<Gm>().0;
        gm.record_tick(took);
        gm.report_entities(self.world.entities().len() as usize);
        let us = took.as_micros() as u64;
        self.stats.max_tick_us.fetch_max(us, Ordering::Relaxed);
        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs at the fixed tick rate until `stop` is set. A late tick does not make the next ones
    /// hurry: the schedule restarts from now, as game loops usually do.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            self.tick();
            next += self.period;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }

    /// Players online now.
    pub fn players(&mut self) -> Vec<Player> {
        let mut q = self.world.query::<&Player>();
        q.iter(&self.world).cloned().collect()
    }

    /// The chat log.
    pub fn chat(&self) -> &ChatLog {
        self.world.resource::<ChatLog>()
    }

    /// Adds a player now (for tests and demos that need a known name).
    pub fn add_player(&mut self, account_id: u64, name: &str) {
        self.world
            .resource::<Gm>()
            .0
            .player_joined(account_id, name);
        self.world.spawn((
            Player {
                account_id,
                name: name.to_string(),
            },
            Position::default(),
            Velocity { x: 0.0, y: 0.0 },
        ));
    }

    /// A player typed a line in chat: slash commands go to gm-server, as a real game would
    /// route them; the answer appears in the chat log on a later tick.
    pub fn type_in_chat(&mut self, account_id: u64, line: &str) -> Option<u64> {
        if line.starts_with('/') {
            self.world
                .resource::<Gm>()
                .0
                .submit_command(account_id, line)
        } else {
            self.world
                .resource_mut::<ChatLog>()
                .push(format!("#{account_id}: {line}"));
            None
        }
    }
}

fn join_players(
    mut commands: Commands,
    mut sim: ResMut<Sim>,
    gm: Res<Gm>,
    mut events: NonSendMut<Events>,
    players: Query<(), With<Player>>,
) {
    let online = players.iter().count();
    if online < sim.target && sim.rng.random_bool(0.3) {
        let account_id = sim.next_account;
        sim.next_account += 1;
        let name = format!("{}{}", NAMES[(account_id % 8) as usize], account_id);
        let pos = Position {
            x: sim.rng.random_range(0.0..1000.0),
            y: sim.rng.random_range(0.0..1000.0),
        };
        let vel = Velocity {
            x: sim.rng.random_range(-5.0..5.0),
            y: sim.rng.random_range(-5.0..5.0),
        };
        gm.0.player_joined(account_id, &name);
        emit(&mut events, events::PLAYER_JOINED, account_id);
        commands.spawn((Player { account_id, name }, pos, vel));
    }
}

fn leave_players(
    mut commands: Commands,
    mut sim: ResMut<Sim>,
    gm: Res<Gm>,
    mut events: NonSendMut<Events>,
    players: Query<(Entity, &Player)>,
) {
    for (entity, p) in &players {
        if sim.rng.random_bool(0.0005) {
            gm.0.player_left(p.account_id);
            emit(&mut events, events::PLAYER_LEFT, p.account_id);
            commands.entity(entity).despawn();
        }
    }
}

fn move_players(
    mut sim: ResMut<Sim>,
    metrics: Res<GameMetrics>,
    mut q: Query<(&mut Position, &mut Velocity)>,
) {
    let dt = sim.dt;
    for (mut pos, mut vel) in &mut q {
        if sim.rng.random_bool(0.02) {
            vel.x = sim.rng.random_range(-5.0..5.0);
            vel.y = sim.rng.random_range(-5.0..5.0);
            metrics
                .speed
                .record(f64::from((vel.x * vel.x + vel.y * vel.y).sqrt()));
        }
        pos.x = (pos.x + vel.x * dt * 10.0).clamp(0.0, 1000.0);
        pos.y = (pos.y + vel.y * dt * 10.0).clamp(0.0, 1000.0);
    }
}

const LINES: [&str; 5] = [
    "hi all",
    "anyone for the raid?",
    "lol",
    "gg",
    "where is the bank",
];

fn chat(
    mut sim: ResMut<Sim>,
    mut log: ResMut<ChatLog>,
    metrics: Res<GameMetrics>,
    mut events: NonSendMut<Events>,
    players: Query<&Player>,
) {
    for p in &players {
        if sim.rng.random_bool(0.001) {
            let line = LINES[sim.rng.random_range(0..LINES.len())];
            metrics.chat_lines.increment(1);
            emit(&mut events, events::CHAT_LINE, p.account_id);
            log.push(format!("{}: {line}", p.name));
        }
    }
}

fn gm_commands(
    mut commands: Commands,
    gm: Res<Gm>,
    mut log: ResMut<ChatLog>,
    metrics: Res<GameMetrics>,
    mut events: NonSendMut<Events>,
    players: Query<(Entity, &Player)>,
) {
    while let Some(cmd) = gm.0.poll_command() {
        metrics.gm_commands.increment(1);
        emit(&mut events, events::GM_COMMAND, 0);
        let outcome = match cmd.command.as_str() {
            "kick" => match cmd.args.first() {
                None => {
                    CommandOutcome::error(CommandErrorCode::BadArguments, "usage: kick <player>")
                }
                Some(who) => match players.iter().find(|(_, p)| matches_player(p, who)) {
                    Some((entity, p)) => {
                        gm.0.player_left(p.account_id);
                        commands.entity(entity).despawn();
                        let reason = cmd.args.get(1).map_or(String::new(), |r| format!(" ({r})"));
                        log.push(format!(
                            "{} was kicked by {}{reason}",
                            p.name, cmd.issued_by
                        ));
                        CommandOutcome::ok(format!("kicked {}", p.name))
                    }
                    None => CommandOutcome::error(
                        CommandErrorCode::Failed,
                        format!("no player {who} is online"),
                    ),
                },
            },
            "announce" => {
                let text = cmd.args.join(" ");
                log.push(format!("[{}] {text}", cmd.issued_by));
                CommandOutcome::ok("announced")
            }
            "tp" => match (&cmd.parsed, target(&cmd)) {
                (Some(parsed), Some(who)) => {
                    let (Some(ArgValue::Float(x)), Some(ArgValue::Float(y))) =
                        (parsed.get("x"), parsed.get("y"))
                    else {
                        continue;
                    };
                    match players.iter().find(|(_, p)| matches_player(p, &who)) {
                        Some((entity, p)) => {
                            commands.entity(entity).insert(Position {
                                x: *x as f32,
                                y: *y as f32,
                            });
                            CommandOutcome::ok(format!("teleported {} to {x}, {y}", p.name))
                        }
                        None => CommandOutcome::error(
                            CommandErrorCode::Failed,
                            format!("no player {who} is online"),
                        ),
                    }
                }
                _ => CommandOutcome::error(
                    CommandErrorCode::BadArguments,
                    "usage: /tp <player> <x> <y>",
                ),
            },
            "heal" => match target(&cmd) {
                Some(who) => match players.iter().find(|(_, p)| matches_player(p, &who)) {
                    Some((_, p)) => {
                        let amount = match cmd.parsed.as_ref().and_then(|c| c.get("amount")) {
                            Some(ArgValue::Int(n)) => *n,
                            _ => 100,
                        };
                        log.push(format!(
                            "{} was healed for {amount} by {}",
                            p.name, cmd.issued_by
                        ));
                        CommandOutcome::ok(format!("healed {} for {amount}", p.name))
                    }
                    None => CommandOutcome::error(
                        CommandErrorCode::Failed,
                        format!("no player {who} is online"),
                    ),
                },
                None => CommandOutcome::error(
                    CommandErrorCode::BadArguments,
                    "usage: /heal <player> [amount]",
                ),
            },
            "players" => {
                let mut names: Vec<_> = players.iter().map(|(_, p)| p.name.clone()).collect();
                names.sort();
                CommandOutcome::Ok {
                    text: names.join(", "),
                    fields: vec![("count".into(), names.len().to_string())],
                }
            }
            other => CommandOutcome::error(
                CommandErrorCode::UnknownCommand,
                format!("this game has no command {other:?}"),
            ),
        };
        gm.0.reply(&cmd, outcome);
    }
    // Answers to GM commands typed in game go back to whoever typed them.
    while let Some(reply) = gm.0.poll_command_reply() {
        let text = match reply.outcome {
            CommandOutcome::Ok { text, .. } => text,
            CommandOutcome::Error { message, .. } => message,
        };
        log.push(format!("[to #{}] {text}", reply.account_id));
    }
}

/// The player a game command names, as `#id` or a name.
fn target(cmd: &gm_sdk::IncomingCommand) -> Option<String> {
    match cmd.parsed.as_ref()?.get("player")? {
        ArgValue::Player(PlayerRef::Id(id)) => Some(format!("#{id}")),
        ArgValue::Player(PlayerRef::Name(n)) => Some(n.clone()),
        _ => None,
    }
}

/// The game's own GM commands, registered with the SDK beside gm-server's built-ins.
pub fn game_commands() -> Vec<CommandSpec> {
    vec![
        CommandSpec::new("tp", "Teleport a player")
            .arg(Arg::player("player"))
            .arg(Arg::float("x", 0.0, 1000.0))
            .arg(Arg::float("y", 0.0, 1000.0))
            .role(Role::GameMaster),
        CommandSpec::new("heal", "Heal a player")
            .arg(Arg::player("player"))
            .arg(Arg::int("amount", 1, 1000).optional())
            .role(Role::SupportAgent),
    ]
}

/// A player argument from gm-server: `#account-id` or a name.
fn matches_player(p: &Player, who: &str) -> bool {
    match who.strip_prefix('#') {
        Some(id) => id.parse() == Ok(p.account_id),
        None => p.name.eq_ignore_ascii_case(who),
    }
}

fn report_status(gm: Res<Gm>, mut stats: ResMut<Stats>, players: Query<(), With<Player>>) {
    let online = players.iter().count();
    stats.window_ticks += 1;
    let elapsed = stats.window_start.elapsed();
    if elapsed >= Duration::from_secs(1) {
        stats.measured_hz = stats.window_ticks as f32 / elapsed.as_secs_f32();
        stats.window_ticks = 0;
        stats.window_start = Instant::now();
    }
    stats.shared.players.store(online as u64, Ordering::Relaxed);
    gm.0.report_status(GameStatus {
        players: online as u32,
        tick_rate_hz: stats.measured_hz,
    });
}
