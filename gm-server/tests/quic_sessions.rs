//! End-to-end tests over real loopback QUIC: a real gm-server, the real SDK.

mod common;

use std::time::Duration;

use common::*;
use gm_proto::{CommandOutcome, close};
use gm_sdk::{ConnectionStatus, GameStatus, RefusalKind, ServerTrust};
use gm_server::{CommandError, FailureKind};

fn refused(status: &ConnectionStatus) -> Option<(RefusalKind, String)> {
    match status {
        ConnectionStatus::Refused { kind, reason } => Some((*kind, reason.clone())),
        _ => None,
    }
}

async fn wait_refused(client: &gm_sdk::GmClient) -> (RefusalKind, String) {
    wait_for("client refused", Duration::from_secs(10), || {
        refused(&client.status()).is_some()
    })
    .await;
    refused(&client.status()).unwrap()
}

async fn wait_failure(t: &TestServer, kind: FailureKind) -> gm_server::ConnectionFailure {
    let gw = t.server.gateway().clone();
    wait_for(
        "server recorded the failure",
        Duration::from_secs(10),
        || gw.recent_failures().iter().any(|f| f.kind == kind),
    )
    .await;
    gw.recent_failures()
        .into_iter()
        .find(|f| f.kind == kind)
        .unwrap()
}

#[tokio::test]
async fn walking_skeleton_status_command_round_trip() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let (client, driver) = t.client(&key, "eu-1").build().unwrap();
    tokio::spawn(driver);
    wait_connected(&client).await;
    client.report_status(GameStatus {
        players: 7,
        tick_rate_hz: 60.0,
    });

    let gw = t.server.gateway();
    assert!(gw.is_connected("eu-1"));
    let info = &gw.connected()[0];
    assert_eq!(
        (info.region.as_str(), info.key_name.as_str()),
        ("test", "eu-1")
    );

    let reply = gw
        .send_command("eu-1", "status", vec![], "tester")
        .await
        .unwrap();
    assert_eq!(reply.field("players"), Some("7"), "{reply:?}");
    assert_eq!(reply.field("tick_rate_hz"), Some("60.00"));

    // A game command goes to the game loop's queue and comes back with the game's answer.
    let game = client.clone();
    let game_thread = std::thread::spawn(move || {
        for _ in 0..500 {
            if let Some(cmd) = game.poll_command() {
                let text = format!("{} {}", cmd.command, cmd.args.join(" "));
                game.reply(&cmd, CommandOutcome::ok(text));
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    });
    let reply = gw
        .send_command("eu-1", "echo", vec!["hi".into(), "there".into()], "tester")
        .await
        .unwrap();
    assert!(game_thread.join().unwrap());
    assert_eq!(reply, CommandOutcome::ok("echo hi there"));

    // The handshake was recorded in the store.
    let servers = recorded_game_servers(t.server.store(), 1).await;
    assert_eq!(servers[0].server_id, "eu-1");
    assert!(
        t.server.store().list_keys().await.unwrap()[0]
            .last_used_at_ms
            .is_some()
    );
    assert_eq!(client.stats().reconnects, 0);
}

#[tokio::test]
async fn unanswered_command_times_out_with_a_readable_error() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let (client, driver) = t.client(&key, "eu-1").build().unwrap();
    tokio::spawn(driver);
    wait_connected(&client).await;
    let err = t
        .server
        .gateway()
        .send_command("eu-1", "never-answered", vec![], "tester")
        .await
        .unwrap_err();
    assert_eq!(err, CommandError::Timeout(Duration::from_secs(2)));
    assert!(err.to_string().contains("did not answer"));
    let err = t
        .server
        .gateway()
        .send_command("nobody", "status", vec![], "tester")
        .await
        .unwrap_err();
    assert_eq!(err, CommandError::NotConnected("nobody".into()));
}

