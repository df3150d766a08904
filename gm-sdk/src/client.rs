//! The handle the game thread holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use crate::builder::GmClientBuilder;
use crate::command::{CommandOutcome, IncomingCommand, Origin};
use crate::status::{ConnectionStatus, GameStatus};

/// State shared by every handle and the driver.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) status: Mutex<ConnectionStatus>,
    pub(crate) connected: AtomicBool,
    pub(crate) players: AtomicU32,
    pub(crate) tick_rate_bits: AtomicU32,
    pub(crate) commands_refused: AtomicU64,
    pub(crate) replies_dropped: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) next_ticket: AtomicU64,
    /// Players online, as the game reported them (the snapshot sent after each reconnect).
    pub(crate) online: parking_lot::RwLock<std::collections::BTreeMap<u64, String>>,
    /// Staff accounts and roles, pushed by gm-server.
    pub(crate) roster: parking_lot::RwLock<std::collections::HashMap<u64, gm_proto::command::Role>>,
    pub(crate) last_disconnect: Mutex<Option<String>>,
    pub(crate) stop: AtomicBool,
    pub(crate) stop_notify: Notify,
    pub(crate) telemetry: crate::telemetry::SdkTelemetry,
}

impl Shared {
    pub(crate) fn new(telemetry: &crate::builder::TelemetryConfig) -> Shared {
        Shared {
            status: Mutex::new(ConnectionStatus::Connecting {
                attempt: 0,
                last_error: None,
            }),
            connected: AtomicBool::new(false),
            players: AtomicU32::new(0),
            tick_rate_bits: AtomicU32::new(0),
            commands_refused: AtomicU64::new(0),
            replies_dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            next_ticket: AtomicU64::new(1),
            roster: Default::default(),
            online: Default::default(),
            last_disconnect: Mutex::new(None),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            telemetry: crate::telemetry::SdkTelemetry::new(telemetry),
        }
    }

    pub(crate) fn set_status(&self, status: ConnectionStatus) {
        self.connected
            .store(status.is_connected(), Ordering::Release);
        *self.status.lock() = status;
    }

    pub(crate) fn game_status(&self) -> GameStatus {
        GameStatus {
            players: self.players.load(Ordering::Relaxed),
            tick_rate_hz: f32::from_bits(self.tick_rate_bits.load(Ordering::Relaxed)),
        }
    }
}

/// What the game sends to the driver.
#[derive(Debug)]
pub(crate) enum ToDriver {
    /// The answer to a command from gm-server.
    Reply {
        session: u64,
        id: gm_proto::RequestId,
        outcome: CommandOutcome,
    },
    /// A player joined the game server.
    Joined(gm_proto::PlayerInfo),
    /// A player left.
    Left(u64),
    /// A player typed a GM command for gm-server.
    Command {
        ticket: u64,
        account_id: u64,
        line: String,
    },
    /// A game command typed here ran (or was refused) locally: gm-server audits it.
    LocalRan {
        account_id: u64,
        line: String,
        outcome: CommandOutcome,
    },
}

/// gm-server's answer to a command a player typed in game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReply {
    /// The ticket [`GmClient::submit_command`] returned.
    pub ticket: u64,
    /// Who typed the command: show them the outcome.
    pub account_id: u64,
    /// What to show.
    pub outcome: CommandOutcome,
}

/// Handle to the SDK, held by the game. Cheap to clone; every method returns at once.
///
/// Commands from gm-server wait in a bounded queue until the game takes them with
/// [`poll_command`](Self::poll_command); replies go back through a bounded queue to the driver.
/// Nothing here waits for the network.
#[derive(Debug, Clone)]
pub struct GmClient {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: crossbeam_channel::Receiver<IncomingCommand>,
    pub(crate) replies: mpsc::Sender<ToDriver>,
    pub(crate) command_replies: crossbeam_channel::Receiver<CommandReply>,
    /// Replies to commands run locally go straight back into the reply queue.
    pub(crate) local_replies: crossbeam_channel::Sender<CommandReply>,
    /// Feeds locally authorized commands to the game's command queue.
    pub(crate) local_commands: crossbeam_channel::Sender<IncomingCommand>,
    pub(crate) registry: std::sync::Arc<gm_proto::command::Registry>,
    /// gm-server's built-ins and the game's commands, for completion.
    pub(crate) all_commands: std::sync::Arc<gm_proto::command::Registry>,
}

impl GmClient {
    /// Starts configuring a client that connects to gm-server at `addr` (`host:port`).
    pub fn builder(addr: impl Into<String>) -> GmClientBuilder {
        GmClientBuilder::new(addr)
    }

    /// The connection state, with the reason when not connected. Takes a short lock and
    /// clones: call it when something is shown, not every tick (see
    /// [`is_connected`](Self::is_connected)).
    pub fn status(&self) -> ConnectionStatus {
        self.shared.status.lock().clone()
    }

