//! Reads one game server's telemetry stream.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use gm_proto::telemetry::STREAM_TELEMETRY;
use gm_proto::{FrameCodec, FrameReader, Message};

use super::events::EventAccumulator;
use super::{ServerLabels, SessionSeries, Telemetry};
use crate::store::now_ms;

/// Events held before they are handed to the store writer.
const FLUSH_EVENTS: usize = 32_768;

/// Longest a trickle of events waits before it is handed on.
const FLUSH_AFTER: Duration = Duration::from_millis(250);

/// A request to finish what the stream's task holds; answered with what to acknowledge.
type FlushRequest = tokio::sync::oneshot::Sender<Option<(u64, u64)>>;

/// The connection's side of the flush channel.
pub(crate) type FlushRequests = tokio::sync::mpsc::Sender<FlushRequest>;

/// A channel for one connection's flush requests.
pub(crate) fn flush_channel() -> (FlushRequests, tokio::sync::mpsc::Receiver<FlushRequest>) {
    tokio::sync::mpsc::channel(1)
}

/// Longest a shutting-down connection waits for its telemetry to be stored.
const FLUSH_WAIT: Duration = Duration::from_millis(500);

/// Asks the telemetry task to store what it holds; returns (instance, frame) to acknowledge.
pub(crate) async fn flush(requests: &FlushRequests) -> Option<(u64, u64)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    requests.send(tx).await.ok()?;
    tokio::time::timeout(FLUSH_WAIT, rx).await.ok()?.ok()?
}

