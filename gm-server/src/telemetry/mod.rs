//! Game telemetry: each game server's telemetry stream is read here, its metrics aggregated
//! into one fleet table for `/metrics`, and its events stored in batches with counts per
//! name per time bucket.

pub mod delivery;
pub mod events;
mod exposition;
pub mod fleet;
mod ingest;

pub use exposition::{HttpStats, render};
pub use fleet::{FleetMetrics, ServerLabels, SessionSeries};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::{EventChunk, Store};

pub(crate) use ingest::{FlushRequests, flush, flush_channel, serve_stream};

/// Counters of telemetry ingest, exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct TelemetryStats {
    /// Metric batches applied.
    pub metric_batches: AtomicU64,
    /// Event batches received.
    pub event_batches: AtomicU64,
    /// Events received.
    pub events: AtomicU64,
    /// Events written to the store.
    pub events_stored: AtomicU64,
    /// Events lost because the store refused them.
    pub events_store_failed: AtomicU64,
    /// Telemetry streams closed for malformed or oversized frames.
    pub stream_errors: AtomicU64,
    /// Frames skipped because they were done already (sent again after a reconnect).
    pub duplicate_frames: AtomicU64,
}

/// The telemetry side of gm-server; cheap to clone.
#[derive(Debug, Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fleet: FleetMetrics,
    delivery: delivery::Delivery,
    store: Store,
    stats: TelemetryStats,
    sink: mpsc::Sender<(EventChunk, tokio::sync::oneshot::Sender<()>)>,
    stop: CancellationToken,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Telemetry {
    /// Starts the event writer on `store` (and hourly pruning past the retention); see
    /// [`close`](Self::close).
    pub fn start(store: Store, config: &crate::config::TelemetryConfig) -> Telemetry {
        let shutdown = CancellationToken::new();
        let (sink, rx) = mpsc::channel(config.event_queue.max(1));
        let telemetry = Telemetry {
            inner: Arc::new(Inner {
                fleet: FleetMetrics::new(config.max_series, config.max_series_per_server),
                delivery: delivery::Delivery::default(),
                store: store.clone(),
                stats: TelemetryStats::default(),
                sink,
                stop: shutdown.clone(),
                tasks: Default::default(),
            }),
        };
        let retention = Duration::from_secs(config.event_retention_hours.max(1) * 3600);
        *telemetry.inner.tasks.lock() = vec![
            tokio::spawn(writer(
                telemetry.clone(),
                store.clone(),
                rx,
                shutdown.clone(),
            )),
            tokio::spawn(prune(store, retention, shutdown)),
        ];
        telemetry
    }

    /// Writes what is queued and stops the writer. Call it after the game servers'
    /// connections have ended, before the store closes.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let tasks = std::mem::take(&mut *self.inner.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The fleet's metric table.
    pub fn fleet(&self) -> &FleetMetrics {
        &self.inner.fleet
    }

    /// Marks done what the store says was stored for an SDK instance, at the start of each
    /// of its telemetry streams (after a gm-server restart, its frames may come again).
    pub(crate) async fn load_cursor(&self, server: &str, instance: u64) {
        match self.inner.store.event_cursor(server, instance).await {
            Ok(Some(last)) => self.inner.delivery.mark_upto(server, instance, last),
            Ok(None) => {}
            Err(e) => tracing::warn!("could not read the telemetry cursor of {server}: {e}"),
        }
    }

    /// Which frames of which SDK instance are done.
    pub fn delivery(&self) -> &delivery::Delivery {
        &self.inner.delivery
    }

    /// Ingest counters.
    pub fn stats(&self) -> &TelemetryStats {
        &self.inner.stats
    }

    /// Queues a chunk for the store, waiting while the queue is full (which slows the
    /// telemetry stream that sent it, not anything else). The receiver resolves once the
    /// chunk's frames are marked done.
    pub(crate) async fn store_events(
        &self,
        chunk: EventChunk,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let n = chunk.count as u64;
        let (done, stored) = tokio::sync::oneshot::channel();
        if self.inner.sink.send((chunk, done)).await.is_err() {
            self.inner.stats.events_store_failed.fetch_add(n, Relaxed);
            return None;
        }
        Some(stored)
    }
}

/// Writes queued chunks, several per transaction when they pile up.
async fn writer(
    telemetry: Telemetry,
    store: Store,
    mut rx: mpsc::Receiver<(EventChunk, tokio::sync::oneshot::Sender<()>)>,
    shutdown: CancellationToken,
) {
    let mut waiting = Vec::new();
    let mut chunks = Vec::new();
    loop {
        let first = tokio::select! {
            c = rx.recv() => c,
            _ = shutdown.cancelled() => {
                // Write what is queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some((first, done)) = first else { break };
        chunks.push(first);
        waiting.push(done);
        while chunks.len() < 32
            && let Ok((c, done)) = rx.try_recv()
        {
            chunks.push(c);
            waiting.push(done);
        }
        let n: i64 = chunks.iter().map(|c| c.count).sum();
        let stats = &telemetry.inner.stats;
        match store.append_events(&chunks).await {
            Ok(()) => {
                stats.events_stored.fetch_add(n as u64, Relaxed);
            }
            Err(e) => {
                tracing::error!("could not store {n} telemetry events: {e}");
                stats.events_store_failed.fetch_add(n as u64, Relaxed);
            }
        }
        // Done either way: a failure is counted here, and holding the mark back would make
        // the SDK keep (and in the end drop) frames that were stored.
        for c in &chunks {
            telemetry
                .inner
                .delivery
                .mark(&c.server_id, c.instance, c.frames.iter().copied());
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        chunks.clear();
    }
}

/// Deletes events past their retention, hourly.
async fn prune(store: Store, retention: Duration, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let before = crate::store::now_ms() - retention.as_millis() as i64;
        match store.prune_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} telemetry event batches past retention"),
            Err(e) => tracing::warn!("could not prune telemetry events: {e}"),
        }
    }
}
