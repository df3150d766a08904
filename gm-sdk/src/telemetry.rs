//! Turning what the game recorded into what goes on the wire, without I/O: per-interval
//! metric deltas ([`MetricShipper`]) and event batches ([`EventShipper`]).
//!
//! Nothing recorded while gm-server is unreachable is lost uncounted: counters and histograms keep adding
//! up in the registry, and the first batch after a reconnect carries everything since the
//! last one sent. Events wait in their bounded rings; what does not fit is dropped and counted
//! by the ring, and that count ships as the `gm_sdk_dropped_total{what="events"}` counter.
//! (A batch already handed to QUIC when the connection dies is lost with it: see
//! docs/telemetry.md.)

use std::collections::HashMap;

use gm_proto::telemetry::{
    EventBatch, EventKindDef, EventRecord, HistogramDelta, Losses, MAX_EVENTS_PER_BATCH,
    MetricBatch, SeriesDef, SeriesKind,
};
use gm_telemetry::event::EventReader;
use gm_telemetry::{HistogramSnapshot, Registry};
use metrics::Key;

// The wire's bucket count is gm-telemetry's layout.
const _: () =
    assert!(gm_telemetry::histogram::BUCKETS == gm_proto::telemetry::HISTOGRAM_BUCKETS as usize);

/// What the shipper remembers of one series.
#[derive(Debug)]
struct Tracked {
    id: u32,
    /// The session this series was last named in.
    named_in: u64,
    last: Last,
}

#[derive(Debug)]
enum Last {
    Counter(u64),
    Gauge(Option<u64>),
    Histogram(Box<HistogramSnapshot>),
}

/// Computes [`MetricBatch`]es from a registry: deltas since the previous batch.
#[derive(Debug)]
pub(crate) struct MetricShipper {
    registry: Registry,
    tracked: HashMap<(SeriesKind, Key), Tracked>,
    /// Id → series, to name again the series of a batch sent again in a later session.
    by_id: HashMap<u32, (SeriesKind, Key)>,
    next_id: u32,
    session: u64,
}

impl MetricShipper {
    pub(crate) fn new(registry: Registry) -> MetricShipper {
        MetricShipper {
            registry,
            tracked: HashMap::new(),
            by_id: HashMap::new(),
            next_id: 1,
            session: 0,
        }
    }

    /// A new session: every series is named again in its first batch. Baselines stay, so
    /// nothing recorded in between is counted twice or lost.
    pub(crate) fn new_session(&mut self) {
        self.session += 1;
    }

    /// The definition of series `id`, for a batch sent again in a later session.
    pub(crate) fn def_of(&self, id: u32) -> Option<SeriesDef> {
        self.by_id.get(&id).map(|(kind, key)| def(id, *kind, key))
    }

    /// The batch for the interval that just ended (its `instance` and `seq` are the
    /// caller's to set).
    pub(crate) fn collect(&mut self, interval_ms: u32, losses: Losses) -> MetricBatch {
        let mut batch = MetricBatch {
            instance: 0,
            seq: 0,
            interval_ms,
            defs: Vec::new(),
            counters: Vec::new(),
            gauges: Vec::new(),
            histograms: Vec::new(),
            losses,
        };
        for (key, c) in self.registry.counters() {
            let now = c.get();
            let (id, named, last) = self.track(&mut batch.defs, SeriesKind::Counter, key, || {
                Last::Counter(0)
            });
            let Last::Counter(last) = last else {
                continue;
            };
            if now != *last || named {
                batch.counters.push((id, now.saturating_sub(*last)));
                *last = now;
            }
        }
        for (key, g) in self.registry.gauges() {
            let now = g.get();
            let (id, named, last) = self.track(&mut batch.defs, SeriesKind::Gauge, key, || {
                Last::Gauge(None)
            });
            let Last::Gauge(last) = last else {
                continue;
            };
            if *last != Some(now.to_bits()) || named {
                batch.gauges.push((id, now));
                *last = Some(now.to_bits());
            }
        }
        for (key, h) in self.registry.histograms() {
            let now = h.snapshot();
            let (id, _, last) = self.track(&mut batch.defs, SeriesKind::Histogram, key, || {
                Last::Histogram(Box::new(HistogramSnapshot::empty()))
            });
            let Last::Histogram(last) = last else {
                continue;
            };
            let buckets: Vec<(u16, u64)> = now
                .buckets
                .iter()
                .zip(&last.buckets)
                .enumerate()
                .filter(|(_, (n, l))| n > l)
                .map(|(i, (n, l))| (i as u16, n - l))
                .collect();
            if !buckets.is_empty() {
                batch.histograms.push(HistogramDelta {
                    id,
                    sum: now.sum - last.sum,
                    buckets,
                });
                **last = now;
            }
        }
        batch
    }