#[tokio::test]
async fn bad_key_is_refused_on_both_sides() {
    let t = start_server().await;
    let _real = t.create_key("eu-1").await;
    let client = t.client("gmk_not-a-real-key", "eu-9").spawn().unwrap();
    let (kind, reason) = wait_refused(&client).await;
    assert_eq!(kind, RefusalKind::InvalidKey);
    assert!(reason.contains("invalid game-server key"), "{reason}");
    let failure = wait_failure(&t, FailureKind::InvalidKey).await;
    assert_eq!(failure.server_id.as_deref(), Some("eu-9"));
    assert!(
        failure.reason.contains("does not know"),
        "{}",
        failure.reason
    );
    // A refused key is a security event: it is in the audit log.
    let audited = audit_rows(&t, "game_server.rejected", 1).await;
    assert_eq!(audited[0].actor, "eu-9");
    assert_eq!(audited[0].via, "game_server");
    assert!(
        audited[0]
            .result
            .starts_with("denied: invalid game-server key")
    );
    assert!(!t.server.gateway().is_connected("eu-9"));
    client.shutdown();
}

#[tokio::test]
async fn revoked_key_is_refused_on_both_sides() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    assert!(t.server.store().revoke_key("eu-1", 1).await.unwrap());
    let client = t.client(&key, "eu-1").spawn().unwrap();
    let (kind, reason) = wait_refused(&client).await;
    assert_eq!(kind, RefusalKind::RevokedKey);
    assert!(reason.contains("\"eu-1\" has been revoked"), "{reason}");
    let failure = wait_failure(&t, FailureKind::RevokedKey).await;
    assert!(failure.reason.contains("revoked"));
    client.shutdown();
}

/// A key bound to server ids serves only those: a game server with another id is refused
/// and audited, and the session of the game server that owns the id is left alone.
#[tokio::test]
async fn a_bound_key_serves_only_its_game_servers() {
    let t = start_server().await;
    let store = t.server.store();
    let eu_key = t.create_bound_key("eu", "eu-*").await;
    let eu_1 = t.client(&eu_key, "eu-1").spawn().unwrap();
    wait_connected(&eu_1).await;

    // The same key claiming a server id outside its binding: a leaked key cannot become
    // another game server.
    let na_1 = t.client(&eu_key, "na-1").spawn().unwrap();
    let (kind, reason) = wait_refused(&na_1).await;
    assert_eq!(kind, RefusalKind::InvalidKey);
    assert!(
        reason.contains("key \"eu\" is not for server id \"na-1\""),
        "{reason}"
    );
    let failure = wait_failure(&t, FailureKind::KeyNotForServer).await;
    assert_eq!(failure.server_id.as_deref(), Some("na-1"));
    let audited = audit_rows(&t, "game_server.rejected", 1).await;
    assert_eq!(
        (audited[0].actor.as_str(), audited[0].via.as_str()),
        ("na-1", "game_server")
    );
    assert!(
        audited[0]
            .result
            .starts_with("denied: game-server key \"eu\" is not for"),
        "{}",
        audited[0].result
    );
    assert!(!t.server.gateway().is_connected("na-1"));
    na_1.shutdown();

    // A key bound elsewhere cannot take over eu-1's live session.
    let na_key = t.create_bound_key("na", "na-*").await;
    let session = |t: &TestServer| {
        t.server
            .gateway()
            .connected()
            .into_iter()
            .find(|s| s.server_id == "eu-1")
            .map(|s| (s.session_id, s.key_name))
    };
    let before = session(&t);
    let impostor = t.client(&na_key, "eu-1").spawn().unwrap();
    let (kind, reason) = wait_refused(&impostor).await;
    assert_eq!(kind, RefusalKind::InvalidKey);
    assert!(
        reason.contains("key \"na\" is not for server id \"eu-1\""),
        "{reason}"
    );
    impostor.shutdown();
    assert_eq!(session(&t), before);
    assert!(eu_1.is_connected());

    // Narrowed to eu-1: a new eu-2 is refused, eu-1 keeps its session.
    let one = gm_server::keys::ServerIds::parse("eu-1").unwrap();
    assert!(store.bind_key("eu", Some(&one)).await.unwrap());
    let eu_2 = t.client(&eu_key, "eu-2").spawn().unwrap();
    let (kind, reason) = wait_refused(&eu_2).await;
    assert_eq!(kind, RefusalKind::InvalidKey);
    assert!(reason.contains("is not for server id \"eu-2\""), "{reason}");
    eu_2.shutdown();
    assert!(eu_1.is_connected() && t.server.gateway().is_connected("eu-1"));

    // Unbound again: any id may use it.
    assert!(store.bind_key("eu", None).await.unwrap());
    let na_2 = t.client(&eu_key, "na-2").spawn().unwrap();
    wait_connected(&na_2).await;
    na_2.shutdown();
    eu_1.shutdown();
}

