//! Recording through any handle allocates nothing (a counting global allocator checks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use gm_telemetry::event::{Event, ring};
use gm_telemetry::{Counter, Gauge, Histogram};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// The test's own allocator: counts, then defers to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn recording_does_not_allocate() {
    let (counter, gauge, histogram) = (Counter::new(), Gauge::new(), Histogram::new());
    let (local_counter, local_histogram) = (counter.local(), histogram.local());
    let (mut events, reader) = ring(1024);
    let before = ALLOCATIONS.load(SeqCst);
    for i in 0..10_000 {
        counter.increment(1);
        local_counter.increment(1);
        gauge.set(i as f64);
        gauge.increment(0.5);
        histogram.record(i as f64 * 0.001);
        local_histogram.record(i as f64);
        // Past 1,024 the ring is full: dropping and counting must not allocate either.
        events.set_time(i);
        events.emit(Event {
            kind: 1,
            ..Event::default()
        });
    }
    let allocated = ALLOCATIONS.load(SeqCst) - before;
    assert_eq!(allocated, 0, "recording allocated {allocated} times");
    assert_eq!(counter.get(), 20_000);
    assert_eq!(histogram.snapshot().count(), 20_000);
    assert_eq!((reader.len(), reader.dropped()), (1024, 10_000 - 1024));
    // The counter does count: reading a snapshot allocates its bucket vector.
    let before = ALLOCATIONS.load(SeqCst);
    let _ = histogram.snapshot();
    assert!(ALLOCATIONS.load(SeqCst) > before);
}
