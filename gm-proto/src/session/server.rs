use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::{DEFAULT_HEARTBEAT, ProtocolError};
use crate::message::{
    CommandOutcome, CommandRequest, Hello, Message, PlayerInfo, Reject, RejectCode, RequestId,
    SUPPORTED_VERSIONS, Welcome,
};

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Protocol versions accepted in a hello.
    pub supported_versions: Vec<u16>,
    /// How long a client has to send its hello and be authenticated.
    pub handshake_timeout: Duration,
    /// Heartbeat interval announced to the client and used for our own pings.
    pub heartbeat_interval: Duration,
    /// Close when nothing is heard from the client for this long.
    pub idle_timeout: Duration,
    /// How long a command may wait for its reply.
    pub command_timeout: Duration,
    /// Most commands in flight at once; more are refused.
    pub max_pending_commands: usize,
    /// Sent in the welcome.
    pub server_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            supported_versions: SUPPORTED_VERSIONS.to_vec(),
            handshake_timeout: Duration::from_secs(10),
            heartbeat_interval: DEFAULT_HEARTBEAT,
            idle_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(5),
            max_pending_commands: 1024,
            server_version: String::new(),
        }
    }
}

/// Something gm-server must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// A well-formed hello in a supported version: check its key, then call
    /// [`ServerSession::accept`] or [`ServerSession::reject`].
    Hello(Hello),
    /// The session refused the client by itself (unsupported version or malformed hello); the
    /// reject is queued: flush it, then close.
    Refused {
        /// What was sent.
        reject: Reject,
        /// Server id from the hello, when it could be read.
        server_id: Option<String>,
    },
    /// The game answered a command.
    Reply {
        /// Id given by [`ServerSession::send_command`].
        id: RequestId,
        /// The answer.
        outcome: CommandOutcome,
        /// Time from sending the request to receiving the reply.
        elapsed: Duration,
    },
    /// A command got no reply within the command timeout; a late reply will be ignored.
    CommandTimedOut(RequestId),
    /// The game server reported who is online (replace, not merge).
    PlayerSnapshot(Vec<PlayerInfo>),
    /// A player joined the game server.
    PlayerJoined(PlayerInfo),
    /// A player left the game server.
    PlayerLeft(u64),
    /// The game server's own commands.
    GameCommands(Vec<crate::command::CommandSpec>),
    /// A game command ran locally; audit it.
    LocalCommandRan {
        /// Who typed it.
        account_id: u64,
        /// The line.
        line: String,
        /// What it did.
        outcome: CommandOutcome,
    },
    /// A player typed a command that gm-server must authorize; answer with
    /// [`ServerSession::reply_in_game`].
    InGameCommand {
        /// Ticket to answer with.
        ticket: u64,
        /// Who typed it.
        account_id: u64,
        /// The line.
        line: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Authenticating,
    Established,
    Closed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::AwaitingHello => "awaiting hello",
            State::Authenticating => "authenticating",
            State::Established => "established",
            State::Closed => "closed",
        }
    }
}

/// Why a command could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is not established (still handshaking, or closed).
    #[error("the game server session is not established")]
    NotEstablished,
    /// Too many commands are waiting for replies.
    #[error("too many commands in flight ({0})")]
    TooManyPending(usize),
}

/// The gm-server end of a session with one game server.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    state: State,
    started: Instant,
    last_heard: Instant,
    next_ping: Option<Instant>,
    nonce: u64,
    next_request: u64,
    /// The version from the accepted hello.
    version: u16,
    /// Deadline and send time of each request in flight.
    pending: BTreeMap<RequestId, (Instant, Instant)>,
    transmit: VecDeque<Message>,
    events: VecDeque<ServerEvent>,
}

impl ServerSession {
    /// A session waiting for the client's hello.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        ServerSession {
            config,
            state: State::AwaitingHello,
            started: now,
            last_heard: now,
            next_ping: None,
            nonce: 0,
            next_request: 1,
            version: 0,
            pending: BTreeMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Answers a hello frame whose payload could not be decoded as this version's hello, but
    /// whose version could be read (see [`crate::FrameCodec::peek_hello_version`]).
    pub fn handle_foreign_hello(&mut self, version: u16) -> bool {
        if self.state != State::AwaitingHello || self.config.supported_versions.contains(&version) {
            return false;
        }
        self.refuse_version(version, None);
        true
    }

