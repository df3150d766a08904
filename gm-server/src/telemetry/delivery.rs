//! Which telemetry frames of each SDK instance are done (metrics applied, events stored), so
//! that frames sent again after a reconnect are skipped and acknowledgements can be sent.
//! Sans-IO.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;

/// SDK instances remembered; past it the one seen longest ago is forgotten (its frames, if it
/// ever sends again, are taken as new).
const MAX_INSTANCES: usize = 4096;

/// Frames above the contiguous mark remembered per instance (frames in flight are few).
const MAX_ABOVE: usize = 4096;

#[derive(Debug, Default)]
struct Done {
    /// Every frame up to this one is done.
    upto: u64,
    /// Frames done above `upto`.
    above: BTreeSet<u64>,
    last_seen: u64,
}

/// Done frames per (game server, SDK instance), and a clock for forgetting the oldest.
type Table = (HashMap<(String, u64), Done>, u64);

/// Done frames per (game server, SDK instance).
#[derive(Debug, Default)]
pub struct Delivery {
    inner: Mutex<Table>,
}

impl Delivery {
    /// Whether frame `seq` of this instance is done already.
    pub fn is_done(&self, server: &str, instance: u64, seq: u64) -> bool {
        let inner = self.inner.lock();
        inner
            .0
            .get(&(server.to_string(), instance))
            .is_some_and(|d| seq <= d.upto || d.above.contains(&seq))
    }

    /// Marks frames done.
    pub fn mark(&self, server: &str, instance: u64, seqs: impl IntoIterator<Item = u64>) {
        let mut inner = self.inner.lock();
        let (map, clock) = &mut *inner;
        *clock += 1;
        let now = *clock;
        if map.len() >= MAX_INSTANCES
            && !map.contains_key(&(server.to_string(), instance))
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, d)| d.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let d = map.entry((server.to_string(), instance)).or_default();
        d.last_seen = now;
        for seq in seqs {
            if seq > d.upto {
                d.above.insert(seq);
            }
        }
        while d.above.first() == Some(&(d.upto + 1)) {
            d.above.pop_first();
            d.upto += 1;
        }
        // A frame that never came (forgotten by the SDK past its bound) must not hold the
        // mark back for good.
        while d.above.len() > MAX_ABOVE {
            let first = d.above.pop_first().expect("not empty");
            d.upto = first;
            while d.above.first() == Some(&(d.upto + 1)) {
                d.above.pop_first();
                d.upto += 1;
            }
        }
    }

    /// Marks every frame up to `seq` done (what the store says was stored before a restart).
    pub fn mark_upto(&self, server: &str, instance: u64, seq: u64) {
        let mut inner = self.inner.lock();
        let d = inner.0.entry((server.to_string(), instance)).or_default();
        if seq > d.upto {
            d.upto = seq;
            d.above.retain(|s| *s > seq);
            while d.above.first() == Some(&(d.upto + 1)) {
                d.above.pop_first();
                d.upto += 1;
            }
        }
    }

    /// Every frame up to this one is done (0: none).
    pub fn upto(&self, server: &str, instance: u64) -> u64 {
        self.inner
            .lock()
            .0
            .get(&(server.to_string(), instance))
            .map_or(0, |d| d.upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_moves_only_over_contiguous_frames() {
        let d = Delivery::default();
        d.mark("eu-1", 7, [1, 2, 4]);
        assert_eq!(d.upto("eu-1", 7), 2);
        assert!(d.is_done("eu-1", 7, 4));
        assert!(!d.is_done("eu-1", 7, 3));
        d.mark("eu-1", 7, [3]);
        assert_eq!(d.upto("eu-1", 7), 4);
        assert_eq!(d.upto("eu-1", 8), 0, "instances apart");
        assert_eq!(d.upto("eu-2", 7), 0, "servers apart");
    }

    #[test]
    fn a_frame_that_never_comes_does_not_hold_the_mark_forever() {
        let d = Delivery::default();
        d.mark("eu-1", 1, (2..=(MAX_ABOVE as u64 + 2)).collect::<Vec<_>>());
        assert!(d.upto("eu-1", 1) > 1);
    }
}
