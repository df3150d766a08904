//! The driver: owns the QUIC connection, runs the sans-IO client session, reconnects with
//! backoff, and moves commands and replies between gm-server and the game's queues.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gm_proto::{
    ClientConfig, ClientEvent, ClientSession, CommandErrorCode, CommandOutcome, CommandRequest,
    FrameCodec, FrameReader, Hello, RejectCode, close,
};
use quinn::VarInt;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::builder::{BuildError, GmClientBuilder};
use crate::client::{CommandReply, GmClient, Shared, ToDriver};
use crate::command::{CommandHandler, IncomingCommand};
use crate::status::{ConnectionStatus, RefusalKind};
use crate::tls::{LastTlsFailure, client_config};

/// How a connection attempt or session ended.
#[derive(Debug)]
enum End {
    /// Shutdown requested or every handle dropped.
    Stop,
    /// Refused in a way that needs an operator.
    Refused(RefusalKind, String),
    /// Could not connect, or lost an established session.
    Failed { reason: String, was_connected: bool },
}

pub(crate) fn start(
    b: GmClientBuilder,
) -> Result<(GmClient, impl Future<Output = ()> + Send + 'static), BuildError> {
    let last_tls: LastTlsFailure = Arc::default();
    let trust = b.trust.clone().ok_or(BuildError::NoTrust)?;
    let tls = client_config(&trust, last_tls.clone())?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| BuildError::Tls(e.to_string()))?;
    let mut quic = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(b.idle_timeout).ok());
    transport.keep_alive_interval(Some(b.idle_timeout / 3));
    quic.transport_config(Arc::new(transport));

    let shared = Arc::new(Shared::new(&b.telemetry));
    let (cmd_tx, cmd_rx) = crossbeam_channel::bounded(b.command_queue);
    let registry = Arc::new(b.registry.clone());
    let mut all = gm_proto::command::Registry::new();
    for spec in gm_proto::command::builtins()
        .into_iter()
        .chain(b.registry.commands().iter().cloned())
    {
        // A game command may not shadow a built-in; the game's own registry keeps it anyway.
        let _ = all.register(spec);
    }
    let (reply_tx, reply_rx) = mpsc::channel(b.command_queue.max(1024));
    let (command_reply_tx, command_reply_rx) = crossbeam_channel::bounded(b.command_queue);
    let client = GmClient {
        shared: shared.clone(),
        commands: cmd_rx,
        replies: reply_tx,
        command_replies: command_reply_rx,
        local_replies: command_reply_tx.clone(),
        local_commands: cmd_tx.clone(),
        registry: registry.clone(),
        all_commands: Arc::new(all),
    };
    let host = b.addr.rsplit_once(':').map_or(b.addr.as_str(), |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = b.server_name.clone().unwrap_or_else(|| {
        if host.parse::<std::net::IpAddr>().is_ok() {
            "localhost".to_string()
        } else {
            host.to_string()
        }
    });
    let hello = Hello {
        protocol_version: b.protocol_version,
        server_id: b.server_id.clone(),
        server_name: b
            .display_name
            .clone()
            .unwrap_or_else(|| b.server_id.clone()),
        region: b.region.clone(),
        game_build: b.game_build.clone(),
        sdk_version: env!("CARGO_PKG_VERSION").to_string(),
        key: b.key.clone(),
    };
    let mut session_config = ClientConfig::new(hello);
    session_config.handshake_timeout = b.connect_timeout;
    session_config.idle_timeout = b.idle_timeout;
    let shippers = Arc::new(parking_lot::Mutex::new(crate::ship::Shippers::new(
        &shared,
        &b.telemetry,
    )));
    let queues = crate::ship::Queues {
        commands: cmd_tx.clone(),
        outgoing: client.replies.downgrade(),
    };
    let driver = DriverState {
        shippers,
        queues,
        addr: b.addr,
        server_name,
        quic,
        session_config,
        backoff: b.backoff,
        connect_timeout: b.connect_timeout,
        last_tls,
        shared,
        commands: cmd_tx,
        replies: reply_rx,
        command_replies: command_reply_tx,
        tickets: Default::default(),
        unaudited: Default::default(),
        registry,
        handler: b.handler,
        codec: FrameCodec::default(),
        ever_connected: false,
        generation: 0,
    };
    Ok((client, driver.run()))
}