    /// The series' id and state, naming it in `defs` if this session has not seen it yet
    /// (the bool says whether it was named now).
    fn track(
        &mut self,
        defs: &mut Vec<SeriesDef>,
        kind: SeriesKind,
        key: Key,
        first: impl FnOnce() -> Last,
    ) -> (u32, bool, &mut Last) {
        let session = self.session;
        let next_id = &mut self.next_id;
        let by_id = &mut self.by_id;
        let entry = self.tracked.entry((kind, key.clone())).or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            by_id.insert(id, (kind, key.clone()));
            Tracked {
                id,
                named_in: 0,
                last: first(),
            }
        });
        let named = entry.named_in != session;
        if named {
            entry.named_in = session;
            defs.push(def(entry.id, kind, &key));
        }
        (entry.id, named, &mut entry.last)
    }
}

fn def(id: u32, kind: SeriesKind, key: &Key) -> SeriesDef {
    SeriesDef {
        id,
        kind,
        name: key.name().to_string(),
        labels: key
            .labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect(),
    }
}

/// Drains event rings into [`EventBatch`]es.
#[derive(Debug)]
pub(crate) struct EventShipper {
    kinds: Vec<EventKindDef>,
    kinds_named_in: u64,
    session: u64,
    /// Index of the ring to drain first next time, so one busy ring cannot starve the others.
    next_ring: usize,
}

impl EventShipper {
    pub(crate) fn new(kinds: Vec<EventKindDef>) -> EventShipper {
        EventShipper {
            kinds,
            kinds_named_in: 0,
            session: 0,
            next_ring: 0,
        }
    }

    pub(crate) fn new_session(&mut self) {
        self.session += 1;
    }

    /// Every named kind, marking them named in this session (for a batch sent again).
    pub(crate) fn kinds_for_resend(&mut self) -> Vec<EventKindDef> {
        self.kinds_named_in = self.session;
        self.kinds.clone()
    }