    fn refuse_version(&mut self, version: u16, server_id: Option<String>) {
        let reject = Reject {
            code: RejectCode::UnsupportedVersion,
            message: format!(
                "protocol version {version} is not supported; this server speaks {:?}",
                self.config.supported_versions
            ),
            supported_versions: self.config.supported_versions.clone(),
        };
        self.refuse(reject, server_id);
    }

    fn refuse(&mut self, reject: Reject, server_id: Option<String>) {
        self.state = State::Closed;
        self.transmit.push_back(Message::Reject(reject.clone()));
        self.events
            .push_back(ServerEvent::Refused { reject, server_id });
    }

    /// Feeds one message received from the game server.
    pub fn handle_message(&mut self, msg: Message, now: Instant) -> Result<(), ProtocolError> {
        self.last_heard = now;
        match (self.state, msg) {
            (State::AwaitingHello, Message::Hello(hello)) => {
                if !self
                    .config
                    .supported_versions
                    .contains(&hello.protocol_version)
                {
                    self.refuse_version(hello.protocol_version, Some(hello.server_id));
                } else if let Err(why) = hello.validate() {
                    let reject = Reject {
                        code: RejectCode::InvalidHello,
                        message: format!("invalid hello: {why}"),
                        supported_versions: self.config.supported_versions.clone(),
                    };
                    self.refuse(reject, None);
                } else {
                    self.state = State::Authenticating;
                    self.version = hello.protocol_version;
                    self.events.push_back(ServerEvent::Hello(hello));
                }
            }
            (State::Established, Message::Ping { nonce }) => {
                self.transmit.push_back(Message::Pong { nonce });
            }
            (State::Established, Message::Pong { .. }) => {}
            (State::Established, Message::GameCommands { specs }) => {
                self.events.push_back(ServerEvent::GameCommands(specs));
            }
            (
                State::Established,
                Message::LocalCommandRan {
                    account_id,
                    line,
                    outcome,
                },
            ) => {
                self.events.push_back(ServerEvent::LocalCommandRan {
                    account_id,
                    line,
                    outcome,
                });
            }
            (State::Established, Message::PlayerSnapshot { players }) => {
                self.events.push_back(ServerEvent::PlayerSnapshot(players));
            }
            (State::Established, Message::PlayerJoined(p)) => {
                self.events.push_back(ServerEvent::PlayerJoined(p));
            }
            (State::Established, Message::PlayerLeft { account_id }) => {
                self.events.push_back(ServerEvent::PlayerLeft(account_id));
            }
            (
                State::Established,
                Message::InGameCommand {
                    ticket,
                    account_id,
                    line,
                },
            ) => {
                self.events.push_back(ServerEvent::InGameCommand {
                    ticket,
                    account_id,
                    line,
                });
            }
            (State::Established, Message::CommandReply(reply)) => {
                // A reply after its timeout is dropped: the caller already got the timeout.
                if let Some((_, sent)) = self.pending.remove(&reply.id) {
                    self.events.push_back(ServerEvent::Reply {
                        id: reply.id,
                        outcome: reply.outcome,
                        elapsed: now.saturating_duration_since(sent),
                    });
                }
            }
            (state, msg) => {
                self.state = State::Closed;
                return Err(ProtocolError::Unexpected {
                    message: msg.kind(),
                    state: state.name(),
                });
            }
        }
        Ok(())
    }

    /// Completes the handshake after the key was checked.
    pub fn accept(&mut self, session_id: u64, now: Instant) {
        if self.state != State::Authenticating {
            return;
        }
        self.state = State::Established;
        self.next_ping = Some(now + self.config.heartbeat_interval);
        self.transmit.push_back(Message::Welcome(Welcome {
            protocol_version: self.version,
            session_id,
            heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u32,
            server_version: self.config.server_version.clone(),
        }));
    }