struct DriverState {
    addr: String,
    server_name: String,
    quic: quinn::ClientConfig,
    session_config: ClientConfig,
    backoff: Backoff,
    connect_timeout: Duration,
    last_tls: LastTlsFailure,
    shared: Arc<Shared>,
    commands: crossbeam_channel::Sender<IncomingCommand>,
    replies: mpsc::Receiver<ToDriver>,
    command_replies: crossbeam_channel::Sender<CommandReply>,
    /// Tickets of in-game commands waiting for gm-server, with who typed them.
    tickets: std::collections::HashMap<u64, u64>,
    /// Local command runs not yet reported to gm-server (bounded; oldest dropped and counted).
    unaudited: std::collections::VecDeque<gm_proto::Message>,
    registry: Arc<gm_proto::command::Registry>,
    handler: Option<Arc<CommandHandler>>,
    codec: FrameCodec,
    ever_connected: bool,
    /// Counts sessions; tags commands so a reply from the game reaches only the session that
    /// asked (server session ids can repeat across server restarts).
    generation: u64,
    shippers: Arc<parking_lot::Mutex<crate::ship::Shippers>>,
    queues: crate::ship::Queues,
}

impl DriverState {
    async fn run(mut self) {
        let mut endpoint: Option<quinn::Endpoint> = None;
        let mut attempt: u32 = 0;
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            let delay = match self.attempt(&mut endpoint).await {
                End::Stop => break,
                End::Refused(kind, reason) => {
                    tracing::warn!(?kind, "gm-server refused this game server: {reason}");
                    self.shared
                        .set_status(ConnectionStatus::Refused { kind, reason });
                    attempt = attempt.saturating_add(1);
                    self.backoff.max
                }
                End::Failed {
                    reason,
                    was_connected,
                } => {
                    if was_connected {
                        tracing::warn!("lost the connection to gm-server: {reason}");
                        *self.shared.last_disconnect.lock() = Some(reason.clone());
                        attempt = 0;
                    } else {
                        tracing::debug!(attempt, "could not connect to gm-server: {reason}");
                    }
                    let delay = self.backoff.delay(attempt);
                    attempt = attempt.saturating_add(1);
                    self.shared.set_status(ConnectionStatus::Connecting {
                        attempt,
                        last_error: Some(reason),
                    });
                    delay
                }
            };
            if self.wait(delay).await {
                break;
            }
        }
        if let Some(ep) = endpoint {
            ep.close(VarInt::from_u32(close::NORMAL), b"game server stopping");
            let _ = tokio::time::timeout(Duration::from_secs(1), ep.wait_idle()).await;
        }
        self.shared.set_status(ConnectionStatus::Stopped);
    }

    /// Sleeps `delay`, draining replies (their session is gone). True when the driver must stop.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return false,
                _ = self.shared.stop_notify.notified() => return true,
                msg = self.replies.recv() => match msg {
                    None => return true,
                    Some(msg) => self.while_disconnected(msg),
                },
            }
        }
    }

    async fn attempt(&mut self, endpoint: &mut Option<quinn::Endpoint>) -> End {
        let failed = |reason: String| End::Failed {
            reason,
            was_connected: false,
        };
        let addr = match resolve(&self.addr).await {
            Ok(a) => a,
            Err(e) => return failed(e),
        };
        if endpoint
            .as_ref()
            .and_then(|e| e.local_addr().ok())
            .is_none_or(|l| l.is_ipv4() != addr.is_ipv4())
        {
            let bind: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse().expect("valid")
            } else {
                "[::]:0".parse().expect("valid")
            };
            match quinn::Endpoint::client(bind) {
                Ok(e) => *endpoint = Some(e),
                Err(e) => return failed(format!("cannot open a UDP socket: {e}")),
            }
        }
        let ep = endpoint.as_ref().expect("set above");
        *self.last_tls.lock() = None;
        let connecting = match ep.connect_with(self.quic.clone(), addr, &self.server_name) {
            Ok(c) => c,
            Err(e) => return failed(format!("cannot connect to {addr}: {e}")),
        };
        let conn = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Err(_) => {
                return failed(format!(
                    "no answer from {addr} within {:?}",
                    self.connect_timeout
                ));
            }
            Ok(Err(e)) => {
                if let Some(msg) = self.last_tls.lock().take() {
                    return End::Refused(RefusalKind::Certificate, msg);
                }
                if let quinn::ConnectionError::TransportError(t) = &e
                    && t.reason.contains("certificate")
                {
                    return End::Refused(
                        RefusalKind::Certificate,
                        format!("gm-server's certificate is not trusted: {}", t.reason),
                    );
                }
                return failed(format!("cannot connect to {addr}: {e}"));
            }
            Ok(Ok(conn)) => conn,
        };
        let (send, recv) = match conn.open_bi().await {
            Ok(s) => s,
            Err(e) => return failed(format!("cannot open a stream: {e}")),
        };
        let session = ClientSession::new(self.session_config.clone(), Instant::now());
        self.serve(conn, send, recv, session).await
    }

    async fn serve(
        &mut self,
        conn: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        mut session: ClientSession,
    ) -> End {
        let mut reader = FrameReader::new(self.codec);
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut session_id: Option<u64> = None;
        let mut _ship: Option<crate::ship::ShipTask> = None;
        let end = |reason: String, session_id: Option<u64>| End::Failed {
            reason,
            was_connected: session_id.is_some(),
        };
        loop {
            while let Some(event) = session.poll_event() {
                match event {
                    ClientEvent::Connected(welcome) => {
                        self.generation += 1;
                        session_id = Some(self.generation);
                        if self.ever_connected {
                            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        self.ever_connected = true;
                        tracing::info!(session = welcome.session_id, server_version = %welcome.server_version, "connected to gm-server");
                        self.shared.set_status(ConnectionStatus::Connected {
                            session_id: welcome.session_id,
                            since: Instant::now(),
                        });
                        let players = self
                            .shared
                            .online
                            .read()
                            .iter()
                            .map(|(id, name)| gm_proto::PlayerInfo {
                                account_id: *id,
                                name: name.clone(),
                            })
                            .collect();
                        session.send(gm_proto::Message::PlayerSnapshot { players });
                        if !self.registry.commands().is_empty() {
                            session.send(gm_proto::Message::GameCommands {
                                specs: self.registry.commands().to_vec(),
                            });
                        }
                        while let Some(msg) = self.unaudited.pop_front() {
                            session.send(msg);
                        }
                        _ship = Some(crate::ship::start(
                            conn.clone(),
                            self.shippers.clone(),
                            self.shared.clone(),
                            self.queues.clone(),
                            self.codec,
                        ));
                    }
                    ClientEvent::Rejected(reject) => {
                        conn.close(VarInt::from_u32(close::NORMAL), b"rejected");
                        let kind = match reject.code {
                            RejectCode::InvalidKey => RefusalKind::InvalidKey,
                            RejectCode::RevokedKey => RefusalKind::RevokedKey,
                            RejectCode::UnsupportedVersion => RefusalKind::UnsupportedVersion,
                            RejectCode::InvalidHello => RefusalKind::InvalidHello,
                            _ => {
                                return end(format!("gm-server refused: {}", reject.message), None);
                            }
                        };
                        let mut reason = reject.message;
                        if kind == RefusalKind::UnsupportedVersion {
                            reason = format!(
                                "{reason} (this SDK spoke version {}; gm-server speaks {:?})",
                                self.session_config.hello.protocol_version,
                                reject.supported_versions
                            );
                        }
                        return End::Refused(kind, reason);
                    }
                    ClientEvent::Command(req) => {
                        let id = session_id.unwrap_or_default();
                        self.on_command(&mut session, req, id);
                    }
                    ClientEvent::TelemetryAck(seq) => self.shippers.lock().acked(seq),
                    ClientEvent::Roster(entries) => {
                        *self.shared.roster.write() = entries.into_iter().collect();
                    }
                    ClientEvent::InGameReply { ticket, outcome } => {
                        if let Some(account_id) = self.tickets.remove(&ticket) {
                            let reply = CommandReply {
                                ticket,
                                account_id,
                                outcome,
                            };
                            if self.command_replies.try_send(reply).is_err() {
                                self.shared.replies_dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    ClientEvent::ServerShuttingDown(reason) => {
                        let _ = send.finish();
                        conn.close(VarInt::from_u32(close::NORMAL), b"server shutting down");
                        return end(format!("gm-server is shutting down: {reason}"), session_id);
                    }
                }
            }
            out.clear();
            while let Some(msg) = session.poll_transmit() {
                if let Err(e) = self.codec.encode(&msg, &mut out) {
                    tracing::error!("dropping a {} message: {e}", msg.kind());
                }
            }
            if !out.is_empty()
                && let Err(e) = send.write_all(&out).await
            {
                return end(describe_write(e), session_id);
            }
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                read = recv.read(&mut chunk) => match read {
                    Ok(Some(n)) => {
                        reader.push(&chunk[..n]);
                        loop {
                            match reader.next_message() {
                                Ok(Some(msg)) => {
                                    if let Err(e) = session.handle_message(msg, Instant::now()) {
                                        let reason = format!("protocol error from gm-server: {e}");
                                        conn.close(VarInt::from_u32(close::PROTOCOL_ERROR), reason.as_bytes());
                                        return end(reason, session_id);
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    let reason = format!("protocol error from gm-server: {e}");
                                    conn.close(VarInt::from_u32(close::PROTOCOL_ERROR), reason.as_bytes());
                                    return end(reason, session_id);
                                }
                            }
                        }
                    }
                    Ok(None) => return end("gm-server closed the stream".into(), session_id),
                    Err(quinn::ReadError::ConnectionLost(quinn::ConnectionError::ApplicationClosed(c)))
                        if c.error_code.into_inner() == u64::from(close::REPLACED) =>
                    {
                        return End::Refused(
                            RefusalKind::DuplicateServerId,
                            format!(
                                "another game server connected with server id {:?}; \
                                 each game server needs its own id",
                                self.session_config.hello.server_id
                            ),
                        );
                    }
                    Err(e) => return end(describe_read(e), session_id),
                },
                _ = sleep_until(deadline) => {
                    if let Err(e) = session.handle_timeout(Instant::now()) {
                        conn.close(VarInt::from_u32(close::TIMED_OUT), b"timed out");
                        return end(format!("gm-server timed out: {e}"), session_id);
                    }
                }
                msg = self.replies.recv() => match msg {
                    None => {
                        conn.close(VarInt::from_u32(close::NORMAL), b"game server stopping");
                        return End::Stop;
                    }
                    Some(msg) => self.while_connected(&mut session, session_id, msg),
                },
                _ = self.shared.stop_notify.notified() => {
                    let _ = send.finish();
                    conn.close(VarInt::from_u32(close::NORMAL), b"game server stopping");
                    return End::Stop;
                }
            }
        }
    }

    /// A message from the game while a session is up.
    fn while_connected(
        &mut self,
        session: &mut ClientSession,
        generation: Option<u64>,
        msg: ToDriver,
    ) {
        match msg {
            ToDriver::Reply {
                session: s,
                id,
                outcome,
            } => {
                if Some(s) != generation || !session.reply(id, outcome) {
                    self.shared.replies_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            ToDriver::Joined(info) => {
                session.send(gm_proto::Message::PlayerJoined(info));
            }
            ToDriver::Left(id) => {
                session.send(gm_proto::Message::PlayerLeft { account_id: id });
            }
            ToDriver::Command {
                ticket,
                account_id,
                line,
            } => {
                // Bounded: tickets gm-server never answered are forgotten oldest first.
                if self.tickets.len() >= 4096
                    && let Some(oldest) = self.tickets.keys().min().copied()
                {
                    self.tickets.remove(&oldest);
                }
                if session.send(gm_proto::Message::InGameCommand {
                    ticket,
                    account_id,
                    line,
                }) {
                    self.tickets.insert(ticket, account_id);
                } else {
                    self.unreachable(ticket, account_id);
                }
            }
            ToDriver::LocalRan {
                account_id,
                line,
                outcome,
            } => {
                session.send(gm_proto::Message::LocalCommandRan {
                    account_id,
                    line,
                    outcome,
                });
            }
        }
    }

    /// A message from the game while gm-server is unreachable.
    fn while_disconnected(&mut self, msg: ToDriver) {
        match msg {
            ToDriver::Reply { .. } => {
                self.shared.replies_dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The game updated the shared directory; the next welcome's snapshot carries it.
            ToDriver::Joined(_) | ToDriver::Left(_) => {}
            ToDriver::Command {
                ticket, account_id, ..
            } => self.unreachable(ticket, account_id),
            ToDriver::LocalRan {
                account_id,
                line,
                outcome,
            } => {
                if self.unaudited.len() >= 1024 {
                    self.unaudited.pop_front();
                    self.shared.replies_dropped.fetch_add(1, Ordering::Relaxed);
                }
                self.unaudited
                    .push_back(gm_proto::Message::LocalCommandRan {
                        account_id,
                        line,
                        outcome,
                    });
            }
        }
    }

    fn unreachable(&self, ticket: u64, account_id: u64) {
        let outcome = CommandOutcome::error(
            CommandErrorCode::Unavailable,
            "GM commands are unavailable right now (gm-server is not reachable); try again soon",
        );
        let _ = self.command_replies.try_send(CommandReply {
            ticket,
            account_id,
            outcome,
        });
    }

    fn on_command(&self, session: &mut ClientSession, req: CommandRequest, generation: u64) {
        let id = req.id;
        if req.command == "status" {
            session.reply(id, self.builtin_status());
            return;
        }
        // Game commands arrive already authorized by gm-server; parse them for typed args.
        let parsed = if self
            .registry
            .lookup(&req.command, Some(gm_proto::command::Role::Admin))
            .is_some()
        {
            let words: Vec<&str> = req.args.iter().map(String::as_str).collect();
            match self.registry.parse_words(
                &req.command,
                &words,
                Some(gm_proto::command::Role::Admin),
            ) {
                Ok(p) => Some(p),
                Err(e) => {
                    session.reply(
                        id,
                        CommandOutcome::error(CommandErrorCode::BadArguments, e.to_string()),
                    );
                    return;
                }
            }
        } else {
            None
        };
        let cmd = IncomingCommand {
            command: req.command,
            args: req.args,
            parsed,
            issued_by: req.issued_by,
            origin: crate::command::Origin::Server {
                id,
                session: generation,
            },
        };
        if let Some(handler) = &self.handler
            && let Some(outcome) = handler(&cmd)
        {
            session.reply(id, outcome);
            return;
        }
        if self.commands.try_send(cmd).is_err() {
            self.shared.commands_refused.fetch_add(1, Ordering::Relaxed);
            session.reply(
                id,
                CommandOutcome::error(
                    CommandErrorCode::Unavailable,
                    "the game server's command queue is full; try again",
                ),
            );
        }
    }

    fn builtin_status(&self) -> CommandOutcome {
        let s = self.shared.game_status();
        CommandOutcome::Ok {
            text: format!(
                "{} players online, {:.1} ticks/s",
                s.players, s.tick_rate_hz
            ),
            fields: vec![
                ("players".into(), s.players.to_string()),
                ("tick_rate_hz".into(), format!("{:.2}", s.tick_rate_hz)),
                (
                    "server_id".into(),
                    self.session_config.hello.server_id.clone(),
                ),
                ("sdk_version".into(), env!("CARGO_PKG_VERSION").into()),
            ],
        }
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn describe_connection(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => format!(
            "gm-server closed the connection ({}): {}",
            close::describe(c.error_code.into_inner()),
            String::from_utf8_lossy(&c.reason)
        ),
        quinn::ConnectionError::TimedOut => {
            "gm-server stopped answering (QUIC idle timeout)".into()
        }
        other => other.to_string(),
    }
}

fn describe_read(e: quinn::ReadError) -> String {
    match e {
        quinn::ReadError::ConnectionLost(c) => describe_connection(&c),
        other => other.to_string(),
    }
}

fn describe_write(e: quinn::WriteError) -> String {
    match e {
        quinn::WriteError::ConnectionLost(c) => describe_connection(&c),
        other => other.to_string(),
    }
}
