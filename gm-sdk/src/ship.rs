//! The telemetry stream: one task per session that ships metric deltas every interval and
//! drains the event rings, on a unidirectional QUIC stream of its own so a burst of events
//! never delays a command. It only ever waits on the network itself; the game thread never
//! waits on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gm_proto::telemetry::{
    EventBatch, EventKindDef, MAX_EVENTS_PER_BATCH, MetricBatch, STREAM_TELEMETRY,
};
use gm_proto::{FrameCodec, Message};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::builder::TelemetryConfig;
use crate::client::{Shared, ToDriver};
use crate::command::IncomingCommand;
use crate::telemetry::{EventShipper, Figures, MetricShipper};

/// Series (definitions and values) per metric frame: with names and labels at their bounds a
/// definition is under 5 KiB, so a frame stays under the 1 MiB default.
const METRIC_ITEMS_PER_FRAME: usize = 200;

/// Splits a batch into parts of at most `max` items each, definitions first.
fn split(batch: MetricBatch, max: usize) -> Vec<MetricBatch> {
    let items =
        batch.defs.len() + batch.counters.len() + batch.gauges.len() + batch.histograms.len();
    if items <= max {
        return vec![batch];
    }
    let empty = || MetricBatch {
        instance: batch.instance,
        seq: batch.seq,
        interval_ms: batch.interval_ms,
        defs: Vec::new(),
        counters: Vec::new(),
        gauges: Vec::new(),
        histograms: Vec::new(),
        losses: batch.losses,
    };
    let mut parts = vec![empty()];
    let mut room = max;
    macro_rules! spread {
        ($field:ident) => {
            for item in batch.$field {
                if room == 0 {
                    parts.push(empty());
                    room = max;
                }
                parts
                    .last_mut()
                    .expect("one part at least")
                    .$field
                    .push(item);
                room -= 1;
            }
        };
    }
    spread!(defs);
    spread!(counters);
    spread!(gauges);
    spread!(histograms);
    parts
}

/// A frame sent and not yet acknowledged by gm-server.
#[derive(Debug)]
enum Unacked {
    Metrics(MetricBatch),
    Events(EventBatch),
}

/// What outlives sessions: the shippers' baselines, the frame counter, and the frames
/// gm-server has not acknowledged yet (sent again on the next session, bounded).
#[derive(Debug)]
pub(crate) struct Shippers {
    metrics: MetricShipper,
    events: EventShipper,
    interval: Duration,
    event_flush: Duration,
    instance: u64,
    next_seq: u64,
    unacked: std::collections::VecDeque<(u64, usize, Unacked)>,
    unacked_bytes: usize,
    max_unacked_bytes: usize,
}

impl Shippers {
    pub(crate) fn new(shared: &Shared, config: &TelemetryConfig) -> Shippers {
        let kinds = config
            .event_kinds
            .iter()
            .map(|(kind, name)| EventKindDef {
                kind: *kind,
                name: name.clone(),
            })
            .collect();
        Shippers {
            metrics: MetricShipper::new(shared.telemetry.registry.clone()),
            events: EventShipper::new(kinds),
            interval: config.interval.max(Duration::from_millis(10)),
            event_flush: config.event_flush.max(Duration::from_millis(1)),
            instance: rand::random(),
            next_seq: 1,
            unacked: Default::default(),
            unacked_bytes: 0,
            max_unacked_bytes: config.max_unacked_bytes,
        }
    }

    /// gm-server has every frame up to `seq`.
    pub(crate) fn acked(&mut self, seq: u64) {
        while let Some((s, bytes, _)) = self.unacked.front()
            && *s <= seq
        {
            self.unacked_bytes -= bytes;
            self.unacked.pop_front();
        }
    }

    /// Whether the window of unacknowledged frames has room for more events (metrics are
    /// always sent: they are small and carry the drop counters).
    fn window_open(&self) -> bool {
        self.unacked_bytes < self.max_unacked_bytes
    }

