//! Telemetry throughput over one QUIC connection, end to end (criterion): a game thread emits
//! 32-byte events as fast as its ring has room, the SDK (driver on a thread of its own) ships
//! them on the telemetry stream, and gm-server decodes, counts and stores them in SQLite,
//! acknowledging each chunk once stored. One iteration is 1,000,000 events emitted and
//! received by gm-server; criterion reports events per second.
//!
//! Run with: `cargo bench -p gm-benches --bench telemetry_quic`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gm_sdk::TelemetryConfig;
use gm_sdk::gm_telemetry::event::Event;
use gm_server::Config;

mod support;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS_PER_ITER: u64 = 1_000_000;

fn quic(c: &mut Criterion) {
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = rt.block_on(async {
        let (server, key) = support::server_with_key(Config::ephemeral(dir.path())).await;
        let client = support::client(&server, &key, "bench")
            .telemetry(TelemetryConfig {
                event_ring_capacity: 1 << 20,
                event_flush: Duration::from_millis(1),
                ..TelemetryConfig::default()
            })
            .event_kind(1, "bench")
            .spawn()
            .unwrap();
        support::connected(&client).await;
        (server, client)
    });
    // The game thread: emits when asked, as fast as the ring has room.
    let (go, jobs) = std::sync::mpsc::channel::<u64>();
    let producer = {
        let client = client.clone();
        std::thread::spawn(move || {
            let mut w = client.event_writer();
            for n in jobs {
                w.set_time(gm_sdk::unix_ms());
                let mut left = n;
                while left > 0 {
                    if w.free() < 4096 {
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    let batch = left.min(4096);
                    for i in 0..batch {
                        w.emit(Event {
                            kind: 1,
                            fields: [i, left],
                            ..Event::default()
                        });
                    }
                    left -= batch;
                }
            }
        })
    };
    let stats = server.gateway().telemetry().stats();
    let mut g = c.benchmark_group("telemetry_quic");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS_PER_ITER));
    g.bench_function("events_one_connection_into_sqlite", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let target = stats.events.load(Relaxed) + EVENTS_PER_ITER;
                go.send(EVENTS_PER_ITER).unwrap();
                while stats.events.load(Relaxed) < target {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            start.elapsed()
        })
    });
    g.finish();
    let dropped = client.stats().events_dropped;
    let stored = stats.events_stored.load(Relaxed);
    println!("events stored {stored}, dropped by the SDK {dropped}");
    drop(go);
    producer.join().unwrap();
    client.shutdown();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, quic);
criterion_main!(benches);
