//! The `metrics` facade backed by this crate's handles: code that already calls
//! `metrics::counter!`, `gauge!` or `histogram!` records into a [`Registry`] once a
//! [`TelemetryRecorder`] is installed.

use std::hash::BuildHasherDefault;
use std::sync::Arc;

use dashmap::DashMap;
use metrics::{Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::{Counter, Gauge, Histogram};

/// Settings of a [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Most series (name plus labels) per kind. Past it, new series share one overflow
    /// series per kind (`telemetry_overflow`) and are counted in
    /// [`Registry::overflowed`]: a runaway label cannot eat the game server's memory.
    pub max_series: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig { max_series: 10_000 }
    }
}

/// Keys carry a hash computed when they are made (at compile time for static ones); the map
/// uses it as is instead of hashing the name and labels again.
type KeyMap<T> = DashMap<Key, T, BuildHasherDefault<PrehashedKey>>;

/// A `Hasher` that passes through the one `u64` a `metrics::Key` writes.
#[derive(Debug, Default)]
pub struct PrehashedKey(u64);

impl std::hash::Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key::hash` feeds this hasher, and it writes one u64; fold anything else in
        // anyway rather than ignore it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// Every series recorded through the `metrics` facade, by key. Cheap to clone; tests read
/// values back from it.
///
/// ```
/// use gm_telemetry::TelemetryRecorder;
///
/// let recorder = TelemetryRecorder::default();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("kills_total", "weapon" => "bow").increment(2);
///     metrics::gauge!("players_online").set(12.0);
///     metrics::histogram!("tick_seconds").record(0.016);
/// });
/// let r = recorder.registry();
/// assert_eq!(r.counter_value("kills_total", &[("weapon", "bow")]), Some(2));
/// assert_eq!(r.gauge_value("players_online", &[]), Some(12.0));
/// assert_eq!(r.histogram_snapshot("tick_seconds", &[]).unwrap().count(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    /// Unique in the process (never reused, unlike an address), for the thread-local cache.
    id: u64,
    config: RegistryConfig,
    counters: KeyMap<Counter>,
    gauges: KeyMap<Gauge>,
    histograms: KeyMap<Histogram>,
    overflowed: Counter,
}

impl Default for RegistryInner {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        RegistryInner {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            config: RegistryConfig::default(),
            counters: KeyMap::default(),
            gauges: KeyMap::default(),
            histograms: KeyMap::default(),
            overflowed: Counter::default(),
        }
    }
}

/// Where series past the cap record, one name per kind (a name has one kind in Prometheus).
const OVERFLOW_COUNTER: &str = "telemetry_overflow_total";
const OVERFLOW_GAUGE: &str = "telemetry_overflow_gauge";
const OVERFLOW_HISTOGRAM: &str = "telemetry_overflow_histogram";

/// Slots in each thread's cache of recently used counter handles.
const CACHE_SLOTS: usize = 64;

/// A cached `metrics` counter handle: which registry, which key.
type CachedCounter = (u64, Key, metrics::Counter);

thread_local! {
    /// Each thread's recent `counter!` lookups, direct-mapped by key hash. Series are never
    /// removed from a registry, so an entry never goes stale; a collision just replaces it.
    static RECENT_COUNTERS: std::cell::RefCell<[Option<CachedCounter>; CACHE_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; CACHE_SLOTS]) };
}