    /// Numbers a metric or event batch, encodes it into `out` and keeps it until it is
    /// acknowledged.
    fn frame(
        &mut self,
        msg: Message,
        codec: FrameCodec,
        out: &mut Vec<u8>,
        shared: &Shared,
    ) -> Result<(), gm_proto::EncodeError> {
        let (instance, seq) = (self.instance, self.next_seq);
        let msg = match msg {
            Message::Metrics(b) => Message::Metrics(MetricBatch { instance, seq, ..b }),
            Message::Events(b) => Message::Events(EventBatch { instance, seq, ..b }),
            other => other,
        };
        out.clear();
        codec.encode(&msg, out)?;
        let kept = match msg {
            // Gauges are stated again by the next batch: a copy sent later would only bring
            // back an old value.
            Message::Metrics(mut b) => {
                b.gauges.clear();
                Unacked::Metrics(b)
            }
            Message::Events(b) => Unacked::Events(b),
            _ => unreachable!("only telemetry batches are framed here"),
        };
        self.retain(kept, out.len(), shared);
        Ok(())
    }

    /// Keeps a numbered frame until it is acknowledged. Events wait in their rings while the
    /// window is full, so only a gm-server that stops acknowledging altogether pushes past
    /// twice the bound; then the oldest frames are forgotten and counted.
    fn retain(&mut self, frame: Unacked, bytes: usize, shared: &Shared) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.push_back((seq, bytes, frame));
        self.unacked_bytes += bytes;
        while self.unacked_bytes > 2 * self.max_unacked_bytes
            && let Some((_, bytes, frame)) = self.unacked.pop_front()
        {
            self.unacked_bytes -= bytes;
            match frame {
                Unacked::Events(b) => {
                    shared
                        .telemetry
                        .retired_dropped
                        .fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                Unacked::Metrics(_) => shared.telemetry.dropped_metric_batches.increment(1),
            }
        }
    }

    /// The unacknowledged frames, ready to send again at the start of a session: each metric
    /// frame names the series it refers to, the first event frame the event kinds.
    fn resend(&mut self) -> Vec<Message> {
        let resends_events = self
            .unacked
            .iter()
            .any(|(_, _, f)| matches!(f, Unacked::Events(_)));
        let mut kinds = resends_events.then(|| self.events.kinds_for_resend());
        let metrics = &self.metrics;
        self.unacked
            .iter()
            .map(|(_, _, frame)| match frame {
                Unacked::Metrics(b) => {
                    let mut b = b.clone();
                    let ids = b
                        .counters
                        .iter()
                        .map(|(id, _)| *id)
                        .chain(b.gauges.iter().map(|(id, _)| *id))
                        .chain(b.histograms.iter().map(|h| h.id));
                    let named: std::collections::HashSet<u32> =
                        b.defs.iter().map(|d| d.id).collect();
                    let missing: Vec<_> = ids
                        .filter(|id| !named.contains(id))
                        .filter_map(|id| metrics.def_of(id))
                        .collect();
                    b.defs.extend(missing);
                    Message::Metrics(b)
                }
                Unacked::Events(b) => {
                    let mut b = b.clone();
                    b.kinds = kinds.take().unwrap_or_default();
                    Message::Events(b)
                }
            })
            .collect()
    }
}

/// Handles the ship task reads queue depths from, without keeping the driver alive.
#[derive(Debug, Clone)]
pub(crate) struct Queues {
    pub(crate) commands: crossbeam_channel::Sender<IncomingCommand>,
    pub(crate) outgoing: mpsc::WeakSender<ToDriver>,
}

/// Aborts the session's ship task when the session ends.
#[derive(Debug)]
pub(crate) struct ShipTask(tokio::task::JoinHandle<()>);

impl Drop for ShipTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts shipping on `conn` for a session that was just established.
pub(crate) fn start(
    conn: quinn::Connection,
    shippers: Arc<Mutex<Shippers>>,
    shared: Arc<Shared>,
    queues: Queues,
    codec: FrameCodec,
) -> ShipTask {
    ShipTask(tokio::spawn(async move {
        if let Err(e) = ship(conn, shippers, shared, queues, codec).await {
            tracing::debug!("telemetry stream ended: {e}");
        }
    }))
}