/// Keys change while game servers are connected (the CLI, another instance): within
/// `quic.roster_refresh_ms` the sessions a narrowed binding or a revoke no longer admits end,
/// audited, and their SDK is refused at the next handshake with the reason.
#[tokio::test]
async fn revoking_or_narrowing_a_key_ends_the_sessions_it_no_longer_admits() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| c.quic.roster_refresh_ms = 200).await;
    let store = t.server.store();
    let eu_key = t.create_bound_key("eu", "eu-*").await;
    let other = t.create_key("other").await;
    let (eu_1, eu_2) = (
        t.client(&eu_key, "eu-1").spawn().unwrap(),
        t.client(&eu_key, "eu-2").spawn().unwrap(),
    );
    let bystander = t.client(&other, "na-1").spawn().unwrap();
    for c in [&eu_1, &eu_2, &bystander] {
        wait_connected(c).await;
    }

    let one = gm_server::keys::ServerIds::parse("eu-1").unwrap();
    assert!(store.bind_key("eu", Some(&one)).await.unwrap());
    let (kind, reason) = wait_refused(&eu_2).await;
    assert_eq!(kind, RefusalKind::InvalidKey);
    assert!(reason.contains("is not for server id \"eu-2\""), "{reason}");
    let gw = t.server.gateway();
    assert!(!gw.is_connected("eu-2"));
    let ended = audit_rows(&t, "game_server.disconnected", 1).await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].actor, "eu-2");
    assert_eq!(
        ended[0].result,
        "denied: game-server key \"eu\" is not for server id \"eu-2\" any more"
    );
    assert!(eu_1.is_connected() && gw.is_connected("eu-1"));

    assert!(store.revoke_key("eu", 2).await.unwrap());
    let (kind, reason) = wait_refused(&eu_1).await;
    assert_eq!(kind, RefusalKind::RevokedKey);
    assert!(reason.contains("\"eu\" has been revoked"), "{reason}");
    let ended = audit_rows(&t, "game_server.disconnected", 2).await;
    assert_eq!(
        ended.iter().map(|r| r.actor.as_str()).collect::<Vec<_>>(),
        ["eu-1", "eu-2"]
    );
    // Sessions on other keys are not touched; nothing is ended twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bystander.is_connected() && gw.is_connected("na-1"));
    assert_eq!(audit_rows(&t, "game_server.disconnected", 3).await.len(), 2);
    for c in [eu_1, eu_2, bystander] {
        c.shutdown();
    }
}

#[tokio::test]
async fn unknown_protocol_version_is_refused_with_the_versions_spoken() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let client = t.client(&key, "eu-1").protocol_version(99).spawn().unwrap();
    let (kind, reason) = wait_refused(&client).await;
    assert_eq!(kind, RefusalKind::UnsupportedVersion);
    assert!(reason.contains("version 99"), "{reason}");
    assert!(reason.contains("speaks [1]"), "{reason}");
    let failure = wait_failure(&t, FailureKind::UnsupportedVersion).await;
    assert!(failure.reason.contains("99"), "{}", failure.reason);
    client.shutdown();
}

#[tokio::test]
async fn wrong_certificate_fingerprint_is_refused_on_both_sides() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let wrong = "00:".repeat(31) + "00";
    let client = t
        .client(&key, "eu-1")
        .pin_fingerprint(&wrong)
        .spawn()
        .unwrap();
    let (kind, reason) = wait_refused(&client).await;
    assert_eq!(kind, RefusalKind::Certificate);
    assert!(reason.contains("does not match the pinned"), "{reason}");
    assert!(reason.contains(t.server.fingerprint()), "{reason}");
    let failure = wait_failure(&t, FailureKind::Tls).await;
    assert!(
        failure.reason.contains("TLS handshake failed"),
        "{}",
        failure.reason
    );
    client.shutdown();
}

