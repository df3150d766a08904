//! Deterministic tests of the two session state machines talking through an in-memory pipe
//! that encodes and decodes every message, with a fake clock.

use std::time::{Duration, Instant};

use gm_proto::*;

struct Pair {
    now: Instant,
    codec: FrameCodec,
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
    server_events: Vec<ServerEvent>,
}

fn hello(version: u16, key: &str) -> Hello {
    Hello {
        protocol_version: version,
        server_id: "eu-1".into(),
        server_name: "EU 1".into(),
        region: "eu-west".into(),
        game_build: "2026.11".into(),
        sdk_version: "0.1.0".into(),
        key: key.into(),
    }
}

impl Pair {
    fn new(hello: Hello) -> Pair {
        let now = Instant::now();
        let mut cfg = ClientConfig::new(hello);
        cfg.idle_timeout = Duration::from_secs(15);
        Pair {
            now,
            codec: FrameCodec::default(),
            client: ClientSession::new(cfg, now),
            server: ServerSession::new(
                ServerConfig {
                    idle_timeout: Duration::from_secs(15),
                    ..ServerConfig::default()
                },
                now,
            ),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Moves messages both ways (through the codec) until neither side has anything to send.
    fn drive(&mut self) -> Result<(), ProtocolError> {
        loop {
            let mut moved = false;
            while let Some(m) = self.client.poll_transmit() {
                moved = true;
                let m = self.roundtrip(&m);
                self.server.handle_message(m, self.now)?;
            }
            while let Some(m) = self.server.poll_transmit() {
                moved = true;
                let m = self.roundtrip(&m);
                self.client.handle_message(m, self.now)?;
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            self.server_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            if !moved {
                return Ok(());
            }
        }
    }

    fn roundtrip(&self, m: &Message) -> Message {
        let mut buf = Vec::new();
        self.codec.encode(m, &mut buf).unwrap();
        let (out, used) = self.codec.decode(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        out
    }

    fn advance(&mut self, d: Duration) -> (Result<(), ProtocolError>, Result<(), ProtocolError>) {
        self.now += d;
        let c = self.client.handle_timeout(self.now);
        let s = self.server.handle_timeout(self.now);
        (c, s)
    }

    fn connect(&mut self) {
        self.drive().unwrap();
        let Some(ServerEvent::Hello(h)) = self.server_events.pop() else {
            panic!("no hello event: {:?}", self.server_events)
        };
        assert_eq!(h.key, "good");
        self.server.accept(42, self.now);
        self.drive().unwrap();
        assert!(self.client.is_established());
        assert!(matches!(
            self.client_events.pop(),
            Some(ClientEvent::Connected(Welcome { session_id: 42, .. }))
        ));
    }
}

#[test]
fn handshake_then_command_round_trip() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.connect();
    let id = p
        .server
        .send_command("status", vec![], "alice", p.now)
        .unwrap();
    p.drive().unwrap();
    let Some(ClientEvent::Command(req)) = p.client_events.pop() else {
        panic!("command not delivered")
    };
    assert_eq!((req.id, req.command.as_str()), (id, "status"));
    p.now += Duration::from_millis(3);
    assert!(p.client.reply(req.id, CommandOutcome::ok("12 players")));
    assert!(
        !p.client.reply(req.id, CommandOutcome::ok("twice")),
        "second reply dropped"
    );
    p.drive().unwrap();
    match p.server_events.pop() {
        Some(ServerEvent::Reply {
            id: got,
            outcome,
            elapsed,
        }) => {
            assert_eq!(got, id);
            assert_eq!(outcome, CommandOutcome::ok("12 players"));
            assert_eq!(elapsed, Duration::from_millis(3));
        }
        other => panic!("expected reply, got {other:?}"),
    }
    assert_eq!(p.server.pending_commands(), 0);
}

#[test]
fn unknown_version_is_rejected_with_the_supported_list() {
    let mut p = Pair::new(hello(99, "good"));
    p.drive().unwrap();
    match p.client_events.pop() {
        Some(ClientEvent::Rejected(r)) => {
            assert_eq!(r.code, RejectCode::UnsupportedVersion);
            assert_eq!(r.supported_versions, SUPPORTED_VERSIONS);
            assert!(r.message.contains("99"), "{}", r.message);
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    assert!(p.client.is_closed() && p.server.is_closed());
    assert!(matches!(
        p.server_events.pop(),
        Some(ServerEvent::Refused { .. })
    ));
}

#[test]
fn bad_key_is_rejected_by_the_application() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "bad"));
    p.drive().unwrap();
    assert!(matches!(p.server_events.pop(), Some(ServerEvent::Hello(_))));
    p.server.reject(RejectCode::InvalidKey, "unknown key");
    p.drive().unwrap();
    assert!(matches!(
        p.client_events.pop(),
        Some(ClientEvent::Rejected(Reject {
            code: RejectCode::InvalidKey,
            ..
        }))
    ));
}

#[test]
fn oversized_hello_fields_are_refused() {
    let mut h = hello(PROTOCOL_VERSION, "good");
    h.server_name = "x".repeat(MAX_IDENT_LEN + 1);
    let mut p = Pair::new(h);
    p.drive().unwrap();
    assert!(matches!(
        p.client_events.pop(),
        Some(ClientEvent::Rejected(Reject {
            code: RejectCode::InvalidHello,
            ..
        }))
    ));
}

#[test]
fn commands_before_the_handshake_are_a_protocol_error() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    let err = p
        .client
        .handle_message(
            Message::CommandRequest(CommandRequest {
                id: RequestId(1),
                command: "kick".into(),
                args: vec![],
                issued_by: "x".into(),
            }),
            p.now,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        ProtocolError::Unexpected {
            message: "command-request",
            ..
        }
    ));
    // And a client may never send a welcome to the server.
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.connect();
    let err = p
        .server
        .handle_message(
            Message::Welcome(Welcome {
                protocol_version: 1,
                session_id: 1,
                heartbeat_interval_ms: 1,
                server_version: String::new(),
            }),
            p.now,
        )
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Unexpected { .. }));
}