    /// Why the last established session ended, if one did (for example "gm-server is shutting
    /// down"). [`status`](Self::status) shows the latest reconnect attempt instead.
    pub fn last_disconnect(&self) -> Option<String> {
        self.shared.last_disconnect.lock().clone()
    }

    /// Whether a session is established; one atomic load.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Reports figures answered by the built-in `status` command. Two atomic stores; call it
    /// every tick if you like.
    pub fn report_status(&self, status: GameStatus) {
        self.shared.players.store(status.players, Ordering::Relaxed);
        self.shared
            .tick_rate_bits
            .store(status.tick_rate_hz.to_bits(), Ordering::Relaxed);
    }

    /// The next command waiting for the game, if any. Never blocks.
    pub fn poll_command(&self) -> Option<IncomingCommand> {
        self.commands.try_recv().ok()
    }

    /// Whether a command is waiting (one atomic load; for loops that poll only when needed).
    pub fn has_commands(&self) -> bool {
        !self.commands.is_empty()
    }

    /// Whether an answer to a submitted command is waiting.
    pub fn has_command_replies(&self) -> bool {
        !self.command_replies.is_empty()
    }

    /// Answers a command taken with [`poll_command`](Self::poll_command). Never blocks: if the
    /// reply queue is full or the session that sent the command has ended, the reply is dropped,
    /// counted, and gm-server reports a timeout to whoever asked. Returns whether it was queued.
    pub fn reply(&self, command: &IncomingCommand, outcome: CommandOutcome) -> bool {
        match &command.origin {
            Origin::Server { id, session } => self.to_driver(ToDriver::Reply {
                session: *session,
                id: *id,
                outcome,
            }),
            Origin::Local {
                ticket,
                account_id,
                line,
            } => {
                self.to_driver(ToDriver::LocalRan {
                    account_id: *account_id,
                    line: line.clone(),
                    outcome: outcome.clone(),
                });
                self.local_replies
                    .try_send(CommandReply {
                        ticket: *ticket,
                        account_id: *account_id,
                        outcome,
                    })
                    .is_ok()
            }
        }
    }

    /// Tells gm-server a player joined (for the fleet directory, `/whois`, `/kick` by name).
    /// Never blocks; if the queue is full the event is dropped and counted, and the next
    /// reconnect's snapshot repairs the directory.
    pub fn player_joined(&self, account_id: u64, name: &str) {
        let info = gm_proto::PlayerInfo {
            account_id,
            name: name
                .chars()
                .take(gm_proto::command::MAX_PLAYER_NAME)
                .collect(),
        };
        self.shared
            .online
            .write()
            .insert(account_id, info.name.clone());
        self.to_driver(ToDriver::Joined(info));
    }

    /// Tells gm-server a player left.
    pub fn player_left(&self, account_id: u64) {
        self.shared.online.write().remove(&account_id);
        self.to_driver(ToDriver::Left(account_id));
    }

    /// Completions for a partly typed command line, for the player `account_id`: the commands
    /// their role allows (gm-server's built-ins and the game's), choices, durations, and the
    /// names of players online here. A player without a role gets none.
    ///
    /// Takes two short read locks; call it on a key press, not every tick.
    pub fn complete(&self, line: &str, account_id: u64) -> Vec<String> {
        let role = self.shared.roster.read().get(&account_id).copied();
        let online = self.shared.online.read();
        let names: Vec<&str> = online.values().map(String::as_str).collect();
        self.all_commands.complete(line, role, &names)
    }

    /// Sends a slash command a player typed to gm-server, which authorizes it with the role
    /// linked to the account (never one the game claims). The answer arrives through
    /// [`poll_command_reply`](Self::poll_command_reply) with the returned ticket; `None` when
    /// the queue is full (tell the player to try again).
    pub fn submit_command(&self, account_id: u64, line: &str) -> Option<u64> {
        let ticket = self.shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        let line: String = line.chars().take(gm_proto::command::MAX_LINE_LEN).collect();
        if self.is_game_command(&line) {
            return self.run_locally(ticket, account_id, line).then_some(ticket);
        }
        let msg = ToDriver::Command {
            ticket,
            account_id,
            line,
        };
        self.to_driver(msg).then_some(ticket)
    }

    fn is_game_command(&self, line: &str) -> bool {
        let body = line.trim_start();
        let body = body.strip_prefix('/').unwrap_or(body);
        let name = body.split_whitespace().next().unwrap_or("");
        self.registry
            .lookup(name, Some(gm_proto::command::Role::Admin))
            .is_some()
    }