impl Registry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Registry {
        Registry {
            inner: Arc::new(RegistryInner {
                config,
                ..Default::default()
            }),
        }
    }

    /// The counter for `key`, created on first use.
    pub fn counter(&self, key: &Key) -> Counter {
        self.series(&self.inner.counters, OVERFLOW_COUNTER, key, Counter::clone)
    }

    /// The gauge for `key`, created on first use.
    pub fn gauge(&self, key: &Key) -> Gauge {
        self.series(&self.inner.gauges, OVERFLOW_GAUGE, key, Gauge::clone)
    }

    /// The histogram for `key`, created on first use.
    pub fn histogram(&self, key: &Key) -> Histogram {
        self.series(
            &self.inner.histograms,
            OVERFLOW_HISTOGRAM,
            key,
            Histogram::clone,
        )
    }

    /// `make` applied to the series for `key`, created on first use. `make` runs under the
    /// map's read lock, so the `metrics` handles are made from the stored handle directly
    /// (one reference-count increment, not a clone and a conversion).
    fn series<T: Default, R>(
        &self,
        map: &KeyMap<T>,
        overflow_name: &'static str,
        key: &Key,
        make: impl Fn(&T) -> R,
    ) -> R {
        if let Some(found) = map.get(key) {
            return make(&found);
        }
        if map.len() >= self.inner.config.max_series {
            self.inner.overflowed.increment(1);
            let overflow = Key::from_static_name(overflow_name);
            if let Some(found) = map.get(&overflow) {
                return make(&found);
            }
            return make(&map.entry(overflow).or_default());
        }
        make(&map.entry(key.clone()).or_default())
    }

    /// How many times a new series was refused for the series cap (and recorded into
    /// `telemetry_overflow_total`, `_gauge` or `_histogram` instead). Counts lookups: a
    /// `gauge!` on a refused key counts each call.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.get()
    }

    /// A counter's total, if that series exists. Labels in any order.
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        self.find(&self.inner.counters, name, labels)
            .map(|c| c.get())
    }

    /// A gauge's value, if that series exists.
    pub fn gauge_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.find(&self.inner.gauges, name, labels).map(|g| g.get())
    }

    /// A histogram's counts, if that series exists.
    pub fn histogram_snapshot(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<crate::HistogramSnapshot> {
        self.find(&self.inner.histograms, name, labels)
            .map(|h| h.snapshot())
    }

    /// Every counter series with its key.
    pub fn counters(&self) -> Vec<(Key, Counter)> {
        collect(&self.inner.counters)
    }

    /// Every gauge series with its key.
    pub fn gauges(&self) -> Vec<(Key, Gauge)> {
        collect(&self.inner.gauges)
    }

    /// Every histogram series with its key.
    pub fn histograms(&self) -> Vec<(Key, Histogram)> {
        collect(&self.inner.histograms)
    }

    fn find<T: Clone>(&self, map: &KeyMap<T>, name: &str, labels: &[(&str, &str)]) -> Option<T> {
        map.iter()
            .find(|e| {
                let key = e.key();
                key.name() == name
                    && key.labels().count() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|e| e.value().clone())
    }
}

fn collect<T: Clone>(map: &KeyMap<T>) -> Vec<(Key, T)> {
    map.iter()
        .map(|e| (e.key().clone(), e.value().clone()))
        .collect()
}

/// A `metrics::Recorder` that records into a [`Registry`].
///
/// Install it once for the process (`metrics::set_global_recorder`), or for a scope with
/// `metrics::with_local_recorder`, which is also how a test captures what code under test
/// recorded (see [`Registry`]).
#[derive(Debug, Clone, Default)]
pub struct TelemetryRecorder {
    registry: Registry,
}

impl TelemetryRecorder {
    /// A recorder over a new registry with these settings.
    pub fn new(config: RegistryConfig) -> TelemetryRecorder {
        TelemetryRecorder {
            registry: Registry::new(config),
        }
    }

    /// A recorder over an existing registry, for example the one gm-sdk ships.
    pub fn from_registry(registry: Registry) -> TelemetryRecorder {
        TelemetryRecorder { registry }
    }

    /// What has been recorded.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Recorder for TelemetryRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        // `counter!` looks its handle up on every call: a thread-local cache in front of the
        // shared map saves its read lock.
        let r = &self.registry;
        let slot = key.get_hash() as usize % CACHE_SLOTS;
        RECENT_COUNTERS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some((id, cached_key, handle)) = &cache[slot]
                && *id == r.inner.id
                && cached_key == key
            {
                return handle.clone();
            }
            let handle = r.series(
                &r.inner.counters,
                OVERFLOW_COUNTER,
                key,
                Counter::to_metrics,
            );
            cache[slot] = Some((r.inner.id, key.clone(), handle.clone()));
            handle
        })
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        let r = &self.registry;
        r.series(&r.inner.gauges, OVERFLOW_GAUGE, key, Gauge::to_metrics)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let r = &self.registry;
        r.series(
            &r.inner.histograms,
            OVERFLOW_HISTOGRAM,
            key,
            Histogram::to_metrics,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_record_into_the_same_series_as_handles() {
        let recorder = TelemetryRecorder::default();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                metrics::counter!("hits_total", "server" => "eu-1").increment(1);
            }
            metrics::counter!("hits_total", "server" => "eu-2").increment(5);
            metrics::counter!("hits_total", "server" => "eu-1").absolute(10);
            metrics::gauge!("queue_depth").increment(3.0);
            metrics::gauge!("queue_depth").decrement(1.0);
        });
        let r = recorder.registry();
        assert_eq!(
            r.counter_value("hits_total", &[("server", "eu-1")]),
            Some(10)
        );
        assert_eq!(
            r.counter_value("hits_total", &[("server", "eu-2")]),
            Some(5)
        );
        assert_eq!(r.counter_value("hits_total", &[]), None);
        assert_eq!(r.gauge_value("queue_depth", &[]), Some(2.0));
        assert_eq!(r.counters().len(), 2);
    }

    #[test]
    fn recorders_on_one_thread_keep_their_own_series() {
        let (a, b) = (TelemetryRecorder::default(), TelemetryRecorder::default());
        for _ in 0..3 {
            metrics::with_local_recorder(&a, || metrics::counter!("same_total").increment(1));
            metrics::with_local_recorder(&b, || metrics::counter!("same_total").increment(10));
        }
        assert_eq!(a.registry().counter_value("same_total", &[]), Some(3));
        assert_eq!(b.registry().counter_value("same_total", &[]), Some(30));
    }

    #[test]
    fn a_runaway_label_is_capped_and_counted() {
        let recorder = TelemetryRecorder::new(RegistryConfig { max_series: 3 });
        metrics::with_local_recorder(&recorder, || {
            for i in 0..100 {
                metrics::counter!("by_player_total", "player" => i.to_string()).increment(1);
            }
        });
        let r = recorder.registry();
        // Three series filled the cap; the overflow series is the fourth and last.
        assert_eq!(r.counters().len(), 4);
        assert_eq!(r.overflowed(), 97);
        assert_eq!(r.counter_value("telemetry_overflow_total", &[]), Some(97));
    }
}