    /// The next batch of at most `max` events (capped at [`MAX_EVENTS_PER_BATCH`]) from
    /// `rings`, or `None` when they are all empty. `out` is reused for the records.
    pub(crate) fn next_batch(
        &mut self,
        rings: &mut [EventReader],
        max: usize,
        mut records: Vec<u8>,
    ) -> Option<EventBatch> {
        records.clear();
        let max = max.clamp(1, MAX_EVENTS_PER_BATCH);
        let mut n = 0;
        for k in 0..rings.len() {
            let i = (self.next_ring + k) % rings.len();
            n += rings[i].drain_max(max - n, |e| {
                EventRecord {
                    kind: e.kind,
                    tag: e.tag,
                    at: e.at,
                    fields: e.fields,
                }
                .write(&mut records)
            });
            if n == max {
                self.next_ring = i + 1;
                break;
            }
        }
        if n == 0 {
            return None;
        }
        let kinds = if self.kinds_named_in != self.session {
            self.kinds_named_in = self.session;
            self.kinds.clone()
        } else {
            Vec::new()
        };
        Some(EventBatch {
            instance: 0,
            seq: 0,
            kinds,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gm_telemetry::event::{Event, ring};

    fn key(name: &'static str) -> Key {
        Key::from_static_name(name)
    }

    #[test]
    fn counters_ship_as_deltas_and_only_when_they_move() {
        let registry = Registry::default();
        let kills = registry.counter(&Key::from_parts("kills_total", &[("weapon", "bow")]));
        let mut s = MetricShipper::new(registry);
        s.new_session();
        kills.increment(3);
        let b = s.collect(1000, Losses::default());
        assert_eq!(b.defs.len(), 1);
        assert_eq!(b.defs[0].name, "kills_total");
        assert_eq!(b.defs[0].labels, vec![("weapon".into(), "bow".into())]);
        assert_eq!(b.counters, vec![(b.defs[0].id, 3)]);
        kills.increment(2);
        let b2 = s.collect(1000, Losses::default());
        assert!(b2.defs.is_empty(), "named once per session");
        assert_eq!(b2.counters, vec![(b.defs[0].id, 2)]);
        let b3 = s.collect(1000, Losses::default());
        assert!(b3.counters.is_empty(), "unchanged counters are not sent");
    }

    #[test]
    fn a_new_session_names_every_series_again_and_loses_nothing_recorded_between() {
        let registry = Registry::default();
        let kills = registry.counter(&key("kills_total"));
        let tick = registry.histogram(&key("tick_seconds"));
        let players = registry.gauge(&key("players"));
        let mut s = MetricShipper::new(registry);
        s.new_session();
        kills.increment(1);
        tick.record(0.016);
        players.set(5.0);
        let first = s.collect(1000, Losses::default());
        assert_eq!(first.defs.len(), 3);
        // gm-server goes away: nothing is collected while disconnected.
        for _ in 0..10 {
            kills.increment(1);
            tick.record(0.020);
        }
        s.new_session();
        let after = s.collect(1000, Losses::default());
        assert_eq!(after.defs.len(), 3, "named again for the new session");
        let kills_id = after
            .defs
            .iter()
            .find(|d| d.name == "kills_total")
            .unwrap()
            .id;
        assert_eq!(after.counters, vec![(kills_id, 10)]);
        assert_eq!(after.histograms.len(), 1);
        let h = &after.histograms[0];
        assert_eq!(h.buckets.iter().map(|(_, n)| n).sum::<u64>(), 10);
        assert!((h.sum - 0.2).abs() < 1e-9);
        assert_eq!(
            h.buckets[0].0 as usize,
            gm_telemetry::histogram::bucket_index(0.020)
        );
        assert_eq!(
            after.gauges.len(),
            1,
            "gauges are restated for a new session"
        );
    }

    #[test]
    fn events_drain_in_bounded_batches_across_rings() {
        let (mut w1, r1) = ring(100);
        let (mut w2, r2) = ring(100);
        let mut rings = vec![r1, r2];
        w1.set_time(7);
        for i in 0..5 {
            w1.emit(Event {
                kind: 1,
                fields: [i, 0],
                ..Event::default()
            });
            w2.emit(Event {
                kind: 2,
                ..Event::default()
            });
        }
        let mut s = EventShipper::new(vec![EventKindDef {
            kind: 1,
            name: "player_died".into(),
        }]);
        s.new_session();
        let b = s.next_batch(&mut rings, 4, Vec::new()).unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b.kinds.len(), 1, "kinds named in the session's first batch");
        let first = b.iter().next().unwrap();
        assert_eq!((first.kind, first.at, first.fields[0]), (1, 7, 0));
        let b = s.next_batch(&mut rings, 100, b.records).unwrap();
        assert_eq!(b.len(), 6);
        assert!(b.kinds.is_empty());
        assert!(s.next_batch(&mut rings, 100, Vec::new()).is_none());
    }
}

/// The SDK's own series and the game's event rings, shared by the handles and the driver.
#[derive(Debug)]
pub(crate) struct SdkTelemetry {
    pub(crate) registry: Registry,
    pub(crate) tick: gm_telemetry::Histogram,
    pub(crate) entities: gm_telemetry::Gauge,
    pub(crate) rings: parking_lot::Mutex<Vec<EventReader>>,
    pub(crate) ring_capacity: usize,
    /// Drops counted by rings whose writer is gone and that were emptied and removed, and
    /// events sent but never acknowledged that had to be forgotten.
    pub(crate) retired_dropped: std::sync::atomic::AtomicU64,
    /// Metric batches sent but never acknowledged that had to be forgotten.
    pub(crate) dropped_metric_batches: gm_telemetry::Counter,
    players: gm_telemetry::Gauge,
    connected: gm_telemetry::Gauge,
    rtt: gm_telemetry::Gauge,
    queue_commands: gm_telemetry::Gauge,
    queue_outgoing: gm_telemetry::Gauge,
    queue_events: gm_telemetry::Gauge,
    reconnects: gm_telemetry::Counter,
    dropped_events: gm_telemetry::Counter,
    dropped_outgoing: gm_telemetry::Counter,
    refused_commands: gm_telemetry::Counter,
}

/// Live event rings a client hands out at full capacity (see `GmClient::event_writer`).
pub(crate) const MAX_RINGS: usize = 64;

/// Figures the driver hands to [`SdkTelemetry::refresh`] before each batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    pub(crate) players: usize,
    pub(crate) connected: bool,
    pub(crate) rtt: Option<std::time::Duration>,
    pub(crate) queue_commands: usize,
    pub(crate) queue_outgoing: usize,
    pub(crate) reconnects: u64,
    pub(crate) dropped_outgoing: u64,
    pub(crate) refused_commands: u64,
}

impl SdkTelemetry {
    pub(crate) fn new(config: &crate::builder::TelemetryConfig) -> SdkTelemetry {
        let registry = Registry::new(gm_telemetry::RegistryConfig {
            max_series: config.max_series,
        });
        let key = |name: &'static str| Key::from_static_name(name);
        let labelled = |name: &'static str, label: &'static str, value: &'static str| {
            Key::from_parts(name, vec![metrics::Label::new(label, value)])
        };
        SdkTelemetry {
            tick: registry.histogram(&key(names::TICK_SECONDS)),
            entities: registry.gauge(&key(names::ENTITIES)),
            players: registry.gauge(&key(names::PLAYERS_ONLINE)),
            connected: registry.gauge(&key(names::CONNECTED)),
            rtt: registry.gauge(&key(names::RTT_SECONDS)),
            queue_commands: registry.gauge(&labelled(names::QUEUE_DEPTH, "queue", "commands")),
            queue_outgoing: registry.gauge(&labelled(names::QUEUE_DEPTH, "queue", "outgoing")),
            queue_events: registry.gauge(&labelled(names::QUEUE_DEPTH, "queue", "events")),
            reconnects: registry.counter(&key(names::RECONNECTS_TOTAL)),
            dropped_events: registry.counter(&labelled(names::DROPPED_TOTAL, "what", "events")),
            dropped_outgoing: registry.counter(&labelled(names::DROPPED_TOTAL, "what", "outgoing")),
            refused_commands: registry.counter(&labelled(
                names::DROPPED_TOTAL,
                "what",
                "commands_refused",
            )),
            dropped_metric_batches: registry.counter(&labelled(
                names::DROPPED_TOTAL,
                "what",
                "metric_batches",
            )),
            rings: parking_lot::Mutex::new(Vec::new()),
            ring_capacity: config.event_ring_capacity.max(1),
            retired_dropped: Default::default(),
            registry,
        }
    }

