//! One game server's connection: moves frames between a QUIC stream and the sans-IO
//! [`ServerSession`], authenticates the hello against the store, and routes commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gm_proto::{
    DecodeError, FrameCodec, FrameReader, Hello, ProtocolError, RejectCode, RequestId, ServerEvent,
    ServerSession, close,
};
use quinn::VarInt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    CommandError, ConnectionFailure, Entry, FailureKind, GameServerInfo, Gateway, ToConnection,
};
use crate::keys;
use crate::store::{GameServerRecord, now_ms};
use crate::telemetry::ServerLabels;

/// Commands queued per connection before callers get "busy".
const COMMAND_QUEUE: usize = 256;

/// Largest frame accepted before the key is checked: a hello is well under 1 KiB, and an
/// unauthenticated peer must not make us buffer a full-size frame.
const PRE_AUTH_MAX_FRAME: usize = 4 * 1024;

struct ConnGuard<'a>(&'a AtomicUsize);

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) async fn run(gateway: Gateway, incoming: quinn::Incoming) {
    let inner = &gateway.inner;
    let remote = incoming.remote_address();
    inner.connections.fetch_add(1, Ordering::Relaxed);
    let _guard = ConnGuard(&inner.connections);
    let handshake_timeout = Duration::from_millis(inner.config.handshake_timeout_ms);
    let fail = |kind, reason: String| {
        gateway.record_failure(ConnectionFailure {
            remote_addr: remote,
            server_id: None,
            kind,
            reason,
        })
    };

    let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            fail(
                FailureKind::Tls,
                format!(
                    "TLS handshake failed: {e} (a game server that pins another certificate \
                     fingerprint, or does not trust our CA, ends up here)"
                ),
            );
            return;
        }
        Err(_) => {
            fail(FailureKind::Timeout, "TLS handshake timed out".into());
            return;
        }
    };
    let (send, recv) = match tokio::time::timeout(handshake_timeout, conn.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(e)) => {
            fail(
                FailureKind::Timeout,
                format!("closed before opening a stream: {e}"),
            );
            return;
        }
        Err(_) => {
            fail(FailureKind::Timeout, "no stream opened in time".into());
            conn.close(VarInt::from_u32(close::TIMED_OUT), b"handshake timeout");
            return;
        }
    };
    let codec = FrameCodec::new(inner.config.max_frame_bytes);
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let write_timeout = Duration::from_millis(inner.config.idle_timeout_ms);
    let mut driver = Driver {
        session: ServerSession::new(inner.config.session_config(), Instant::now()),
        gateway: gateway.clone(),
        conn,
        send,
        recv,
        reader: FrameReader::new(FrameCodec::new(PRE_AUTH_MAX_FRAME)),
        codec,
        write_timeout,
        out: Vec::new(),
        pending: HashMap::new(),
        tx,
        rx,
        remote,
        server_id: None,
        session_id: 0,
        replaced: CancellationToken::new(),
        close: None,
        telemetry_flush: None,
    };
    driver.run().await;
    driver.cleanup();
}

struct Driver {
    gateway: Gateway,
    session: ServerSession,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    reader: FrameReader,
    codec: FrameCodec,
    /// A peer that stops reading for this long is disconnected rather than stalling us.
    write_timeout: Duration,
    out: Vec<u8>,
    pending: HashMap<RequestId, oneshot::Sender<Result<gm_proto::CommandOutcome, CommandError>>>,
    tx: mpsc::Sender<ToConnection>,
    rx: mpsc::Receiver<ToConnection>,
    remote: std::net::SocketAddr,
    server_id: Option<String>,
    session_id: u64,
    replaced: CancellationToken,
    /// Close code and reason once the session decided to end.
    close: Option<(u32, String)>,
    /// Asks the telemetry stream's task to finish what it holds and say what to acknowledge.
    telemetry_flush: Option<crate::telemetry::FlushRequests>,
}

