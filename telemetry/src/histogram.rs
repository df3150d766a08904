//! Histograms with fixed log-linear buckets: no per-sample buffering, bounded memory, and
//! snapshots that merge by adding counts.
//!
//! The buckets come straight from a value's IEEE 754 bits: its binary exponent picks the
//! power of two and the top [`SUB_BUCKET_BITS`] bits of its mantissa pick one of
//! [`SUB_BUCKETS`] equal slices of it, so a bucket is at most 12.5 % wide relative to its
//! lower bound and finding it is a shift and a mask. Powers of two from 2^[`MIN_EXP`]
//! (about 1e-9) to 2^[`MAX_EXP`] (about 4e12) are covered, which holds seconds from a
//! nanosecond up, or nanoseconds up to an hour; zero, negative values and NaN land in the
//! first bucket, values above the range in the last.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Mantissa bits that pick the slice of a power of two.
pub const SUB_BUCKET_BITS: u32 = 3;
/// Slices per power of two.
pub const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Smallest power of two with buckets of its own.
pub const MIN_EXP: i32 = -30;
/// First power of two past the covered range.
pub const MAX_EXP: i32 = 42;
/// Buckets in every histogram: one for zero and below, the log-linear ones, one for above.
pub const BUCKETS: usize = (MAX_EXP - MIN_EXP) as usize * SUB_BUCKETS + 2;

/// The bucket `value` is counted in.
#[inline]
pub fn bucket_index(value: f64) -> usize {
    if value.is_nan() || value <= 0.0 {
        return 0;
    }
    let bits = value.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exp < MIN_EXP {
        return 0;
    }
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = ((bits >> (52 - SUB_BUCKET_BITS)) as usize) & (SUB_BUCKETS - 1);
    1 + (exp - MIN_EXP) as usize * SUB_BUCKETS + sub
}

/// The smallest value counted in bucket `index` (bucket 0 holds everything up to
/// 2^[`MIN_EXP`]; the last bucket everything from 2^[`MAX_EXP`] on).
pub fn bucket_lower_bound(index: usize) -> f64 {
    match index {
        0 => f64::NEG_INFINITY,
        i if i >= BUCKETS - 1 => 2f64.powi(MAX_EXP),
        i => {
            let (binade, sub) = ((i - 1) / SUB_BUCKETS, (i - 1) % SUB_BUCKETS);
            2f64.powi(MIN_EXP + binade as i32) * (1.0 + sub as f64 / SUB_BUCKETS as f64)
        }
    }
}

/// The largest value counted in bucket `index` (exclusive).
pub fn bucket_upper_bound(index: usize) -> f64 {
    if index == 0 {
        2f64.powi(MIN_EXP)
    } else if index >= BUCKETS - 1 {
        f64::INFINITY
    } else {
        bucket_lower_bound(index + 1)
    }
}

/// One writer's counts: a count per bucket and the sum of the values.
#[derive(Debug)]
struct Cells {
    buckets: Box<[AtomicU64]>,
    /// f64 bits.
    sum: AtomicU64,
}

impl Cells {
    fn new() -> Cells {
        Cells {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn add_to(&self, snap: &mut HistogramSnapshot) {
        for (total, b) in snap.buckets.iter_mut().zip(self.buckets.iter()) {
            *total += b.load(Relaxed);
        }
        snap.sum += f64::from_bits(self.sum.load(Relaxed));
    }
}

/// A histogram any number of threads may record into at once; clones share it.
///
/// A record is an atomic add on its bucket and a compare-and-swap on the sum. A thread that
/// records on its hot path should take a [`LocalHistogram`] instead.
///
/// ```
/// let tick = gm_telemetry::Histogram::new();
/// for ms in [16.0, 16.5, 17.0, 40.0] {
///     tick.record(ms);
/// }
/// let snap = tick.snapshot();
/// assert_eq!(snap.count(), 4);
/// assert!((snap.quantile(0.5) - 16.5).abs() < 16.5 * 0.125);
/// ```
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
pub(crate) struct HistogramInner {
    shared: Cells,
    locals: Mutex<Vec<Arc<Cells>>>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram ([`BUCKETS`] counters, about 4.6 KiB).
    pub fn new() -> Histogram {
        Histogram {
            inner: Arc::new(HistogramInner {
                shared: Cells::new(),
                locals: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Counts one value.
    #[inline]
    pub fn record(&self, value: f64) {
        self.inner.record(value);
    }

    /// This histogram as a `metrics` handle.
    pub(crate) fn to_metrics(&self) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.inner.clone())
    }

    /// A handle for one thread's hot path, with counts of its own (allocated here, 4.6 KiB;
    /// they stay in the histogram after it is dropped, so take one per thread once, not per
    /// tick).
    pub fn local(&self) -> LocalHistogram {
        let cells = Arc::new(Cells::new());
        self.inner.locals.lock().push(cells.clone());
        LocalHistogram {
            cells,
            _single_writer: PhantomData,
        }
    }

    /// Everything recorded so far, through this handle, its clones and its local handles.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut snap = HistogramSnapshot::empty();
        self.inner.shared.add_to(&mut snap);
        for cells in self.inner.locals.lock().iter() {
            cells.add_to(&mut snap);
        }
        snap
    }
}

impl HistogramInner {
    #[inline]
    fn record(&self, value: f64) {
        let cells = &self.shared;
        cells.buckets[bucket_index(value)].fetch_add(1, Relaxed);
        // A NaN or infinity is counted (in the first or last bucket) but kept out of the
        // sum, which it would spoil for good.
        if value.is_finite() {
            let _ = cells.sum.fetch_update(Relaxed, Relaxed, |b| {
                Some((f64::from_bits(b) + value).to_bits())
            });
        }
    }
}

impl metrics::HistogramFn for HistogramInner {
    fn record(&self, value: f64) {
        HistogramInner::record(self, value);
    }
}

/// A single-writer handle to a [`Histogram`]: `Send`, not `Sync`, not `Clone`, so a record
/// is a plain load and store on its own counts.
#[derive(Debug)]
pub struct LocalHistogram {
    cells: Arc<Cells>,
    _single_writer: PhantomData<Cell<()>>,
}

impl LocalHistogram {
    /// Counts one value.
    #[inline]
    pub fn record(&self, value: f64) {
        // The only writer of these cells: no update can be lost between load and store.
        let bucket = &self.cells.buckets[bucket_index(value)];
        bucket.store(bucket.load(Relaxed) + 1, Relaxed);
        let sum = &self.cells.sum;
        let finite = if value.is_finite() { value } else { 0.0 };
        sum.store(
            (f64::from_bits(sum.load(Relaxed)) + finite).to_bits(),
            Relaxed,
        );
    }
}

/// Counts per bucket and the sum, at one moment. Snapshots of several histograms (or of one
/// histogram on several game servers) merge by adding; the difference of two snapshots of
/// one histogram is what was recorded in between.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Count per bucket, [`BUCKETS`] long.
    pub buckets: Vec<u64>,
    /// Sum of the values recorded.
    pub sum: f64,
}

impl HistogramSnapshot {
    /// Nothing recorded.
    pub fn empty() -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: vec![0; BUCKETS],
            sum: 0.0,
        }
    }