#[tokio::test]
async fn the_ca_file_mode_trusts_the_servers_own_certificate() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let cert = t.dir.path().join("tls/cert.pem");
    let client = t
        .client(&key, "eu-1")
        .trust(ServerTrust::CaFile(cert))
        .server_name("localhost")
        .spawn()
        .unwrap();
    wait_connected(&client).await;
    // The same certificate under another name is refused.
    let other = t
        .client(&key, "eu-2")
        .trust(ServerTrust::CaFile(t.dir.path().join("tls/cert.pem")))
        .server_name("not-this-host.example")
        .spawn()
        .unwrap();
    let (kind, _) = wait_refused(&other).await;
    assert_eq!(kind, RefusalKind::Certificate);
    client.shutdown();
    other.shutdown();
}

/// Opens a raw gm-proto stream to the server, to send bytes the SDK never would.
async fn raw_stream(t: &TestServer) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(
        gm_sdk::quinn_client_config(&ServerTrust::Fingerprint(t.server.fingerprint().into()))
            .unwrap(),
    );
    let conn = ep
        .connect(t.server.quic_addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (send, recv) = conn.open_bi().await.unwrap();
    (conn, send, recv)
}

async fn closed_with(conn: &quinn::Connection) -> (u64, String) {
    let err = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .expect("server closes the connection");
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => (
            c.error_code.into_inner(),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        other => panic!("unexpected close: {other}"),
    }
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_that_connection() {
    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let (good, driver) = t.client(&key, "good-1").build().unwrap();
    tokio::spawn(driver);
    wait_connected(&good).await;

    // Garbage inside a well-sized frame.
    let (conn, mut send, _recv) = raw_stream(&t).await;
    send.write_all(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let (code, reason) = closed_with(&conn).await;
    assert_eq!(code, u64::from(close::PROTOCOL_ERROR));
    assert!(reason.contains("malformed frame"), "{reason}");

    // A length prefix above the 1 MiB limit: refused before the payload is read.
    let (conn, mut send, _recv) = raw_stream(&t).await;
    send.write_all(&(2u32 << 20).to_be_bytes()).await.unwrap();
    let (code, reason) = closed_with(&conn).await;
    assert_eq!(code, u64::from(close::PROTOCOL_ERROR));
    assert!(
        reason.contains("exceeds the maximum frame size"),
        "{reason}"
    );

    // A well-formed message that is not a hello.
    let (conn, mut send, _recv) = raw_stream(&t).await;
    let mut buf = Vec::new();
    gm_proto::FrameCodec::default()
        .encode(&gm_proto::Message::Ping { nonce: 1 }, &mut buf)
        .unwrap();
    send.write_all(&buf).await.unwrap();
    let (code, reason) = closed_with(&conn).await;
    assert_eq!(code, u64::from(close::PROTOCOL_ERROR));
    assert!(reason.contains("unexpected ping"), "{reason}");

    assert_eq!(
        t.server
            .gateway()
            .stats()
            .protocol_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    // The well-behaved game server never noticed.
    assert!(good.is_connected());
    let reply = t
        .server
        .gateway()
        .send_command("good-1", "status", vec![], "tester")
        .await
        .unwrap();
    assert!(reply.field("players").is_some());
    assert_eq!(good.stats().reconnects, 0);
}

#[tokio::test]
async fn connection_cap_refuses_extra_game_servers_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| c.quic.max_connections = 1).await;
    let key = t.create_key("fleet").await;
    let first = t.client(&key, "a").spawn().unwrap();
    wait_connected(&first).await;
    let second = t.client(&key, "b").spawn().unwrap();
    wait_for("second refused as full", Duration::from_secs(10), || {
        matches!(second.status(), ConnectionStatus::Connecting { last_error: Some(e), .. } if e.contains("connection cap"))
    })
    .await;
    assert!(!t.server.gateway().is_connected("b"));
    first.shutdown();
    // Once the first leaves, the second gets in by itself.
    wait_connected(&second).await;
    second.shutdown();
}

#[tokio::test]
async fn a_newer_connection_with_the_same_id_replaces_the_old_one() {
    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let old = t.client(&key, "eu-1").spawn().unwrap();
    wait_connected(&old).await;
    let first_session = t.server.gateway().connected()[0].session_id;
    let new = t.client(&key, "eu-1").spawn().unwrap();
    wait_connected(&new).await;
    wait_for(
        "directory points at the new session",
        Duration::from_secs(5),
        || {
            t.server
                .gateway()
                .connected()
                .first()
                .is_some_and(|i| i.session_id != first_session)
        },
    )
    .await;
    // The replaced one is told why and backs off instead of fighting for the id.
    let (kind, reason) = wait_refused(&old).await;
    assert_eq!(kind, RefusalKind::DuplicateServerId);
    assert!(reason.contains("\"eu-1\""), "{reason}");
    assert!(new.is_connected());
    old.shutdown();
    new.shutdown();
}

#[tokio::test]
async fn a_hello_of_an_unknown_layout_still_gets_a_reject_naming_the_versions() {
    let t = start_server().await;
    let (conn, mut send, mut recv) = raw_stream(&t).await;
    // Variant 0 (hello), version 7 as a varint, then bytes no v1 hello could hold.
    send.write_all(&[0, 0, 0, 5, 0x00, 0x07, 0xfe, 0xfe, 0xfe])
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let codec = gm_proto::FrameCodec::default();
    let msg = loop {
        let n = recv
            .read(&mut chunk)
            .await
            .unwrap()
            .expect("a reject before the end");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((msg, _)) = codec.decode(&buf).unwrap() {
            break msg;
        }
    };
    match msg {
        gm_proto::Message::Reject(r) => {
            assert_eq!(r.code, gm_proto::RejectCode::UnsupportedVersion);
            assert_eq!(r.supported_versions, gm_proto::SUPPORTED_VERSIONS);
            assert!(r.message.contains("version 7"), "{}", r.message);
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    let (code, _) = closed_with(&conn).await;
    assert_eq!(code, u64::from(close::REJECTED));
}

#[tokio::test]
async fn a_client_idle_timeout_shorter_than_the_heartbeat_does_not_drop_the_session() {
    let dir = tempfile::tempdir().unwrap();
    // Server pings every 5 s; the client gives up after 1 s of silence unless it pings itself.
    let t = start_server_with(dir, |c| c.quic.heartbeat_ms = 5_000).await;
    let key = t.create_key("eu-1").await;
    let client = t
        .client(&key, "eu-1")
        .idle_timeout(Duration::from_secs(1))
        .spawn()
        .unwrap();
    wait_connected(&client).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(client.is_connected());
    assert_eq!(
        client.stats().reconnects,
        0,
        "{:?}",
        client.last_disconnect()
    );
    client.shutdown();
}

#[tokio::test]
async fn graceful_shutdown_tells_game_servers_and_they_reconnect_to_the_next_server() {
    let t = start_server().await;
    let key = t.create_key("eu-1").await;
    let client = t.client(&key, "eu-1").spawn().unwrap();
    wait_connected(&client).await;
    let addr = t.server.quic_addr();
    let dir = t.dir;
    t.server.shutdown().await;
    wait_for(
        "client notices the shutdown",
        Duration::from_secs(5),
        || !client.is_connected(),
    )
    .await;
    let why = client.last_disconnect().unwrap();
    assert!(why.contains("shutting down"), "{why}");
    // Same data directory (same certificate and keys), same port.
    let t = start_server_with(dir, |c| c.quic.listen = addr).await;
    let took = wait_for("client reconnects", Duration::from_secs(10), || {
        client.is_connected()
    })
    .await;
    assert!(took < Duration::from_secs(5), "reconnected after {took:?}");
    assert_eq!(client.stats().reconnects, 1);
    client.shutdown();
    t.server.shutdown().await;
}

#[tokio::test]
async fn health_and_readiness_answer_over_https() {
    let t = start_server().await;
    let http = t.http();
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let resp = http.get(t.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap().trim(), want);
    }
}

/// A game server that speaks the protocol itself (not through the SDK): authenticated with a
/// valid key, free to send whatever gm-proto allows.
struct RogueGame {
    conn: quinn::Connection,
    send: quinn::SendStream,
    _recv: quinn::RecvStream,
    session: gm_proto::ClientSession,
}

impl RogueGame {
    async fn connect(t: &TestServer, key: &str, server_id: &str) -> RogueGame {
        let (conn, mut send, mut recv) = raw_stream(t).await;
        let hello = gm_proto::Hello {
            protocol_version: gm_proto::PROTOCOL_VERSION,
            server_id: server_id.into(),
            server_name: server_id.into(),
            region: "test".into(),
            game_build: "rogue".into(),
            sdk_version: "0".into(),
            key: key.into(),
        };
        let now = std::time::Instant::now();
        let mut session = gm_proto::ClientSession::new(gm_proto::ClientConfig::new(hello), now);
        send.write_all(&encode_all(&mut session)).await.unwrap();
        let mut reader = gm_proto::FrameReader::new(gm_proto::FrameCodec::default());
        let mut buf = vec![0u8; 64 * 1024];
        while !session.is_established() {
            let n = recv
                .read(&mut buf)
                .await
                .unwrap()
                .expect("the server answers");
            reader.push(&buf[..n]);
            while let Some(msg) = reader.next_message().unwrap() {
                session
                    .handle_message(msg, std::time::Instant::now())
                    .unwrap();
            }
        }
        RogueGame {
            conn,
            send,
            _recv: recv,
            session,
        }
    }

    async fn send(&mut self, msg: gm_proto::Message) {
        assert!(self.session.send(msg));
        let out = encode_all(&mut self.session);
        self.send.write_all(&out).await.unwrap();
    }
}

fn encode_all(session: &mut gm_proto::ClientSession) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(msg) = session.poll_transmit() {
        gm_proto::FrameCodec::default()
            .encode(&msg, &mut out)
            .unwrap();
    }
    out
}

/// A game server that reports a game command it "ran locally" for an account gm-server's
/// roster does not allow is not believed: the run is audited as forged.
#[tokio::test]
async fn a_local_run_the_roster_does_not_allow_is_audited_as_forged() {
    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let mut rogue = RogueGame::connect(&t, &key, "rogue-1").await;
    rogue
        .send(gm_proto::Message::GameCommands {
            specs: gm_examples::game::game_commands(),
        })
        .await;
    rogue
        .send(gm_proto::Message::PlayerJoined(gm_proto::PlayerInfo {
            account_id: 777,
            name: "Mallory".into(),
        }))
        .await;
    rogue
        .send(gm_proto::Message::LocalCommandRan {
            account_id: 777,
            line: "/tp Mallory 10 10".into(),
            outcome: CommandOutcome::ok("teleported Mallory to 10, 10"),
        })
        .await;
    let rows = audit_rows(&t, "command", 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        (row.actor.as_str(), row.via.as_str(), row.source.as_str()),
        ("player:777", "in_game", "rogue-1")
    );
    assert!(row.result.starts_with("forged:"), "{}", row.result);
    assert!(row.params.contains("ran_locally"), "{}", row.params);
}

/// A malformed frame on the telemetry stream closes that stream, not the session.
#[tokio::test]
async fn a_malformed_telemetry_stream_is_stopped_and_the_session_lives_on() {
    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let rogue = RogueGame::connect(&t, &key, "rogue-2").await;
    let mut uni = rogue.conn.open_uni().await.unwrap();
    uni.write_all(&[
        gm_proto::telemetry::STREAM_TELEMETRY,
        0,
        0,
        0,
        4,
        0xff,
        0xff,
        0xff,
        0xff,
    ])
    .await
    .unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), uni.stopped())
        .await
        .expect("gm-server stops the stream")
        .unwrap();
    assert_eq!(
        stopped,
        Some(quinn::VarInt::from_u32(close::PROTOCOL_ERROR))
    );
    let stats = t.server.gateway().telemetry().stats();
    assert_eq!(
        stats
            .stream_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        rogue.conn.close_reason().is_none(),
        "the connection stays up"
    );
    assert!(t.server.gateway().is_connected("rogue-2"));
    assert_eq!(t.server.gateway().telemetry().fleet().series_count(), 0);
}
