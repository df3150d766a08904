//! The hot-path cost of recording, our handles beside the peers in one run: `metrics` with
//! metrics-exporter-prometheus as its recorder, the OpenTelemetry SDK meter (with a reader, so
//! measurements are aggregated), and hdrhistogram.
//!
//! Run with: `cargo bench -p gm-benches --bench telemetry`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gm_telemetry::{Counter, Gauge, Histogram, TelemetryRecorder};

fn prometheus() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
}

fn otel_meter() -> (
    opentelemetry_sdk::metrics::SdkMeterProvider,
    opentelemetry::metrics::Meter,
) {
    use opentelemetry::metrics::MeterProvider;
    let reader = opentelemetry_sdk::metrics::ManualReader::builder().build();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let meter = provider.meter("bench");
    (provider, meter)
}

/// Times `iters` calls of `f` on this thread while another thread calls `other` in a loop.
fn contended(iters: u64, f: impl Fn(), other: impl Fn() + Send + Sync + 'static) -> Duration {
    let stop = Arc::new(AtomicBool::new(false));
    let other = Arc::new(other);
    let t = {
        let (stop, other) = (stop.clone(), other.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    other();
                }
            }
        })
    };
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    elapsed
}

/// The two `metrics` recorders compared: ours and metrics-exporter-prometheus's, by the names
/// the bench ids use.
fn recorders<'a>(
    ours: &'a TelemetryRecorder,
    prom: &'a metrics_exporter_prometheus::PrometheusRecorder,
) -> [(&'static str, &'a dyn metrics::Recorder); 2] {
    [("ours", ours), ("prometheus", prom)]
}

fn counters(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry/counter");
    let ours = Counter::new();
    let local = ours.local();
    g.bench_function("ours_local", |b| b.iter(|| local.increment(black_box(1))));
    g.bench_function("ours_shared", |b| b.iter(|| ours.increment(black_box(1))));
    let shared = ours.clone();
    g.bench_function("ours_shared_contended", |b| {
        b.iter_custom(|iters| {
            let other = shared.clone();
            contended(
                iters,
                || ours.increment(black_box(1)),
                move || other.increment(1),
            )
        })
    });
    let (ours_rec, prom) = (TelemetryRecorder::default(), prometheus());
    for (name, rec) in recorders(&ours_rec, &prom) {
        let handle = metrics::with_local_recorder(rec, || metrics::counter!("bench_total"));
        g.bench_function(format!("metrics_{name}_handle"), |b| {
            b.iter(|| handle.increment(black_box(1)))
        });
        g.bench_function(format!("metrics_{name}_macro_label"), |b| {
            metrics::with_local_recorder(rec, || {
                b.iter(|| {
                    metrics::counter!("bench_labelled_total", "server" => "eu-1").increment(1)
                })
            })
        });
    }
    let (_provider, meter) = otel_meter();
    let otel = meter.u64_counter("bench_total").build();
    g.bench_function("otel_sdk_add", |b| b.iter(|| otel.add(black_box(1), &[])));
    g.finish();
}

fn gauges(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry/gauge");
    let ours = Gauge::new();
    g.bench_function("ours_set", |b| b.iter(|| ours.set(black_box(12.0))));
    let shared = ours.clone();
    g.bench_function("ours_set_contended", |b| {
        b.iter_custom(|iters| {
            let other = shared.clone();
            contended(iters, || ours.set(black_box(12.0)), move || other.set(13.0))
        })
    });
    let (ours_rec, prom) = (TelemetryRecorder::default(), prometheus());
    for (name, rec) in recorders(&ours_rec, &prom) {
        let handle = metrics::with_local_recorder(rec, || metrics::gauge!("bench_gauge"));
        g.bench_function(format!("metrics_{name}_handle"), |b| {
            b.iter(|| handle.set(black_box(12.0)))
        });
        g.bench_function(format!("metrics_{name}_macro_label"), |b| {
            metrics::with_local_recorder(rec, || {
                b.iter(|| metrics::gauge!("bench_gauge", "server" => "eu-1").set(black_box(12.0)))
            })
        });
    }
    let (_provider, meter) = otel_meter();
    let otel = meter.f64_gauge("bench_gauge").build();
    g.bench_function("otel_sdk_record", |b| {
        b.iter(|| otel.record(black_box(12.0), &[]))
    });
    g.finish();
}

fn histograms(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry/histogram");
    // A spread of values, so the bucket varies as it does for tick durations.
    let values: Vec<f64> = (0..1024)
        .map(|i| 0.010 + (i % 97) as f64 * 0.0003)
        .collect();
    let mut i = 0usize;
    let mut next = move || {
        i = (i + 1) & 1023;
        values[i]
    };
    let ours = Histogram::new();
    let local = ours.local();
    g.bench_function("ours_local", |b| b.iter(|| local.record(black_box(next()))));
    g.bench_function("ours_shared", |b| b.iter(|| ours.record(black_box(next()))));
    let shared = ours.clone();
    g.bench_function("ours_shared_contended", |b| {
        b.iter_custom(|iters| {
            let other = shared.clone();
            contended(
                iters,
                || ours.record(black_box(0.016)),
                move || other.record(0.017),
            )
        })
    });
    let (ours_rec, prom) = (TelemetryRecorder::default(), prometheus());
    for (name, rec) in recorders(&ours_rec, &prom) {
        let handle = metrics::with_local_recorder(rec, || metrics::histogram!("bench_seconds"));
        g.bench_function(format!("metrics_{name}_handle"), |b| {
            b.iter(|| handle.record(black_box(next())))
        });
        g.bench_function(format!("metrics_{name}_macro_label"), |b| {
            metrics::with_local_recorder(rec, || {
                b.iter(|| {
                    metrics::histogram!("bench_seconds", "server" => "eu-1")
                        .record(black_box(next()))
                })
            })
        });
    }
    let (_provider, meter) = otel_meter();
    let otel = meter.f64_histogram("bench_seconds").build();
    g.bench_function("otel_sdk_record", |b| {
        b.iter(|| otel.record(black_box(next()), &[]))
    });
    let mut hdr = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    g.bench_function("hdrhistogram_record", |b| {
        b.iter(|| hdr.saturating_record(black_box((next() * 1e6) as u64)))
    });
    g.finish();
}

fn events(c: &mut Criterion) {
    use gm_telemetry::event::{Event, ring};
    let mut g = c.benchmark_group("telemetry/event");
    let (mut writer, mut reader) = ring(4096);
    writer.set_time(1);
    let ev = Event {
        kind: 7,
        tag: 1,
        at: 0,
        fields: [42, 1000],
    };
    // One emit and one read per iteration, so the ring never fills (the peer's measure too).
    g.bench_function("ours_emit_then_read", |b| {
        b.iter(|| {
            writer.emit(black_box(ev));
            reader.drain(|e| {
                black_box(e);
            })
        })
    });
    let q = crossbeam_queue::ArrayQueue::<Event>::new(4096);
    g.bench_function("crossbeam_array_queue_push_pop", |b| {
        b.iter(|| {
            let _ = q.push(black_box(ev));
            black_box(q.pop())
        })
    });
    g.finish();
}

criterion_group!(benches, counters, gauges, histograms, events);
criterion_main!(benches);