    /// A new event ring; the driver drains its reader. Past [`MAX_RINGS`] live rings a
    /// writer gets a ring of one slot (it drops and counts nearly everything), so a game that
    /// asks for a writer per tick cannot grow memory without end.
    pub(crate) fn event_writer(&self) -> gm_telemetry::event::EventWriter {
        let mut rings = self.rings.lock();
        let capacity = if rings.len() < MAX_RINGS {
            self.ring_capacity
        } else {
            tracing::warn!(
                "more than {MAX_RINGS} event writers: take one per emitting thread, once; \
                 this one drops what it is given"
            );
            1
        };
        let (writer, reader) = gm_telemetry::event::ring(capacity);
        rings.push(reader);
        writer
    }

    /// Events dropped so far by every ring.
    pub(crate) fn events_dropped(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.retired_dropped.load(Relaxed)
            + self
                .rings
                .lock()
                .iter()
                .map(EventReader::dropped)
                .sum::<u64>()
    }

    /// Events waiting in the rings.
    pub(crate) fn events_queued(&self) -> usize {
        self.rings.lock().iter().map(EventReader::len).sum()
    }

    /// Brings the SDK's own series up to date (once per interval, on the driver), and says
    /// what could not be shipped, for the batch header.
    pub(crate) fn refresh(&self, f: Figures) -> Losses {
        use std::sync::atomic::Ordering::Relaxed;
        // One pass over the rings: retire the empty ones whose writer is gone, and add up
        // what is queued and what was dropped.
        let (queued, dropped) = {
            let mut rings = self.rings.lock();
            rings.retain(|r| {
                let keep = !(r.is_abandoned() && r.is_empty());
                if !keep {
                    self.retired_dropped.fetch_add(r.dropped(), Relaxed);
                }
                keep
            });
            let queued: usize = rings.iter().map(EventReader::len).sum();
            let dropped: u64 = rings.iter().map(EventReader::dropped).sum();
            (queued, dropped + self.retired_dropped.load(Relaxed))
        };
        self.players.set(f.players as f64);
        self.connected.set(if f.connected { 1.0 } else { 0.0 });
        if let Some(rtt) = f.rtt {
            self.rtt.set(rtt.as_secs_f64());
        }
        self.queue_commands.set(f.queue_commands as f64);
        self.queue_outgoing.set(f.queue_outgoing as f64);
        self.queue_events.set(queued as f64);
        let raise = |c: &gm_telemetry::Counter, total: u64| {
            let now = c.get();
            if total > now {
                c.increment(total - now);
            }
        };
        raise(&self.reconnects, f.reconnects);
        raise(&self.dropped_events, dropped);
        raise(&self.dropped_outgoing, f.dropped_outgoing);
        raise(&self.refused_commands, f.refused_commands);
        Losses {
            events_dropped: dropped,
            series_refused: self.registry.overflowed(),
        }
    }
}

