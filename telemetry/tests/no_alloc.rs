//! Recording through any handle allocates nothing (a counting global allocator checks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gm_telemetry::event::{Event, ring};
use gm_telemetry::{Counter, Gauge, Histogram};

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on threads of their own, side by side).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// The test's own allocator: counts, then defers to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
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
    let before = allocations();
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
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "recording allocated {allocated} times");
    assert_eq!(counter.get(), 20_000);
    assert_eq!(histogram.snapshot().count(), 20_000);
    assert_eq!((reader.len(), reader.dropped()), (1024, 10_000 - 1024));
    // The counter does count: reading a snapshot allocates its bucket vector.
    let before = allocations();
    let _ = histogram.snapshot();
    assert!(allocations() > before);
}

#[test]
fn the_metrics_macros_through_our_recorder_do_not_allocate() {
    let recorder = gm_telemetry::TelemetryRecorder::default();
    metrics::with_local_recorder(&recorder, || {
        let record = |i: u64| {
            metrics::counter!("kills_total", "weapon" => "bow").increment(1);
            metrics::gauge!("players_online").set(i as f64);
            metrics::histogram!("tick_seconds", "zone" => "forest").record(i as f64 * 1e-3);
        };
        // The first call creates the series (that allocates, once).
        record(0);
        let before = allocations();
        for i in 0..10_000 {
            record(i);
        }
        let allocated = allocations() - before;
        assert_eq!(allocated, 0, "the macros allocated {allocated} times");
    });
    let r = recorder.registry();
    assert_eq!(
        r.counter_value("kills_total", &[("weapon", "bow")]),
        Some(10_001)
    );
    assert_eq!(
        r.histogram_snapshot("tick_seconds", &[("zone", "forest")])
            .unwrap()
            .count(),
        10_001
    );
}
