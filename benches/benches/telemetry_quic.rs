//! Telemetry throughput over one QUIC connection, end to end: a game thread emits 32-byte
//! events as fast as the ring has room for them, the SDK drains its ring and ships batches on the telemetry
//! stream, and gm-server decodes, counts and stores them (SQLite). Reports events per second
//! received by gm-server, stored, and dropped by the SDK's full ring.
//!
//! Run with: `cargo bench -p gm-benches --bench telemetry_quic`
//! (`GM_BENCH_SECONDS`, default 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use gm_sdk::gm_telemetry::event::Event;
use gm_sdk::{GmClient, TelemetryConfig};
use gm_server::{Config, RunningServer, keys, store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let seconds: u64 = std::env::var("GM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let config = Config::ephemeral(dir.path());
        let server = RunningServer::start(config).await.unwrap();
        let key = keys::generate();
        server
            .store()
            .create_key("bench", &key.hash, &key.hint, store::now_ms())
            .await
            .unwrap();
        // The SDK's driver on a thread of its own, as in a game.
        let client = GmClient::builder(server.quic_addr().to_string())
            .pin_fingerprint(server.fingerprint())
            .key(&key.secret)
            .server_id("bench")
            .telemetry(TelemetryConfig {
                event_ring_capacity: 1 << 20,
                event_flush: Duration::from_millis(1),
                ..TelemetryConfig::default()
            })
            .event_kind(1, "bench")
            .spawn()
            .unwrap();
        while !client.is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (client, stop) = (client.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut w = client.event_writer();
                w.set_time(gm_sdk::unix_ms());
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    // Emit only what fits: the point is the shipping rate, not a drop rate.
                    if w.free() < 4096 {
                        std::thread::sleep(Duration::from_micros(100));
                        continue;
                    }
                    for i in 0..4096u64 {
                        w.emit(Event {
                            kind: 1,
                            fields: [i, n],
                            ..Event::default()
                        });
                    }
                    n += 4096;
                    if n.is_multiple_of(1 << 20) {
                        w.set_time(gm_sdk::unix_ms());
                    }
                }
                n
            })
        };
        let stats = server.gateway().telemetry().stats();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (r0, s0, d0) = (
            stats.events.load(Relaxed),
            stats.events_stored.load(Relaxed),
            client.stats().events_dropped,
        );
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let secs = t0.elapsed().as_secs_f64();
        let (r1, s1, d1) = (
            stats.events.load(Relaxed),
            stats.events_stored.load(Relaxed),
            client.stats().events_dropped,
        );
        stop.store(true, Relaxed);
        let emitted = producer.join().unwrap();
        let rate = |a: u64, b: u64| (b - a) as f64 / secs / 1e6;
        println!(
            "telemetry over one QUIC connection, {secs:.1} s: received {:.2} M events/s ({:.0} MiB/s of records), stored {:.2} M/s, dropped by the SDK's full ring {:.2} M/s (emitted {} in all)",
            rate(r0, r1),
            rate(r0, r1) * 32.0 * 1e6 / (1 << 20) as f64,
            rate(s0, s1),
            rate(d0, d1),
            emitted
        );
        client.shutdown();
        server.shutdown().await;
    });
}
