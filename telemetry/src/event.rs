//! Structured events: small fixed-layout records written into a bounded ring by one thread and
//! drained by another. When the ring is full the event is dropped and the drop counted; the
//! writer never waits and never allocates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One event: what happened (`kind`, an id the game assigns to each event type), when (in the
/// writer's clock, see [`EventWriter::set_time`]), and three numbers whose meaning the kind
/// gives (a player id, an item id, an amount, …). 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Event {
    /// Event type, from the game's own table of kinds.
    pub kind: u32,
    /// Up to the kind: flags, a small enum.
    pub tag: u32,
    /// When, as last set on the writer (for example Unix milliseconds or a tick number).
    pub at: u64,
    /// Payload.
    pub fields: [u64; 2],
}

/// A ring of `capacity` events: the writing half for the thread that emits, the reading half
/// for the thread that ships.
///
/// ```
/// use gm_telemetry::event::{Event, ring};
///
/// let (mut writer, mut reader) = ring(2);
/// writer.set_time(1_000);
/// for player in [7, 8, 9] {
///     writer.emit(Event { kind: 1, fields: [player, 0], ..Event::default() });
/// }
/// let mut seen = Vec::new();
/// reader.drain(|e| seen.push((e.at, e.fields[0])));
/// assert_eq!(seen, [(1_000, 7), (1_000, 8)]);
/// assert_eq!(reader.dropped(), 1, "the third found the ring full");
/// ```
pub fn ring(capacity: usize) -> (EventWriter, EventReader) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        EventWriter {
            producer,
            now: 0,
            dropped: dropped.clone(),
        },
        EventReader { consumer, dropped },
    )
}

/// The emitting half of a [`ring`]: one writer (emitting takes `&mut self`), which may move
/// between threads.
pub struct EventWriter {
    producer: rtrb::Producer<Event>,
    now: u64,
    /// Written only by this half (a plain load and store), read by the reader.
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("now", &self.now)
            .field("dropped", &self.dropped.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl EventWriter {
    /// Sets the time stamped on the events emitted from now on (once per tick, say: reading a
    /// clock per event would cost more than the event).
    pub fn set_time(&mut self, now: u64) {
        self.now = now;
    }

    /// Free slots in the ring now: a writer that would rather wait than drop can check it
    /// (one atomic load).
    pub fn free(&self) -> usize {
        self.producer.slots()
    }

    /// Emits `event`, stamped with the writer's time. If the ring is full the event is
    /// dropped and counted.
    #[inline]
    pub fn emit(&mut self, mut event: Event) {
        event.at = self.now;
        if self.producer.push(event).is_err() {
            self.dropped.store(self.dropped.load(Relaxed) + 1, Relaxed);
        }
    }
}

/// The reading half of a [`ring`].
pub struct EventReader {
    consumer: rtrb::Consumer<Event>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("queued", &self.consumer.slots())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl EventReader {
    /// Hands every queued event to `f`, oldest first; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(&Event)) -> usize {
        let mut n = 0;
        while let Ok(e) = self.consumer.pop() {
            f(&e);
            n += 1;
        }
        n
    }

    /// Like [`drain`](Self::drain), but stops after `max` events (the rest stay queued).
    pub fn drain_max(&mut self, max: usize, mut f: impl FnMut(&Event)) -> usize {
        let mut n = 0;
        while n < max
            && let Ok(e) = self.consumer.pop()
        {
            f(&e);
            n += 1;
        }
        n
    }

    /// Events queued now.
    pub fn len(&self) -> usize {
        self.consumer.slots()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the writing half has been dropped (nothing more will arrive).
    pub fn is_abandoned(&self) -> bool {
        self.consumer.is_abandoned()
    }

    /// Events dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_threads_in_order_and_overflow_is_counted() {
        let (mut writer, mut reader) = ring(1024);
        let t = std::thread::spawn(move || {
            for i in 0..100_000u64 {
                writer.set_time(i);
                writer.emit(Event {
                    kind: 3,
                    fields: [i, i * 2],
                    ..Event::default()
                });
            }
        });
        let mut next = 0u64;
        let mut received = 0u64;
        while !t.is_finished() || !reader.is_empty() {
            reader.drain(|e| {
                assert!(e.fields[0] >= next, "in order");
                assert_eq!((e.at, e.fields[1]), (e.fields[0], e.fields[0] * 2));
                next = e.fields[0] + 1;
                received += 1;
            });
        }
        t.join().unwrap();
        reader.drain(|_| received += 1);
        assert_eq!(
            received + reader.dropped(),
            100_000,
            "every event arrived or was counted"
        );
    }
}
