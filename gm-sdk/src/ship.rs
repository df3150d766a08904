//! The telemetry stream: one task per session that ships metric deltas every interval and
//! drains the event rings, on a unidirectional QUIC stream of its own so a burst of events
//! never delays a command. It only ever waits on the network itself; the game thread never
//! waits on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gm_proto::telemetry::{EventKindDef, MAX_EVENTS_PER_BATCH, MetricBatch, STREAM_TELEMETRY};
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

/// What outlives sessions: the shippers' baselines.
#[derive(Debug)]
pub(crate) struct Shippers {
    metrics: MetricShipper,
    events: EventShipper,
    interval: Duration,
    event_flush: Duration,
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
        }
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
    let (interval, event_flush) = {
        let mut s = shippers.lock();
        s.metrics.new_session();
        s.events.new_session();
        (s.interval, s.event_flush)
    };
    let mut frame = Vec::with_capacity(MAX_EVENTS_PER_BATCH * 33);
    let mut records = Vec::new();
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
            shared.telemetry.refresh(figures);
            let losses = shared.telemetry.losses();
            let elapsed = now.duration_since(last_metrics).as_millis() as u32;
            let batch = shippers.lock().metrics.collect(elapsed, losses);
            last_metrics = now;
            next_metrics += interval;
            // A big registry does not fit one frame: split it (definitions go first, so a
            // part never refers to a series gm-server has not been told of).
            for part in split(batch, METRIC_ITEMS_PER_FRAME) {
                frame.clear();
                if let Err(e) = codec.encode(&Message::Metrics(part), &mut frame) {
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
            let batch = {
                let mut s = shippers.lock();
                let mut rings = shared.telemetry.rings.lock();
                s.events.next_batch(
                    &mut rings,
                    MAX_EVENTS_PER_BATCH,
                    std::mem::take(&mut records),
                )
            };
            let Some(batch) = batch else { break };
            frame.clear();
            let msg = Message::Events(batch);
            codec.encode(&msg, &mut frame).map_err(|e| e.to_string())?;
            if let Message::Events(b) = msg {
                records = b.records;
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