    /// Refuses the handshake (bad key, server full, …); flush the reject, then close.
    pub fn reject(&mut self, code: RejectCode, message: impl Into<String>) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.transmit.push_back(Message::Reject(Reject {
            code,
            message: message.into(),
            supported_versions: self.config.supported_versions.clone(),
        }));
    }

    /// Sends the staff roster.
    pub fn send_roster(&mut self, entries: Vec<(u64, crate::command::Role)>) {
        if self.state == State::Established {
            self.transmit.push_back(Message::Roster { entries });
        }
    }

    /// Acknowledges telemetry frames up to `seq` (see [`Message::TelemetryAck`]).
    pub fn ack_telemetry(&mut self, instance: u64, seq: u64) {
        if self.state == State::Established {
            self.transmit
                .push_back(Message::TelemetryAck { instance, seq });
        }
    }

    /// Answers an in-game command.
    pub fn reply_in_game(&mut self, ticket: u64, outcome: CommandOutcome) {
        if self.state == State::Established {
            self.transmit
                .push_back(Message::InGameReply { ticket, outcome });
        }
    }

    /// Tells the game server that this server is going away.
    pub fn shutdown(&mut self, reason: impl Into<String>) {
        if self.state == State::Established {
            self.transmit.push_back(Message::ShuttingDown {
                reason: reason.into(),
            });
        }
    }

    /// True once the handshake completed and until the session closes.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// True after a refusal or a protocol error.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Queues a command for the game server and returns the id its reply will carry.
    pub fn send_command(
        &mut self,
        command: impl Into<String>,
        args: Vec<String>,
        issued_by: impl Into<String>,
        now: Instant,
    ) -> Result<RequestId, SendError> {
        if self.state != State::Established {
            return Err(SendError::NotEstablished);
        }
        if self.pending.len() >= self.config.max_pending_commands {
            return Err(SendError::TooManyPending(self.pending.len()));
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending
            .insert(id, (now + self.config.command_timeout, now));
        self.transmit
            .push_back(Message::CommandRequest(CommandRequest {
                id,
                command: command.into(),
                args,
                issued_by: issued_by.into(),
            }));
        Ok(id)
    }

    /// Commands waiting for their reply.
    pub fn pending_commands(&self) -> usize {
        self.pending.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingHello | State::Authenticating => {
                Some(self.started + self.config.handshake_timeout)
            }
            State::Established => {
                let mut at = self.last_heard + self.config.idle_timeout;
                if let Some(p) = self.next_ping {
                    at = at.min(p);
                }
                if let Some(deadline) = self.pending.values().map(|v| v.0).min() {
                    at = at.min(deadline);
                }
                Some(at)
            }
            State::Closed => None,
        }
    }

    /// Advances timers: heartbeats, command timeouts, handshake and idle timeouts.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        match self.state {
            State::AwaitingHello | State::Authenticating => {
                if now >= self.started + self.config.handshake_timeout {
                    self.state = State::Closed;
                    return Err(ProtocolError::HandshakeTimeout(
                        self.config.handshake_timeout,
                    ));
                }
            }
            State::Established => {
                if now >= self.last_heard + self.config.idle_timeout {
                    self.state = State::Closed;
                    return Err(ProtocolError::IdleTimeout(self.config.idle_timeout));
                }
                if let Some(at) = self.next_ping
                    && now >= at
                {
                    self.nonce += 1;
                    self.transmit.push_back(Message::Ping { nonce: self.nonce });
                    self.next_ping = Some(now + self.config.heartbeat_interval);
                }
                let expired: Vec<RequestId> = self
                    .pending
                    .iter()
                    .filter(|(_, (deadline, _))| *deadline <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in expired {
                    self.pending.remove(&id);
                    self.events.push_back(ServerEvent::CommandTimedOut(id));
                }
            }
            State::Closed => {}
        }
        Ok(())
    }

    /// The next message to send to the game server.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// The next event for gm-server.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }
}