impl Driver {
    async fn run(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            self.process_events().await;
            match tokio::time::timeout(self.write_timeout, self.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(remote = %self.remote, "write failed: {e}");
                    break;
                }
                Err(_) => {
                    self.protocol_failure(
                        FailureKind::Timeout,
                        close::TIMED_OUT,
                        format!("game server read nothing for {:?}", self.write_timeout),
                    );
                    let (code, reason) = self.close.take().expect("just set");
                    self.conn.close(VarInt::from_u32(code), reason.as_bytes());
                    break;
                }
            }
            if let Some((code, reason)) = self.close.take() {
                if code == close::SHUTTING_DOWN {
                    self.linger().await;
                }
                self.conn
                    .close(VarInt::from_u32(code), truncate(&reason).as_bytes());
                break;
            }
            if self.session.is_closed() {
                // Closing at once would discard the reject still in flight.
                self.linger().await;
                self.conn
                    .close(VarInt::from_u32(close::REJECTED), b"handshake rejected");
                break;
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let shutdown = self.gateway.inner.shutdown.clone();
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // Acknowledge every telemetry frame stored or applied first, so the game
                    // does not send them again to whoever comes next.
                    if let Some(flush) = self.telemetry_flush.take()
                        && let Some((instance, seq)) = crate::telemetry::flush(&flush).await
                    {
                        self.session.ack_telemetry(instance, seq);
                    }
                    self.session.shutdown("gm-server is shutting down");
                    self.close = Some((close::SHUTTING_DOWN, "gm-server is shutting down".into()));
                }
                _ = self.replaced.cancelled() => {
                    self.close = Some((close::REPLACED, "replaced by a newer connection with the same server id".into()));
                }
                read = self.recv.read(&mut chunk) => match read {
                    Ok(Some(n)) => self.on_bytes(&chunk[..n]),
                    Ok(None) => {
                        tracing::info!(remote = %self.remote, server_id = self.server_id.as_deref().unwrap_or("-"), "game server closed its stream");
                        break;
                    }
                    Err(e) => {
                        tracing::info!(remote = %self.remote, server_id = self.server_id.as_deref().unwrap_or("-"), "game server disconnected: {e}");
                        break;
                    }
                },
                _ = sleep_until(deadline) => {
                    if let Err(e) = self.session.handle_timeout(Instant::now()) {
                        self.protocol_failure(FailureKind::Timeout, close::TIMED_OUT, e.to_string());
                    }
                }
                Some(msg) = self.rx.recv() => self.on_request(msg),
            }
        }
    }

    fn on_bytes(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
        loop {
            match self.reader.next_message() {
                Ok(Some(msg)) => {
                    self.gateway
                        .stats()
                        .frames_in
                        .fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.session.handle_message(msg, Instant::now()) {
                        self.on_protocol_error(e);
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let foreign = matches!(e, DecodeError::Malformed(_))
                        && self
                            .reader
                            .head_payload()
                            .and_then(FrameCodec::peek_hello_version)
                            .is_some_and(|v| self.session.handle_foreign_hello(v));
                    if !foreign {
                        self.protocol_failure(
                            FailureKind::ProtocolError,
                            close::PROTOCOL_ERROR,
                            format!("protocol error: {e}"),
                        );
                    }
                    return;
                }
            }
        }
    }

    fn on_protocol_error(&mut self, e: ProtocolError) {
        self.protocol_failure(
            FailureKind::ProtocolError,
            close::PROTOCOL_ERROR,
            format!("protocol error: {e}"),
        );
    }

    fn protocol_failure(&mut self, kind: FailureKind, code: u32, reason: String) {
        if kind == FailureKind::ProtocolError {
            self.gateway
                .stats()
                .protocol_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        self.gateway.record_failure(ConnectionFailure {
            remote_addr: self.remote,
            server_id: self.server_id.clone(),
            kind,
            reason: reason.clone(),
        });
        self.close = Some((code, reason));
    }

    fn on_request(&mut self, msg: ToConnection) {
        match msg {
            ToConnection::Command {
                command,
                args,
                issued_by,
                reply,
            } => match self
                .session
                .send_command(command, args, issued_by, Instant::now())
            {
                Ok(id) => {
                    self.pending.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(CommandError::Busy(e.to_string())));
                }
            },
            ToConnection::InGameReply { ticket, outcome } => {
                self.session.reply_in_game(ticket, outcome);
            }
            ToConnection::Roster(entries) => self.session.send_roster(entries),
            ToConnection::TelemetryAck { instance, seq } => {
                self.session.ack_telemetry(instance, seq);
            }
            // A normal close: the SDK reconnects and hears the reason from the handshake.
            ToConnection::End { kind, reason } => {
                self.protocol_failure(kind, close::NORMAL, reason);
            }
        }
    }

    async fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Hello(hello) => self.authenticate(hello).await,
                ServerEvent::Refused { reject, server_id } => {
                    self.gateway
                        .stats()
                        .rejected
                        .fetch_add(1, Ordering::Relaxed);
                    let kind = match reject.code {
                        RejectCode::UnsupportedVersion => FailureKind::UnsupportedVersion,
                        _ => FailureKind::InvalidHello,
                    };
                    self.gateway.record_failure(ConnectionFailure {
                        remote_addr: self.remote,
                        server_id,
                        kind,
                        reason: reject.message,
                    });
                }
                ServerEvent::Reply { id, outcome, .. } => {
                    if let Some(tx) = self.pending.remove(&id) {
                        let _ = tx.send(Ok(outcome));
                    }
                }
                ServerEvent::GameCommands(specs) => {
                    let mut registry = gm_proto::command::Registry::new();
                    for spec in specs {
                        if let Err(e) = registry.register(spec) {
                            tracing::warn!(
                                server_id = self.server_id.as_deref().unwrap_or("-"),
                                "ignoring a game command: {e}"
                            );
                        }
                    }
                    if let Some(id) = &self.server_id {
                        self.gateway
                            .inner
                            .game_commands
                            .insert(id.clone(), std::sync::Arc::new(registry));
                    }
                }
                ServerEvent::LocalCommandRan {
                    account_id,
                    line,
                    outcome,
                } => self.audit_local_command(account_id, line, outcome),
                ServerEvent::PlayerSnapshot(players) => {
                    if let Some(id) = &self.server_id {
                        self.gateway.inner.presence.replace_server(id, &players);
                    }
                }
                ServerEvent::PlayerJoined(p) => {
                    if let Some(id) = &self.server_id {
                        self.gateway.inner.presence.join(id, &p);
                    }
                }
                ServerEvent::PlayerLeft(account_id) => {
                    if let Some(id) = &self.server_id {
                        self.gateway.inner.presence.leave(id, account_id);
                    }
                }
                ServerEvent::InGameCommand {
                    ticket,
                    account_id,
                    line,
                } => self.in_game_command(ticket, account_id, line),
                ServerEvent::CommandTimedOut(id) => {
                    if let Some(tx) = self.pending.remove(&id) {
                        let timeout =
                            Duration::from_millis(self.gateway.inner.config.command_timeout_ms);
                        let _ = tx.send(Err(CommandError::Timeout(timeout)));
                    }
                }
            }
        }
    }

    /// Audits a game command the game ran locally. The game's word is not taken: gm-server
    /// looks the account's role up itself and marks runs it would not have allowed.
    fn audit_local_command(
        &self,
        account_id: u64,
        line: String,
        outcome: gm_proto::CommandOutcome,
    ) {
        let Some(server_id) = self.server_id.clone() else {
            return;
        };
        let gateway = self.gateway.clone();
        tokio::spawn(async move {
            let staff = staff_on_server(&gateway, account_id, &server_id).await;
            let role: Option<gm_proto::command::Role> =
                staff.as_ref().and_then(|a| a.role.parse().ok());
            let allowed = gateway
                .inner
                .game_commands
                .get(&server_id)
                .is_some_and(|r| r.parse(&line, role).is_ok());
            let result = match (&outcome, allowed) {
                (
                    gm_proto::CommandOutcome::Error {
                        code: gm_proto::CommandErrorCode::UnknownCommand,
                        message,
                    },
                    _,
                ) => {
                    format!("denied: {message}")
                }
                (_, false) => "forged: gm-server's roster does not allow this account this command"
                    .to_string(),
                (gm_proto::CommandOutcome::Ok { .. }, true) => "ok".to_string(),
                (gm_proto::CommandOutcome::Error { message, .. }, true) => {
                    format!("error: {message}")
                }
            };
            if result.starts_with("forged") {
                tracing::warn!(%server_id, account_id, "a game server reported a command the roster does not allow");
            }
            let entry = crate::audit::NewAuditEntry::new(
                staff.map_or(format!("player:{account_id}"), |a| a.name),
                crate::audit::Via::InGame,
                "command",
            )
            .role(role.map_or("-".to_string(), |r| r.to_string()))
            .source(server_id.clone())
            .target(line.split_whitespace().next().unwrap_or("").to_string())
            .params(serde_json::json!({ "line": line, "origin_server": server_id, "ran_locally": true }))
            .result(result);
            if let Err(e) = gateway.audit(entry).await {
                tracing::error!("could not audit a local command: {e}");
            }
        });
    }

    /// Runs a command a player typed, off this connection's loop: the role comes from the
    /// player link in gm-server's store, whatever the game server says.
    fn in_game_command(&self, ticket: u64, account_id: u64, line: String) {
        let Some(server_id) = self.server_id.clone() else {
            return;
        };
        let gateway = self.gateway.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let staff = staff_on_server(&gateway, account_id, &server_id).await;
            let ctx = crate::commands::CommandContext {
                actor: staff
                    .as_ref()
                    .map_or(format!("player:{account_id}"), |a| a.name.clone()),
                role: staff.and_then(|a| a.role.parse().ok()),
                via: crate::audit::Via::InGame,
                source: server_id.clone(),
                origin_server: Some(server_id),
            };
            let outcome = crate::commands::execute(&gateway, &ctx, &line).await;
            let _ = tx.try_send(ToConnection::InGameReply { ticket, outcome });
        });
    }

    async fn authenticate(&mut self, hello: Hello) {
        let inner = self.gateway.inner.clone();
        let refuse = |this: &mut Self, code: RejectCode, kind: FailureKind, message: String| {
            if matches!(
                kind,
                FailureKind::InvalidKey | FailureKind::RevokedKey | FailureKind::KeyNotForServer
            ) {
                this.gateway
                    .audit_rejection(&hello.server_id, this.remote, &message);
            }
            this.gateway
                .stats()
                .rejected
                .fetch_add(1, Ordering::Relaxed);
            this.gateway.record_failure(ConnectionFailure {
                remote_addr: this.remote,
                server_id: Some(hello.server_id.clone()),
                kind,
                reason: message.clone(),
            });
            this.session.reject(code, message);
        };
        if inner.shutdown.is_cancelled() {
            let msg = "gm-server is shutting down".to_string();
            return refuse(
                self,
                RejectCode::ShuttingDown,
                FailureKind::ShuttingDown,
                msg,
            );
        }
        // The cap counts authenticated sessions, so a flood of connections that never present
        // a key cannot lock real game servers out (those are bounded by the handshake timeout
        // and the hard cap in the accept loop). A reconnect replacing its own entry is fine.
        if inner.directory.len() >= inner.config.max_connections
            && !inner.directory.contains_key(&hello.server_id)
        {
            let msg = format!(
                "gm-server is at its connection cap ({})",
                inner.config.max_connections
            );
            return refuse(self, RejectCode::ServerFull, FailureKind::ServerFull, msg);
        }
        let key = match inner.store.find_key(&keys::hash(&hello.key)).await {
            Ok(key) => key,
            Err(e) => {
                tracing::error!("key lookup failed: {e}");
                self.session.reject(
                    RejectCode::Unavailable,
                    "gm-server cannot check keys right now; retrying later",
                );
                return;
            }
        };
        let key = match key {
            None => {
                let msg = "invalid game-server key: this gm-server does not know it \
                           (create one with `gm-server keys create --name <name>`)"
                    .to_string();
                return refuse(self, RejectCode::InvalidKey, FailureKind::InvalidKey, msg);
            }
            Some(k) if k.revoked_at_ms.is_some() => {
                let msg = format!("game-server key {:?} has been revoked", k.name);
                return refuse(self, RejectCode::RevokedKey, FailureKind::RevokedKey, msg);
            }
            Some(k) => k,
        };
        // A bound key only serves its own game servers: one that leaks cannot connect as
        // another server, or take over its session.
        if !key.admits(&hello.server_id) {
            let msg = format!(
                "game-server key {:?} is not for server id {:?} (`gm-server keys list` shows \
                 the ids each key is bound to)",
                key.name, hello.server_id
            );
            return refuse(
                self,
                RejectCode::InvalidKey,
                FailureKind::KeyNotForServer,
                msg,
            );
        }

        self.session_id = inner.next_session.fetch_add(1, Ordering::Relaxed);
        self.session.accept(self.session_id, Instant::now());
        match self.gateway.load_roster().await {
            Ok(roster) => self.session.send_roster(roster),
            Err(e) => tracing::error!("could not load the staff roster: {e}"),
        }
        self.reader.set_codec(self.codec);
        inner.stats.established.fetch_add(1, Ordering::Relaxed);
        let info = GameServerInfo {
            server_id: hello.server_id.clone(),
            name: hello.server_name.clone(),
            region: hello.region.clone(),
            game_build: hello.game_build.clone(),
            sdk_version: hello.sdk_version.clone(),
            key_name: key.name.clone(),
            remote_addr: self.remote,
            session_id: self.session_id,
        };
        let entry = Entry {
            info,
            tx: self.tx.clone(),
            replaced: self.replaced.clone(),
            key_id: key.id,
            ending: Default::default(),
        };
        if let Some(old) = inner.directory.insert(hello.server_id.clone(), entry) {
            tracing::info!(server_id = %hello.server_id, "a new connection replaces the previous one");
            old.replaced.cancel();
            if old.info.region != hello.region || old.info.game_build != hello.game_build {
                inner.telemetry.fleet().remove_labels(&ServerLabels {
                    server: old.info.server_id.clone(),
                    region: old.info.region.clone(),
                    build: old.info.game_build.clone(),
                });
            }
        }
        self.server_id = Some(hello.server_id.clone());
        self.accept_telemetry(ServerLabels {
            server: hello.server_id.clone(),
            region: hello.region.clone(),
            build: hello.game_build.clone(),
        });
        inner.events.publish(
            "game_server.connected",
            crate::auth::Permission::ViewFleet,
            serde_json::json!({ "server_id": hello.server_id, "region": hello.region, "build": hello.game_build }),
        );
        tracing::info!(
            server_id = %hello.server_id,
            name = %hello.server_name,
            region = %hello.region,
            build = %hello.game_build,
            key = %key.name,
            remote = %self.remote,
            session = self.session_id,
            "game server connected"
        );
        let now = now_ms();
        let record = GameServerRecord {
            server_id: hello.server_id,
            name: hello.server_name,
            region: hello.region,
            game_build: hello.game_build,
            sdk_version: hello.sdk_version,
            key_name: key.name,
            remote_addr: self.remote.to_string(),
            first_seen_ms: now,
            last_seen_ms: now,
        };
        // Bookkeeping only: the welcome must not wait for it.
        let store = inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.record_handshake(key.id, &record).await {
                tracing::warn!(
                    "could not record the handshake of {}: {e}",
                    record.server_id
                );
            }
        });
    }

    async fn flush(&mut self) -> Result<(), quinn::WriteError> {
        self.out.clear();
        let mut frames = 0;
        while let Some(msg) = self.session.poll_transmit() {
            if let Err(e) = self.codec.encode(&msg, &mut self.out) {
                tracing::error!("dropping a {} message: {e}", msg.kind());
                continue;
            }
            frames += 1;
        }
        if !self.out.is_empty() {
            self.gateway
                .stats()
                .frames_out
                .fetch_add(frames, Ordering::Relaxed);
            self.send.write_all(&self.out).await?;
        }
        Ok(())
    }

    /// Finishes our stream and waits (briefly) until the peer has acknowledged what we sent,
    /// so a reject or shutting-down notice is read before the connection closes.
    async fn linger(&mut self) {
        if self.send.finish().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.send.stopped()).await;
        }
    }

    /// Reads the telemetry stream the SDK opens after the welcome (streams only reach us once
    /// the peer is authenticated: this starts after the key was checked).
    fn accept_telemetry(&mut self, labels: ServerLabels) {
        let (flush_tx, flush_rx) = crate::telemetry::flush_channel();
        self.telemetry_flush = Some(flush_tx);
        let conn = self.conn.clone();
        let gateway = self.gateway.clone();
        let telemetry = self.gateway.inner.telemetry.clone();
        let codec = self.codec;
        let acks = self.tx.clone();
        // Tracked, so shutdown waits for what it still has to hand to the store.
        self.gateway.inner.tasks.spawn(async move {
            let mut flush_rx = flush_rx;
            while let Ok(recv) = conn.accept_uni().await {
                if let Err(e) = crate::telemetry::serve_stream(
                    telemetry.clone(),
                    labels.clone(),
                    recv,
                    codec,
                    acks.clone(),
                    &mut flush_rx,
                )
                .await
                {
                    tracing::warn!(server_id = %labels.server, "{e}");
                }
            }
            // Gone, and not replaced by a newer connection: its series go stale. Replaced by
            // one with another region or build: this session's labels go.
            let now = gateway
                .inner
                .directory
                .get(&labels.server)
                .map(|e| (e.info.region.clone(), e.info.game_build.clone()));
            match now {
                None => {
                    telemetry.fleet().remove_server(&labels.server);
                }
                Some((region, build)) if region != labels.region || build != labels.build => {
                    telemetry.fleet().remove_labels(&labels);
                }
                Some(_) => {}
            }
        });
    }

    fn cleanup(&mut self) {
        if let Some(id) = &self.server_id {
            let removed = self
                .gateway
                .inner
                .directory
                .remove_if(id, |_, e| e.info.session_id == self.session_id);
            if removed.is_some() {
                self.gateway.inner.presence.remove_server(id);
                // Its telemetry stream may still be finishing; it removes again when done.
                self.gateway.inner.telemetry.fleet().remove_server(id);
                self.gateway.inner.game_commands.remove(id);
                tracing::info!(server_id = %id, "game server left the directory");
                self.gateway.inner.events.publish(
                    "game_server.disconnected",
                    crate::auth::Permission::ViewFleet,
                    serde_json::json!({ "server_id": id }),
                );
            }
        }
        for (_, tx) in self.pending.drain() {
            let _ = tx.send(Err(CommandError::Disconnected));
        }
    }
}

/// The enabled staff identity linked to `account_id`, but only while that player is online on
/// `server_id`: a game server cannot act for a GM who is not on it.
async fn staff_on_server(
    gateway: &Gateway,
    account_id: u64,
    server_id: &str,
) -> Option<crate::store::AdminRecord> {
    let here = gateway
        .inner
        .presence
        .locate(account_id)
        .is_some_and(|l| l.server_id == server_id);
    if !here {
        return None;
    }
    let account = i64::try_from(account_id).ok()?;
    match gateway.inner.store.admin_for_player(account).await {
        Ok(a) => a.filter(|a| !a.disabled),
        Err(e) => {
            tracing::error!("player link lookup failed: {e}");
            None
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn truncate(reason: &str) -> &str {
    let mut end = reason.len().min(200);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