/// Reads frames from a telemetry stream until it ends. Errors say why it was refused.
pub(crate) async fn serve_stream(
    telemetry: Telemetry,
    labels: ServerLabels,
    mut recv: quinn::RecvStream,
    codec: FrameCodec,
    acks: tokio::sync::mpsc::Sender<crate::gateway::ToConnection>,
    flushes: &mut tokio::sync::mpsc::Receiver<FlushRequest>,
) -> Result<(), String> {
    let mut kind = [0u8; 1];
    recv.read_exact(&mut kind)
        .await
        .map_err(|e| format!("telemetry stream: {e}"))?;
    if kind[0] != STREAM_TELEMETRY {
        return Err(format!("unknown stream type {}", kind[0]));
    }
    let server = labels.server.clone();
    let mut series = SessionSeries::new(labels);
    let mut events = EventAccumulator::new(server.clone());
    let mut reader = FrameReader::new(codec);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut last_losses = None;
    let stats = telemetry.stats();
    let mut last_flush = std::time::Instant::now();
    let delivery = telemetry.delivery();
    let (mut instance, mut acked) = (None, 0);
    let mut first_frame = true;
    // Tells the SDK what it may forget: every frame up to the contiguous done mark.
    let mut ack = |instance: Option<u64>| {
        if let Some(instance) = instance {
            let upto = delivery.upto(&server, instance);
            if upto > acked
                && acks
                    .try_send(crate::gateway::ToConnection::TelemetryAck {
                        instance,
                        seq: upto,
                    })
                    .is_ok()
            {
                acked = upto;
            }
        }
    };
    let mut last_seq = 0;
    // Chunks handed to the store writer, oldest first: each resolves once stored, which is
    // when an acknowledgement can go out (the SDK's window waits for it).
    let mut in_flight: std::collections::VecDeque<tokio::sync::oneshot::Receiver<()>> =
        Default::default();
    let result = loop {
        // Events held wait for more only briefly: when the stream pauses (the SDK's window
        // is full, or it has nothing) they go to the store at once.
        let wait = if events.is_empty() {
            FLUSH_AFTER
        } else {
            Duration::from_millis(2)
        };
        let read = tokio::select! {
            r = tokio::time::timeout(wait, recv.read(&mut chunk)) => r,
            _ = async { in_flight.front_mut().expect("not empty").await }, if !in_flight.is_empty() => {
                in_flight.pop_front();
                ack(instance);
                continue;
            }
            Some(reply) = flushes.recv() => {
                // gm-server is shutting down: store what is held, wait for the writer, and
                // say how far everything is done.
                if let Some(c) = events.take(now_ms()) {
                    let _ = telemetry.store_events(c).await;
                }
                let done = match instance {
                    Some(i) => {
                        let deadline = std::time::Instant::now() + FLUSH_WAIT;
                        while delivery.upto(&server, i) < last_seq
                            && std::time::Instant::now() < deadline
                        {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Some((i, delivery.upto(&server, i)))
                    }
                    None => None,
                };
                let _ = reply.send(done);
                continue;
            }
        };
        let n = match read {
            Err(_) => {
                last_flush = std::time::Instant::now();
                if let Some(c) = events.take(now_ms())
                    && let Some(stored) = telemetry.store_events(c).await
                {
                    in_flight.push_back(stored);
                }
                ack(instance);
                continue;
            }
            Ok(Ok(Some(n))) => n,
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(e)) => break Err(format!("telemetry stream: {e}")),
        };
        reader.push(&chunk[..n]);
        let mut failed = None;
        loop {
            match reader.next_message() {
                Ok(Some(msg)) => {
                    let checked = match &msg {
                        Message::Metrics(b) => b.validate().map(|()| (b.instance, b.seq)),
                        Message::Events(b) => b.validate().map(|()| (b.instance, b.seq)),
                        other => Err(format!(
                            "a {} message on the telemetry stream",
                            other.kind()
                        )),
                    };
                    let (from, seq) = match checked {
                        Ok(frame) => frame,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    };
                    if std::mem::take(&mut first_frame) {
                        // The SDK sends from its oldest unacknowledged frame: everything
                        // before it was acknowledged (by this process or an earlier one),
                        // and the store knows which events an earlier process kept.
                        delivery.mark_upto(&server, from, seq.saturating_sub(1));
                        telemetry.load_cursor(&server, from).await;
                    }
                    instance = Some(from);
                    last_seq = last_seq.max(seq);
                    if delivery.is_done(&server, from, seq) {
                        stats.duplicate_frames.fetch_add(1, Relaxed);
                        continue;
                    }
                    match msg {
                        Message::Metrics(batch) => {
                            let refused = telemetry.fleet().apply(&mut series, &batch);
                            delivery.mark(&server, from, [seq]);
                            if refused > 0 && series.refused == refused {
                                tracing::warn!(%server, refused, "game server metric series refused (series cap, or a name used with two kinds)");
                            }
                            if last_losses.is_some_and(|l: u64| batch.losses.events_dropped > l)
                                || (last_losses.is_none() && batch.losses.events_dropped > 0)
                            {
                                tracing::warn!(%server, dropped = batch.losses.events_dropped, "game server reports telemetry events it had to drop");
                            }
                            last_losses = Some(batch.losses.events_dropped);
                            stats.metric_batches.fetch_add(1, Relaxed);
                        }
                        Message::Events(batch) => {
                            stats.event_batches.fetch_add(1, Relaxed);
                            stats.events.fetch_add(batch.len() as u64, Relaxed);
                            events.add(&batch, now_ms());
                        }
                        _ => unreachable!("refused above"),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = failed {
            stats.stream_errors.fetch_add(1, Relaxed);
            let _ = recv.stop(quinn::VarInt::from_u32(gm_proto::close::PROTOCOL_ERROR));
            break Err(format!("telemetry stream refused: {e}"));
        }
        if (events.len() >= FLUSH_EVENTS || last_flush.elapsed() >= FLUSH_AFTER)
            && let Some(c) = events.take(now_ms())
        {
            last_flush = std::time::Instant::now();
            if let Some(stored) = telemetry.store_events(c).await {
                in_flight.push_back(stored);
            }
        }
        ack(instance);
    };
    if let Some(c) = events.take(now_ms()) {
        let _ = telemetry.store_events(c).await;
    }
    result
}