/// Names of the series the SDK records itself (see docs/telemetry.md).
pub mod names {
    /// Histogram: seconds each game tick took ([`GmClient::record_tick`](crate::GmClient::record_tick)).
    pub const TICK_SECONDS: &str = "game_tick_seconds";
    /// Gauge: players online on this game server.
    pub const PLAYERS_ONLINE: &str = "game_players_online";
    /// Gauge: entities in the world (bevy plugin, or [`GmClient::report_entities`](crate::GmClient::report_entities)).
    pub const ENTITIES: &str = "game_entities";
    /// Gauge: 1 while a session with gm-server is up. gm-server drops a game server's series
    /// when it disconnects, so on `/metrics` the series is there (1) or absent.
    pub const CONNECTED: &str = "gm_sdk_connected";
    /// Gauge: QUIC round-trip time to gm-server, seconds.
    pub const RTT_SECONDS: &str = "gm_sdk_rtt_seconds";
    /// Gauge, label `queue` (`commands`, `outgoing`, `events`): items waiting.
    pub const QUEUE_DEPTH: &str = "gm_sdk_queue_depth";
    /// Counter: sessions established after the first.
    pub const RECONNECTS_TOTAL: &str = "gm_sdk_reconnects_total";
    /// Counter, label `what` (`events`, `outgoing`, `commands_refused`, `metric_batches`):
    /// items dropped.
    pub const DROPPED_TOTAL: &str = "gm_sdk_dropped_total";
}
