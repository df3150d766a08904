use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::{DEFAULT_HEARTBEAT, ProtocolError};
use crate::message::{
    CommandOutcome, CommandReply, CommandRequest, Hello, Message, Reject, RequestId, Welcome,
};

/// Unanswered commands remembered; past this the oldest are forgotten (their replies would be
/// dropped by the server anyway, which stops waiting after its command timeout).
const MAX_PENDING: usize = 4096;

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The hello sent first.
    pub hello: Hello,
    /// How long to wait for the server's welcome.
    pub handshake_timeout: Duration,
    /// Close when nothing is heard from the server for this long.
    pub idle_timeout: Duration,
}

impl ClientConfig {
    /// Defaults: 10 s handshake timeout, 30 s idle timeout.
    pub fn new(hello: Hello) -> Self {
        ClientConfig {
            hello,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Something the game-server side must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server accepted the handshake.
    Connected(Welcome),
    /// The server refused the handshake; the connection is over.
    Rejected(Reject),
    /// The server asks the game to run a command; answer with [`ClientSession::reply`].
    Command(CommandRequest),
    /// The server is shutting down; expect the connection to close.
    ServerShuttingDown(String),
    /// gm-server's roster of staff accounts and roles (replaces the previous one).
    Roster(Vec<(u64, crate::command::Role)>),
    /// gm-server has every telemetry frame up to this sequence number.
    TelemetryAck(u64),
    /// The answer to an in-game command sent with [`ClientSession::send`].
    InGameReply {
        /// Its ticket.
        ticket: u64,
        /// What to show the player.
        outcome: CommandOutcome,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    Established,
    Closed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Handshaking => "handshaking",
            State::Established => "established",
            State::Closed => "closed",
        }
    }
}

/// The game-server end of a session.
///
/// ```
/// # use std::time::Instant;
/// use gm_proto::{ClientConfig, ClientSession, Hello, Message, PROTOCOL_VERSION};
/// let hello = Hello {
///     protocol_version: PROTOCOL_VERSION,
///     server_id: "eu-1".into(), server_name: "EU 1".into(), region: "eu".into(),
///     game_build: "1.0".into(), sdk_version: "0.1.0".into(), key: "secret".into(),
/// };
/// let mut session = ClientSession::new(ClientConfig::new(hello), Instant::now());
/// assert!(matches!(session.poll_transmit(), Some(Message::Hello(_))));
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    started: Instant,
    last_heard: Instant,
    heartbeat: Duration,
    next_ping: Option<Instant>,
    ping_nonce: u64,
    ping_sent: Option<(u64, Instant)>,
    rtt: Option<Duration>,
    pending: BTreeSet<RequestId>,
    transmit: VecDeque<Message>,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    /// Starts a session: the hello is queued for transmission.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut transmit = VecDeque::new();
        transmit.push_back(Message::Hello(config.hello.clone()));
        ClientSession {
            config,
            state: State::Handshaking,
            started: now,
            last_heard: now,
            heartbeat: DEFAULT_HEARTBEAT,
            next_ping: None,
            ping_nonce: 0,
            ping_sent: None,
            rtt: None,
            pending: BTreeSet::new(),
            transmit,
            events: VecDeque::new(),
        }
    }

    /// True once the server's welcome arrived and until the session closes.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// True after a rejection or a protocol error.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Latest measured round-trip time of a heartbeat.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Feeds one message received from the server.
    pub fn handle_message(&mut self, msg: Message, now: Instant) -> Result<(), ProtocolError> {
        self.last_heard = now;
        match (self.state, msg) {
            (State::Handshaking, Message::Welcome(welcome)) => {
                self.state = State::Established;
                // Ping at least three times per idle timeout of ours, whatever the server's
                // interval: its pongs are what keeps our idle timer from firing.
                self.heartbeat = Duration::from_millis(u64::from(welcome.heartbeat_interval_ms))
                    .min(self.config.idle_timeout / 3)
                    .max(Duration::from_millis(100));
                self.next_ping = Some(now + self.heartbeat);
                self.events.push_back(ClientEvent::Connected(welcome));
            }
            (State::Handshaking, Message::Reject(reject)) => {
                self.state = State::Closed;
                self.events.push_back(ClientEvent::Rejected(reject));
            }
            (State::Established, Message::Ping { nonce }) => {
                self.transmit.push_back(Message::Pong { nonce });
            }
            (State::Established, Message::Pong { nonce }) => {
                if let Some((sent_nonce, at)) = self.ping_sent
                    && sent_nonce == nonce
                {
                    self.rtt = Some(now.saturating_duration_since(at));
                    self.ping_sent = None;
                }
            }
            (State::Established, Message::CommandRequest(req)) => {
                // Ids grow; the oldest unanswered ones have long timed out on the server.
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_first();
                }
                self.pending.insert(req.id);
                self.events.push_back(ClientEvent::Command(req));
            }
            (State::Established, Message::Roster { entries }) => {
                self.events.push_back(ClientEvent::Roster(entries));
            }
            (State::Established, Message::TelemetryAck { seq, .. }) => {
                self.events.push_back(ClientEvent::TelemetryAck(seq));
            }
            (State::Established, Message::InGameReply { ticket, outcome }) => {
                self.events
                    .push_back(ClientEvent::InGameReply { ticket, outcome });
            }
            (State::Established | State::Handshaking, Message::ShuttingDown { reason }) => {
                self.events
                    .push_back(ClientEvent::ServerShuttingDown(reason));
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

    /// Queues the reply to a command. Replies to unknown or already answered ids are dropped
    /// (returns false): the server only accepts one answer per request.
    pub fn reply(&mut self, id: RequestId, outcome: CommandOutcome) -> bool {
        if self.state != State::Established || !self.pending.remove(&id) {
            return false;
        }
        self.transmit
            .push_back(Message::CommandReply(CommandReply { id, outcome }));
        true
    }

    /// Queues a game-originated message (presence, in-game commands). Returns false, and
    /// queues nothing, when the session is not established or `msg` is not one a game server
    /// sends on its own.
    pub fn send(&mut self, msg: Message) -> bool {
        let allowed = matches!(
            msg,
            Message::PlayerSnapshot { .. }
                | Message::PlayerJoined(_)
                | Message::PlayerLeft { .. }
                | Message::InGameCommand { .. }
                | Message::GameCommands { .. }
                | Message::LocalCommandRan { .. }
        );
        if !allowed || self.state != State::Established {
            return false;
        }
        self.transmit.push_back(msg);
        true
    }

    /// Commands received and not yet answered.
    pub fn pending_commands(&self) -> usize {
        self.pending.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Handshaking => Some(self.started + self.config.handshake_timeout),
            State::Established => {
                let idle = self.last_heard + self.config.idle_timeout;
                Some(self.next_ping.map_or(idle, |p| p.min(idle)))
            }
            State::Closed => None,
        }
    }

    /// Advances timers: sends heartbeats, and fails a session whose server went silent.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        match self.state {
            State::Handshaking if now >= self.started + self.config.handshake_timeout => {
                self.state = State::Closed;
                Err(ProtocolError::HandshakeTimeout(
                    self.config.handshake_timeout,
                ))
            }
            State::Established => {
                if now >= self.last_heard + self.config.idle_timeout {
                    self.state = State::Closed;
                    return Err(ProtocolError::IdleTimeout(self.config.idle_timeout));
                }
                if let Some(at) = self.next_ping
                    && now >= at
                {
                    self.ping_nonce += 1;
                    self.ping_sent = Some((self.ping_nonce, now));
                    self.transmit.push_back(Message::Ping {
                        nonce: self.ping_nonce,
                    });
                    self.next_ping = Some(now + self.heartbeat);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The next message to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}
