//! Gauges: a value that goes up and down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The latest value of something (players online, queue depth); clones share it.
///
/// ```
/// let players = gm_telemetry::Gauge::new();
/// players.set(12.0);
/// players.increment(1.0);
/// assert_eq!(players.get(), 13.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    bits: Arc<GaugeCell>,
}

/// The value's f64 bits.
#[derive(Debug, Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl metrics::GaugeFn for GaugeCell {
    fn increment(&self, delta: f64) {
        add(&self.0, delta);
    }

    fn decrement(&self, delta: f64) {
        add(&self.0, -delta);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Relaxed);
    }
}

fn add(bits: &AtomicU64, delta: f64) {
    let _ = bits.fetch_update(Relaxed, Relaxed, |b| {
        Some((f64::from_bits(b) + delta).to_bits())
    });
}

impl Gauge {
    /// A new gauge at zero.
    pub fn new() -> Gauge {
        Gauge::default()
    }

    /// Sets the value: one store, from any thread.
    #[inline]
    pub fn set(&self, value: f64) {
        self.bits.0.store(value.to_bits(), Relaxed);
    }

    /// Adds `delta` (negative to subtract), correct under contention.
    #[inline]
    pub fn increment(&self, delta: f64) {
        add(&self.bits.0, delta);
    }

    /// Subtracts `delta`.
    #[inline]
    pub fn decrement(&self, delta: f64) {
        self.increment(-delta);
    }

    /// The value now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.0.load(Relaxed))
    }

    /// This gauge as a `metrics` handle.
    pub(crate) fn to_metrics(&self) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.bits.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_increments_and_decrements_balance() {
        let g = Gauge::new();
        g.set(10.0);
        std::thread::scope(|s| {
            for i in 0..4 {
                let g = g.clone();
                s.spawn(move || {
                    for _ in 0..10_000 {
                        if i % 2 == 0 {
                            g.increment(1.0);
                        } else {
                            g.decrement(1.0);
                        }
                    }
                });
            }
        });
        assert_eq!(g.get(), 10.0);
    }
}