    /// How many values.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
    }

    /// What was recorded since `earlier`, a snapshot of the same histogram.
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self
                .buckets
                .iter()
                .zip(&earlier.buckets)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
            sum: self.sum - earlier.sum,
        }
    }

    /// An estimate of quantile `q` (0 to 1): the middle of the bucket it falls in, so within
    /// half a bucket (6.25 %) of a value that was recorded. 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return match i {
                    0 => 0.0,
                    i if i == BUCKETS - 1 => bucket_lower_bound(i),
                    i => (bucket_lower_bound(i) + bucket_upper_bound(i)) / 2.0,
                };
            }
        }
        unreachable!("rank is at most the count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_infinity_is_counted_but_does_not_spoil_the_sum() {
        let h = Histogram::new();
        let local = h.local();
        for v in [1.0, f64::NAN, f64::INFINITY, 2.0] {
            h.record(v);
            local.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 8);
        assert_eq!(s.sum, 6.0);
    }

    #[test]
    fn every_value_lands_between_its_bucket_bounds() {
        let mut v = 2f64.powi(MIN_EXP);
        while v < 2f64.powi(MAX_EXP) {
            for x in [v, v * 1.0001, v * 1.3, v * 1.999] {
                let i = bucket_index(x);
                assert!(
                    bucket_lower_bound(i) <= x && x < bucket_upper_bound(i),
                    "{x} in bucket {i}: [{}, {})",
                    bucket_lower_bound(i),
                    bucket_upper_bound(i)
                );
                assert!(bucket_upper_bound(i) / bucket_lower_bound(i) <= 1.125 + 1e-12);
            }
            v *= 2.0;
        }
    }

    #[test]
    fn bucket_indexes_grow_with_the_value_and_cover_the_edges() {
        let mut last = 0;
        let mut x = 1e-12;
        while x < 1e14 {
            let i = bucket_index(x);
            assert!(i >= last, "{x}");
            last = i;
            x *= 1.01;
        }
        assert_eq!(last, BUCKETS - 1);
        for odd in [0.0, -1.0, f64::NAN, f64::MIN_POSITIVE / 2.0, 1e-300] {
            assert_eq!(bucket_index(odd), 0, "{odd}");
        }
        assert_eq!(bucket_index(f64::INFINITY), BUCKETS - 1);
        assert_eq!(bucket_index(1e300), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_half_a_bucket() {
        let h = Histogram::new();
        let local = h.local();
        for i in 1..=10_000 {
            local.record(i as f64);
        }
        let snap = h.snapshot();
        assert_eq!(snap.count(), 10_000);
        assert_eq!(snap.sum, 50_005_000.0);
        for (q, exact) in [(0.5, 5_000.0), (0.9, 9_000.0), (0.99, 9_900.0)] {
            let est = snap.quantile(q);
            assert!(
                (est - exact).abs() / exact < 0.0625,
                "q{q}: {est} vs {exact}"
            );
        }
    }

    #[test]
    fn shared_records_under_contention_all_count() {
        let h = Histogram::new();
        std::thread::scope(|s| {
            for t in 0..4 {
                let h = h.clone();
                s.spawn(move || {
                    for _ in 0..25_000 {
                        h.record(t as f64 + 1.0);
                    }
                });
            }
        });
        let snap = h.snapshot();
        assert_eq!(snap.count(), 100_000);
        assert_eq!(snap.sum, 25_000.0 * (1.0 + 2.0 + 3.0 + 4.0));
    }

    #[test]
    fn snapshots_merge_and_subtract() {
        let (a, b) = (Histogram::new(), Histogram::new());
        a.record(1.0);
        b.record(100.0);
        let before = a.snapshot();
        a.record(3.0);
        let delta = a.snapshot().since(&before);
        assert_eq!((delta.count(), delta.sum), (1, 3.0));
        let mut fleet = a.snapshot();
        fleet.merge(&b.snapshot());
        assert_eq!((fleet.count(), fleet.sum), (3, 104.0));
        assert_eq!(fleet.buckets[bucket_index(100.0)], 1);
    }
}