async fn ship(
    conn: quinn::Connection,
    shippers: Arc<Mutex<Shippers>>,
    shared: Arc<Shared>,
    queues: Queues,
    codec: FrameCodec,
) -> Result<(), String> {
    let mut send = conn.open_uni().await.map_err(|e| e.to_string())?;
    send.write_all(&[STREAM_TELEMETRY])
        .await
        .map_err(|e| e.to_string())?;
    let (interval, event_flush, resend) = {
        let mut s = shippers.lock();
        s.metrics.new_session();
        s.events.new_session();
        (s.interval, s.event_flush, s.resend())
    };
    let mut frame = Vec::with_capacity(MAX_EVENTS_PER_BATCH * 33);
    // What the last session sent and gm-server did not acknowledge goes first, in order;
    // gm-server skips frames it already has.
    for msg in resend {
        frame.clear();
        if codec.encode(&msg, &mut frame).is_ok() {
            send.write_all(&frame).await.map_err(|e| e.to_string())?;
        }
    }
    let mut last_metrics = Instant::now();
    // The first batch goes out at once, so gm-server learns the series without waiting.
    let mut next_metrics = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_metrics {
            let now = Instant::now();
            let figures = Figures {
                players: shared.online.read().len(),
                connected: true,
                rtt: Some(conn.rtt()),
                queue_commands: queues.commands.len(),
                queue_outgoing: queues
                    .outgoing
                    .upgrade()
                    .map_or(0, |tx| tx.max_capacity() - tx.capacity()),
                reconnects: shared.reconnects.load(std::sync::atomic::Ordering::Relaxed),
                dropped_outgoing: shared
                    .replies_dropped
                    .load(std::sync::atomic::Ordering::Relaxed),
                refused_commands: shared
                    .commands_refused
                    .load(std::sync::atomic::Ordering::Relaxed),
            };
            let losses = shared.telemetry.refresh(figures);
            let elapsed = now.duration_since(last_metrics).as_millis() as u32;
            let batch = shippers.lock().metrics.collect(elapsed, losses);
            last_metrics = now;
            next_metrics += interval;
            // A big registry does not fit one frame: split it (definitions go first, so a
            // part never refers to a series gm-server has not been told of).
            for part in split(batch, METRIC_ITEMS_PER_FRAME) {
                let framed =
                    shippers
                        .lock()
                        .frame(Message::Metrics(part), codec, &mut frame, &shared);
                if let Err(e) = framed {
                    tracing::warn!("a telemetry batch could not be encoded: {e}");
                    continue;
                }
                send.write_all(&frame).await.map_err(|e| e.to_string())?;
            }
        }
        // Drain the rings for as long as they hold events, a batch per frame, but leave in
        // time for the next metrics: they carry the drop counters, which matter most when
        // gm-server is slow.
        while tokio::time::Instant::now() < next_metrics {
            {
                let mut s = shippers.lock();
                // The window is full: events wait in their rings (which drop and count when
                // full) until gm-server acknowledges.
                if !s.window_open() {
                    break;
                }
                let batch = {
                    let mut rings = shared.telemetry.rings.lock();
                    s.events
                        .next_batch(&mut rings, MAX_EVENTS_PER_BATCH, Vec::new())
                };
                let Some(batch) = batch else { break };
                s.frame(Message::Events(batch), codec, &mut frame, &shared)
                    .map_err(|e| e.to_string())?;
            }
            send.write_all(&frame).await.map_err(|e| e.to_string())?;
        }
        let wake = next_metrics.min(tokio::time::Instant::now() + event_flush);
        tokio::time::sleep_until(wake).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gm_proto::telemetry::{Losses, SeriesDef, SeriesKind};

    #[test]
    fn a_big_batch_splits_into_frames_that_fit_with_definitions_first() {
        let defs: Vec<SeriesDef> = (0..1000)
            .map(|i| SeriesDef {
                id: i,
                kind: SeriesKind::Counter,
                name: "n".repeat(128),
                labels: (0..16)
                    .map(|l| ("l".repeat(128), format!("{l}{}", "v".repeat(120))))
                    .collect(),
            })
            .collect();
        let batch = MetricBatch {
            instance: 1,
            seq: 3,
            interval_ms: 1000,
            counters: defs.iter().map(|d| (d.id, 1)).collect(),
            defs,
            gauges: vec![],
            histograms: vec![],
            losses: Losses::default(),
        };
        let parts = split(batch, METRIC_ITEMS_PER_FRAME);
        assert_eq!(parts.len(), 10);
        assert!(
            parts[..5]
                .iter()
                .all(|p| p.counters.is_empty() && p.defs.len() == 200)
        );
        assert!(
            parts[5..]
                .iter()
                .all(|p| p.defs.is_empty() && p.counters.len() == 200)
        );
        let codec = FrameCodec::default();
        for p in parts {
            let mut out = Vec::new();
            codec
                .encode(&Message::Metrics(p), &mut out)
                .expect("fits one frame");
        }
    }
}