#[test]
fn heartbeats_measure_rtt_and_keep_the_session_alive() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.connect();
    for _ in 0..10 {
        let (c, s) = p.advance(DEFAULT_HEARTBEAT);
        c.unwrap();
        s.unwrap();
        p.drive().unwrap();
    }
    assert_eq!(p.client.rtt(), Some(Duration::ZERO));
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn a_silent_peer_times_out() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.connect();
    // Nothing is delivered any more: both sides give up after the idle timeout.
    p.now += Duration::from_secs(16);
    assert!(matches!(
        p.client.handle_timeout(p.now),
        Err(ProtocolError::IdleTimeout(_))
    ));
    assert!(matches!(
        p.server.handle_timeout(p.now),
        Err(ProtocolError::IdleTimeout(_))
    ));
}

#[test]
fn handshake_must_complete_in_time() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.drive().unwrap(); // hello delivered, never accepted
    let deadline = p.server.poll_timeout().unwrap();
    assert_eq!(deadline, p.now + Duration::from_secs(10));
    p.now = deadline;
    assert!(matches!(
        p.server.handle_timeout(p.now),
        Err(ProtocolError::HandshakeTimeout(_))
    ));
}

#[test]
fn unanswered_commands_time_out_and_late_replies_are_ignored() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.connect();
    let id = p.server.send_command("slow", vec![], "bob", p.now).unwrap();
    p.drive().unwrap();
    assert_eq!(
        p.server.poll_timeout(),
        Some(p.now + Duration::from_secs(5))
    );
    let (_, s) = p.advance(Duration::from_secs(5));
    s.unwrap();
    p.drive().unwrap();
    assert!(p.server_events.contains(&ServerEvent::CommandTimedOut(id)));
    p.server_events.clear();
    assert!(p.client.reply(id, CommandOutcome::ok("too late")));
    p.drive().unwrap();
    assert!(p.server_events.is_empty(), "{:?}", p.server_events);
}

#[test]
fn in_flight_commands_are_bounded() {
    let now = Instant::now();
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.server = ServerSession::new(
        ServerConfig {
            max_pending_commands: 2,
            ..ServerConfig::default()
        },
        now,
    );
    p.connect();
    p.server.send_command("a", vec![], "x", p.now).unwrap();
    p.server.send_command("b", vec![], "x", p.now).unwrap();
    assert_eq!(
        p.server.send_command("c", vec![], "x", p.now),
        Err(SendError::TooManyPending(2))
    );
}

