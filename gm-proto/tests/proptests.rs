//! Property tests: every message survives a round trip; arbitrary bytes never panic.

use gm_proto::*;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn outcome() -> impl Strategy<Value = CommandOutcome> {
    prop_oneof![
        (text(), prop::collection::vec((text(), text()), 0..4))
            .prop_map(|(text, fields)| CommandOutcome::Ok { text, fields }),
        (
            prop_oneof![
                Just(CommandErrorCode::UnknownCommand),
                Just(CommandErrorCode::BadArguments),
                Just(CommandErrorCode::Failed),
                Just(CommandErrorCode::Timeout),
                Just(CommandErrorCode::Unavailable),
            ],
            text()
        )
            .prop_map(|(code, message)| CommandOutcome::Error { code, message }),
    ]
}

fn reject_code() -> impl Strategy<Value = RejectCode> {
    prop_oneof![
        Just(RejectCode::UnsupportedVersion),
        Just(RejectCode::InvalidKey),
        Just(RejectCode::RevokedKey),
        Just(RejectCode::ServerFull),
        Just(RejectCode::ShuttingDown),
        Just(RejectCode::InvalidHello),
        Just(RejectCode::Unavailable),
    ]
}

fn player() -> impl Strategy<Value = PlayerInfo> {
    (any::<u64>(), text()).prop_map(|(account_id, name)| PlayerInfo { account_id, name })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u16>(), text(), text(), text(), text(), text(), text()).prop_map(
            |(protocol_version, server_id, server_name, region, game_build, sdk_version, key)| {
                Message::Hello(Hello {
                    protocol_version,
                    server_id,
                    server_name,
                    region,
                    game_build,
                    sdk_version,
                    key,
                })
            }
        ),
        (any::<u16>(), any::<u64>(), any::<u32>(), text()).prop_map(|(v, s, h, sv)| {
            Message::Welcome(Welcome {
                protocol_version: v,
                session_id: s,
                heartbeat_interval_ms: h,
                server_version: sv,
            })
        }),
        (
            reject_code(),
            text(),
            prop::collection::vec(any::<u16>(), 0..4)
        )
            .prop_map(
                |(code, message, supported_versions)| Message::Reject(Reject {
                    code,
                    message,
                    supported_versions
                })
            ),
        any::<u64>().prop_map(|nonce| Message::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Message::Pong { nonce }),
        (
            any::<u64>(),
            text(),
            prop::collection::vec(text(), 0..5),
            text()
        )
            .prop_map(|(id, command, args, issued_by)| Message::CommandRequest(
                CommandRequest {
                    id: RequestId(id),
                    command,
                    args,
                    issued_by
                }
            )),
        (any::<u64>(), outcome()).prop_map(|(id, outcome)| Message::CommandReply(CommandReply {
            id: RequestId(id),
            outcome
        })),
        text().prop_map(|reason| Message::ShuttingDown { reason }),
        prop::collection::vec(player(), 0..5)
            .prop_map(|players| Message::PlayerSnapshot { players }),
        player().prop_map(Message::PlayerJoined),
        any::<u64>().prop_map(|account_id| Message::PlayerLeft { account_id }),
        (any::<u64>(), any::<u64>(), text()).prop_map(|(ticket, account_id, line)| {
            Message::InGameCommand {
                ticket,
                account_id,
                line,
            }
        }),
        (any::<u64>(), outcome())
            .prop_map(|(ticket, outcome)| Message::InGameReply { ticket, outcome }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let codec = FrameCodec::default();
        let mut buf = Vec::new();
        codec.encode(&msg, &mut buf).unwrap();
        let (back, used) = codec.decode(&buf).unwrap().unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(back, msg);
    }

    #[test]
    fn a_stream_of_messages_splits_anywhere(msgs in prop::collection::vec(message(), 1..8), chunk in 1usize..64) {
        let codec = FrameCodec::default();
        let mut wire = Vec::new();
        for m in &msgs { codec.encode(m, &mut wire).unwrap(); }
        let mut reader = FrameReader::new(codec);
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            reader.push(piece);
            while let Some(m) = reader.next_message().unwrap() { got.push(m); }
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let codec = FrameCodec::new(1024);
        let _ = codec.decode(&bytes);
        let _ = FrameCodec::peek_hello_version(&bytes);
        let mut reader = FrameReader::new(codec);
        reader.push(&bytes);
        while let Ok(Some(_)) = reader.next_message() {}
    }

    #[test]
    fn arbitrary_payloads_behind_a_valid_header_never_panic(payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let codec = FrameCodec::default();
        let mut buf = (payload.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&payload);
        match codec.decode(&buf) {
            Ok(Some((_, used))) => prop_assert_eq!(used, buf.len()),
            Ok(None) => prop_assert!(false, "a complete frame must decode or fail"),
            Err(_) => {}
        }
    }

    #[test]
    fn a_server_session_survives_any_message_sequence(msgs in prop::collection::vec(message(), 0..16)) {
        let now = std::time::Instant::now();
        let mut s = ServerSession::new(ServerConfig::default(), now);
        for m in msgs {
            if s.handle_message(m, now).is_err() { break; }
            while s.poll_transmit().is_some() {}
            if let Some(ServerEvent::Hello(_)) = s.poll_event() { s.accept(1, now); }
        }
    }
}