    /// A game command typed here: authorized against gm-server's roster, run by the game
    /// without a round trip, audited by gm-server afterwards.
    fn run_locally(&self, ticket: u64, account_id: u64, line: String) -> bool {
        let role = self.shared.roster.read().get(&account_id).copied();
        match self.registry.parse(&line, role) {
            Ok(parsed) => {
                let args = gm_proto::command::tokenize(line.trim_start().trim_start_matches('/'))
                    .map(|t| t.into_iter().skip(1).map(|t| t.text).collect())
                    .unwrap_or_default();
                let cmd = IncomingCommand {
                    command: parsed.name.clone(),
                    args,
                    parsed: Some(parsed),
                    issued_by: format!("#{account_id}"),
                    origin: Origin::Local {
                        ticket,
                        account_id,
                        line,
                    },
                };
                self.local_commands.try_send(cmd).is_ok()
            }
            Err(e) => {
                let code = match e {
                    gm_proto::command::ParseError::Unknown { .. } => {
                        gm_proto::CommandErrorCode::UnknownCommand
                    }
                    _ => gm_proto::CommandErrorCode::BadArguments,
                };
                let outcome = CommandOutcome::error(code, e.to_string());
                self.to_driver(ToDriver::LocalRan {
                    account_id,
                    line,
                    outcome: outcome.clone(),
                });
                self.local_replies
                    .try_send(CommandReply {
                        ticket,
                        account_id,
                        outcome,
                    })
                    .is_ok()
            }
        }
    }

    /// The next answer to a command submitted with [`submit_command`](Self::submit_command).
    pub fn poll_command_reply(&self) -> Option<CommandReply> {
        self.command_replies.try_recv().ok()
    }

    fn to_driver(&self, msg: ToDriver) -> bool {
        let ok = self.replies.try_send(msg).is_ok();
        if !ok {
            self.shared.replies_dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// The registry the SDK ships to gm-server every interval: take handles from it for the
    /// hot path (`registry.counter(&key)` once, then `.local()` on the game thread), or
    /// install [`recorder`](Self::recorder) so `metrics::counter!` and friends land here.
    pub fn metrics(&self) -> &gm_telemetry::Registry {
        &self.shared.telemetry.registry
    }

    /// A `metrics` recorder over [`metrics`](Self::metrics). Install it once for the process:
    ///
    /// ```no_run
    /// # let gm: gm_sdk::GmClient = unimplemented!();
    /// metrics::set_global_recorder(gm.recorder()).expect("no other recorder yet");
    /// metrics::counter!("kills_total", "weapon" => "bow").increment(1);
    /// ```
    pub fn recorder(&self) -> gm_telemetry::TelemetryRecorder {
        gm_telemetry::TelemetryRecorder::from_registry(self.shared.telemetry.registry.clone())
    }

    /// A new event ring for one emitting thread (emitting takes `&mut`; a second thread takes
    /// a writer of its own). Each ring is allocated here at `event_ring_capacity` × 32 bytes;
    /// past 64 live writers a new one gets a single slot, so take one per thread, once. Set its time once per tick with `set_time(unix_ms)`: gm-server
    /// counts events per time bucket by it. A full ring drops and counts; the driver drains
    /// the rings and ships their contents in batches.
    ///
    /// ```no_run
    /// use gm_telemetry::event::Event;
    /// # let gm: gm_sdk::GmClient = unimplemented!();
    /// let mut events = gm.event_writer();
    /// events.set_time(gm_sdk::unix_ms());
    /// events.emit(Event { kind: 1, fields: [42, 0], ..Event::default() });
    /// ```
    pub fn event_writer(&self) -> gm_telemetry::event::EventWriter {
        self.shared.telemetry.event_writer()
    }

    /// Records how long one game tick took, into `game_tick_seconds`. A few atomic adds, no
    /// allocation.
    pub fn record_tick(&self, took: std::time::Duration) {
        self.shared.telemetry.tick.record(took.as_secs_f64());
    }

    /// Reports how many entities the world holds, into `game_entities` (the bevy plugin does
    /// this itself).
    pub fn report_entities(&self, count: usize) {
        self.shared.telemetry.entities.set(count as f64);
    }

    /// Counters of what the SDK had to drop or refuse.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            commands_refused: self.shared.commands_refused.load(Ordering::Relaxed),
            replies_dropped: self.shared.replies_dropped.load(Ordering::Relaxed),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
            commands_queued: self.commands.len(),
            events_dropped: self.shared.telemetry.events_dropped(),
            events_queued: self.shared.telemetry.events_queued(),
        }
    }

    /// Asks the driver to close the connection and stop. Returns at once.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.stop_notify.notify_one();
    }
}

/// What the SDK dropped or refused, and how often it reconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Commands answered "unavailable" because the game's queue was full.
    pub commands_refused: u64,
    /// Replies, presence events or submitted commands dropped (queue full, or their session
    /// had ended).
    pub replies_dropped: u64,
    /// Sessions established after the first.
    pub reconnects: u64,
    /// Commands waiting for the game now.
    pub commands_queued: usize,
    /// Events dropped because their ring was full (gm-server unreachable or slow).
    pub events_dropped: u64,
    /// Events waiting in the rings to be shipped.
    pub events_queued: usize,
}

/// Milliseconds since the Unix epoch: the time convention for [`GmClient::event_writer`].
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