#[test]
fn foreign_hello_of_unknown_layout_is_still_answered() {
    let now = Instant::now();
    let mut server = ServerSession::new(ServerConfig::default(), now);
    assert!(server.handle_foreign_hello(7));
    match server.poll_transmit() {
        Some(Message::Reject(r)) => assert_eq!(r.code, RejectCode::UnsupportedVersion),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_with_a_short_idle_timeout_pings_often_enough_to_stay_up() {
    let now = Instant::now();
    let mut cfg = ClientConfig::new(hello(PROTOCOL_VERSION, "good"));
    cfg.idle_timeout = Duration::from_secs(2); // shorter than the server's 5 s heartbeat
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.client = ClientSession::new(cfg, now);
    p.connect();
    for _ in 0..40 {
        let (c, s) = p.advance(Duration::from_millis(250));
        c.unwrap();
        s.unwrap();
        p.drive().unwrap();
    }
    assert!(p.client.is_established());
    assert!(
        p.client.rtt().is_some(),
        "the client's own pings were answered"
    );
}

#[test]
fn unanswered_commands_are_remembered_within_a_bound() {
    let now = Instant::now();
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    p.server = ServerSession::new(
        ServerConfig {
            max_pending_commands: 10_000,
            ..ServerConfig::default()
        },
        now,
    );
    p.connect();
    for i in 0..5000 {
        p.server
            .send_command(format!("c{i}"), vec![], "x", p.now)
            .unwrap();
    }
    p.drive().unwrap();
    assert_eq!(p.client.pending_commands(), 4096);
    // The newest can still be answered; the oldest were forgotten.
    assert!(p.client.reply(RequestId(5000), CommandOutcome::ok("")));
    assert!(!p.client.reply(RequestId(1), CommandOutcome::ok("")));
}

#[test]
fn the_welcome_names_the_version_of_the_hello() {
    let now = Instant::now();
    let mut s = ServerSession::new(
        ServerConfig {
            supported_versions: vec![1, 2],
            ..ServerConfig::default()
        },
        now,
    );
    s.handle_message(Message::Hello(hello(1, "good")), now)
        .unwrap();
    s.accept(1, now);
    match s.poll_transmit() {
        Some(Message::Welcome(w)) => assert_eq!(w.protocol_version, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn presence_and_in_game_commands_flow_both_ways() {
    let mut p = Pair::new(hello(PROTOCOL_VERSION, "good"));
    assert!(
        !p.client.send(Message::PlayerLeft { account_id: 1 }),
        "not before the welcome"
    );
    p.connect();
    let bob = PlayerInfo {
        account_id: 7,
        name: "Bob".into(),
    };
    assert!(p.client.send(Message::PlayerSnapshot {
        players: vec![bob.clone()]
    }));
    assert!(p.client.send(Message::PlayerJoined(PlayerInfo {
        account_id: 8,
        name: "Zoë".into()
    })));
    assert!(p.client.send(Message::PlayerLeft { account_id: 8 }));
    assert!(p.client.send(Message::InGameCommand {
        ticket: 1,
        account_id: 7,
        line: "/who".into()
    }));
    assert!(
        !p.client.send(Message::Ping { nonce: 1 }),
        "the session owns pings"
    );
    p.drive().unwrap();
    assert_eq!(p.server_events[0], ServerEvent::PlayerSnapshot(vec![bob]));
    assert_eq!(p.server_events[2], ServerEvent::PlayerLeft(8));
    assert_eq!(
        p.server_events[3],
        ServerEvent::InGameCommand {
            ticket: 1,
            account_id: 7,
            line: "/who".into()
        }
    );
    p.server.reply_in_game(1, CommandOutcome::ok("2 online"));
    p.drive().unwrap();
    assert_eq!(
        p.client_events.pop(),
        Some(ClientEvent::InGameReply {
            ticket: 1,
            outcome: CommandOutcome::ok("2 online")
        })
    );
    // A server may not send presence to a game server.
    let err = p
        .client
        .handle_message(Message::PlayerLeft { account_id: 1 }, p.now)
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Unexpected { .. }));
}
