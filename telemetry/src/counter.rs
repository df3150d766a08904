//! Counters: monotonically increasing totals.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// A counter any number of threads may increment at once; clones share the total.
///
/// Each [`increment`](Counter::increment) is one atomic add. A thread that increments a
/// counter on its hot path (the game thread, say) should take a [`LocalCounter`] from it
/// instead, which adds without a locked instruction.
///
/// ```
/// let hits = gm_telemetry::Counter::new();
/// hits.increment(2);
/// let local = hits.local();
/// local.increment(3);
/// assert_eq!(hits.get(), 5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Counter {
    inner: Arc<CounterInner>,
}

#[derive(Debug, Default)]
pub(crate) struct CounterInner {
    shared: AtomicU64,
    /// One cell per [`LocalCounter`], each with a single writer; read when the total is.
    locals: Mutex<Vec<Arc<AtomicU64>>>,
}

impl Counter {
    /// A new counter at zero.
    pub fn new() -> Counter {
        Counter::default()
    }

    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        self.inner.shared.fetch_add(n, Relaxed);
    }

    /// The total so far, over this handle, its clones and its local handles.
    pub fn get(&self) -> u64 {
        let locals = self.inner.locals.lock();
        locals
            .iter()
            .fold(self.inner.shared.load(Relaxed), |sum, cell| {
                sum.wrapping_add(cell.load(Relaxed))
            })
    }

    /// This counter as a `metrics` handle (what [`crate::TelemetryRecorder`] hands out).
    pub(crate) fn to_metrics(&self) -> metrics::Counter {
        metrics::Counter::from_arc(self.inner.clone())
    }

    /// A handle for one thread's hot path, adding into a cell of its own (allocated here,
    /// once; its counts stay in the total after it is dropped).
    pub fn local(&self) -> LocalCounter {
        let cell = Arc::new(AtomicU64::new(0));
        self.inner.locals.lock().push(cell.clone());
        LocalCounter {
            cell,
            _single_writer: PhantomData,
        }
    }
}

impl metrics::CounterFn for CounterInner {
    fn increment(&self, value: u64) {
        self.shared.fetch_add(value, Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.shared.fetch_max(value, Relaxed);
    }
}

/// A single-writer handle to a [`Counter`]: it may move between threads but not be shared
/// (it is `Send`, not `Sync`, and not `Clone`), so its increments need no locked instruction.
#[derive(Debug)]
pub struct LocalCounter {
    cell: Arc<AtomicU64>,
    _single_writer: PhantomData<Cell<()>>,
}

impl LocalCounter {
    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        // Only this handle writes the cell, so a plain load and store cannot lose an update;
        // readers see either value.
        self.cell
            .store(self.cell.load(Relaxed).wrapping_add(n), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_increments_from_many_threads_all_count() {
        let c = Counter::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let c = c.clone();
                s.spawn(move || {
                    for _ in 0..100_000 {
                        c.increment(1);
                    }
                });
            }
        });
        assert_eq!(c.get(), 400_000);
    }

    #[test]
    fn local_handles_on_their_own_threads_add_to_the_total() {
        let c = Counter::new();
        std::thread::scope(|s| {
            for _ in 0..3 {
                let local = c.local();
                s.spawn(move || {
                    for _ in 0..50_000 {
                        local.increment(2);
                    }
                });
            }
            for _ in 0..10 {
                c.increment(1);
            }
        });
        assert_eq!(c.get(), 300_010);
    }
}
