//! A game keeps running while gm-server is down: its ticks cost what they cost before, the
//! SDK's memory stays within its bound, and once gm-server is back the drop counters say
//! exactly what was lost and everything else arrives.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use common::{start_server_with, test_config, wait_for};
use gm_sdk::TelemetryConfig;
use gm_sdk::gm_telemetry::event::Event;
use gm_server::RunningServer;
use metrics::Key;

struct Counting;

/// Bytes allocated and not yet freed, over the whole process.
static LIVE: AtomicI64 = AtomicI64::new(0);

// The test's own allocator: keeps a running total of live bytes, then defers to the system.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RING: usize = 4096;
const EVENTS_PER_TICK: u64 = 100;

/// What the game loop does, set by the test.
const QUIET: u8 = 0;
const BUSY: u8 = 1;
const STOP: u8 = 2;

#[derive(Default)]
struct Game {
    phase: AtomicU8,
    /// Tick work durations (ns) are recorded while this is set, into `samples`.
    measuring: AtomicBool,
    samples: parking_lot::Mutex<Vec<u64>>,
    events: AtomicU64,
    kills: AtomicU64,
    /// Ticks finished.
    ticks: AtomicU64,
}

impl Game {
    /// Switches the loop to `phase` and returns once a tick has begun after the switch, so
    /// the figures read afterwards include every tick of the previous phase.
    async fn switch(&self, phase: u8) {
        self.phase.store(phase, SeqCst);
        let seen = self.ticks.load(SeqCst);
        while self.ticks.load(SeqCst) < seen + 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A gm-server with a key, and a game connected to it with these telemetry settings; the
/// data directory outlives the server, for a restart.
async fn connected_game(
    telemetry: TelemetryConfig,
) -> (std::path::PathBuf, common::TestServer, gm_sdk::GmClient) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let t = start_server_with(dir, |_| {}).await;
    let key = t.create_key("eu").await;
    let client = t
        .client(&key, "eu-1")
        .telemetry(telemetry)
        .event_kind(1, "ticked")
        .spawn()
        .unwrap();
    wait_for("the first session", Duration::from_secs(10), || {
        client.is_connected()
    })
    .await;
    (data, t, client)
}

/// gm-server again on the same address and data, once `client` has reconnected to it.
async fn restart(
    data: &std::path::Path,
    quic_addr: std::net::SocketAddr,
    client: &gm_sdk::GmClient,
) -> RunningServer {
    let mut config = test_config(data);
    config.quic.listen = quic_addr;
    let server = RunningServer::start(config).await.unwrap();
    wait_for("the SDK to reconnect", Duration::from_secs(20), || {
        client.is_connected()
    })
    .await;
    server
}

fn percentile(mut v: Vec<u64>, q: f64) -> Duration {
    v.sort_unstable();
    Duration::from_nanos(v[((v.len() - 1) as f64 * q) as usize])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_game_runs_on_while_gm_server_is_down_and_reports_what_it_dropped() {
    let (data, t, client) = connected_game(TelemetryConfig {
        interval: Duration::from_millis(100),
        event_flush: Duration::from_millis(10),
        event_ring_capacity: RING,
        ..TelemetryConfig::default()
    })
    .await;
    let quic_addr = t.server.quic_addr();

    // The game loop: a thread of its own, ticking about every millisecond.
    let game = Arc::new(Game::default());
    let loop_thread = {
        let (game, client) = (game.clone(), client.clone());
        std::thread::spawn(move || {
            let kills = client
                .metrics()
                .counter(&Key::from_static_name("kills_total"));
            let mut events = client.event_writer();
            loop {
                let phase = game.phase.load(SeqCst);
                if phase == STOP {
                    break;
                }
                let start = Instant::now();
                events.set_time(gm_sdk::unix_ms());
                if phase == BUSY {
                    for i in 0..EVENTS_PER_TICK {
                        events.emit(Event {
                            kind: 1,
                            fields: [i, 0],
                            ..Event::default()
                        });
                    }
                    kills.increment(1);
                    game.events.fetch_add(EVENTS_PER_TICK, SeqCst);
                    game.kills.fetch_add(1, SeqCst);
                }
                while let Some(cmd) = client.poll_command() {
                    client.reply(&cmd, gm_sdk::CommandOutcome::ok("ok"));
                }
                let took = start.elapsed();
                client.record_tick(took);
                if game.measuring.load(SeqCst) {
                    game.samples.lock().push(took.as_nanos() as u64);
                }
                game.ticks.fetch_add(1, SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    // Connected: the ticks' cost with gm-server up.
    game.phase.store(BUSY, SeqCst);
    game.measuring.store(true, SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    game.measuring.store(false, SeqCst);
    let connected: Vec<u64> = std::mem::take(&mut *game.samples.lock());
    game.switch(QUIET).await;

    // Everything so far reaches gm-server before it stops, so what is missing later can
    // only have been lost during the outage.
    let store = t.server.store().clone();
    let fleet = t.server.gateway().telemetry().fleet();
    let (sent, dropped_before) = (game.events.load(SeqCst), client.stats().events_dropped);
    let mut stored = 0;
    for _ in 0..1000 {
        stored = store.stored_event_count().await.unwrap();
        if stored as u64 == sent - dropped_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored as u64, sent - dropped_before);
    let kills_before = game.kills.load(SeqCst);
    wait_for(
        "every kill to reach gm-server",
        Duration::from_secs(10),
        || fleet.value("kills_total", &[("server", "eu-1")]) == Some(kills_before as f64),
    )
    .await;

    // gm-server goes away.
    let common::TestServer { server, dir } = t;
    server.shutdown().await;
    wait_for("the SDK to notice", Duration::from_secs(10), || {
        !client.is_connected()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let live_before = LIVE.load(SeqCst);
    game.phase.store(BUSY, SeqCst);
    game.measuring.store(true, SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    game.measuring.store(false, SeqCst);
    game.switch(QUIET).await;
    let live_growth = LIVE.load(SeqCst) - live_before;
    let outage: Vec<u64> = std::mem::take(&mut *game.samples.lock());
    let emitted_in_outage = game.events.load(SeqCst) - sent;
    let kills_in_outage = game.kills.load(SeqCst) - kills_before;

    // The ticks did not wait on the network: a blocked tick would take a connect timeout
    // (seconds); the bounds below leave room only for scheduling noise.
    let (c50, o50) = (
        percentile(connected.clone(), 0.5),
        percentile(outage.clone(), 0.5),
    );
    let o_max = percentile(outage.clone(), 1.0);
    eprintln!(
        "tick work: connected p50 {c50:?} p99 {:?} ({} ticks); gm-server down p50 {o50:?} p99 {:?} max {o_max:?} ({} ticks)",
        percentile(connected.clone(), 0.99),
        connected.len(),
        percentile(outage.clone(), 0.99),
        outage.len()
    );
    assert!(
        o50 <= c50 * 3 + Duration::from_micros(20),
        "p50 {c50:?} → {o50:?}"
    );
    assert!(o_max < Duration::from_millis(250), "a tick took {o_max:?}");
    // Memory: the events that could not be sent were dropped, not buffered.
    let bound = 1 << 20;
    eprintln!(
        "live heap growth while down: {live_growth} bytes; {emitted_in_outage} events emitted ({} bytes)",
        emitted_in_outage * 32
    );
    assert!(
        emitted_in_outage * 32 > 3 * bound as u64,
        "the test must emit far more than the bound"
    );
    assert!(live_growth < bound, "the SDK grew by {live_growth} bytes");
    let dropped_after = client.stats().events_dropped;
    assert!(
        dropped_after - dropped_before >= emitted_in_outage - RING as u64,
        "a full ring drops: {dropped_before} → {dropped_after} of {emitted_in_outage}"
    );

    // gm-server comes back on the same address, with the same data.
    let server = restart(&data, quic_addr, &client).await;
    let fleet = server.gateway().telemetry().fleet();
    let dropped = (dropped_after - dropped_before) as f64;
    wait_for(
        "the drop count to be reported after the reconnect",
        Duration::from_secs(10),
        || {
            fleet.value(
                "gm_sdk_dropped_total",
                &[("server", "eu-1"), ("what", "events")],
            ) == Some(dropped)
        },
    )
    .await;
    // Counters lose nothing: the first batch after the reconnect carries the outage's kills.
    wait_for("the outage's kills", Duration::from_secs(10), || {
        fleet.value("kills_total", &[("server", "eu-1")]) == Some(kills_in_outage as f64)
    })
    .await;
    // Events: every one was either stored or counted as dropped.
    let total = game.events.load(SeqCst);
    let store = server.store().clone();
    let mut stored = 0;
    for _ in 0..1000 {
        stored = store.stored_event_count().await.unwrap() as u64;
        if stored == total - dropped_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored, total - dropped_after, "stored + dropped = emitted");

    game.phase.store(STOP, SeqCst);
    loop_thread.join().unwrap();
    client.shutdown();
    server.shutdown().await;
    drop(dir);
}

/// gm-server stops and comes back while a game is emitting: frames in flight at the stop
/// are sent again and stored once, so every event is either stored or counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_flight_when_gm_server_stops_are_neither_lost_nor_stored_twice() {
    let (data, t, client) = connected_game(TelemetryConfig {
        interval: Duration::from_millis(100),
        event_flush: Duration::from_millis(5),
        ..TelemetryConfig::default()
    })
    .await;
    let quic_addr = t.server.quic_addr();
    let emitted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let game = {
        let (client, emitted, stop) = (client.clone(), emitted.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut events = client.event_writer();
            while !stop.load(SeqCst) {
                events.set_time(gm_sdk::unix_ms());
                for i in 0..200 {
                    events.emit(Event {
                        kind: 1,
                        fields: [i, 0],
                        ..Event::default()
                    });
                }
                emitted.fetch_add(200, SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Mid-burst: frames are in QUIC's buffers, in gm-server's accumulator and store queue.
    let common::TestServer { server, dir } = t;
    let first_run = server.store().clone();
    server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = restart(&data, quic_addr, &client).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, SeqCst);
    game.join().unwrap();
    drop(first_run);

    let total = emitted.load(SeqCst);
    let store = server.store().clone();
    let mut stored = 0;
    for _ in 0..1500 {
        let dropped = client.stats().events_dropped;
        stored = store.stored_event_count().await.unwrap() as u64;
        if stored + dropped == total && client.stats().events_queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dropped = client.stats().events_dropped;
    eprintln!(
        "emitted {total}, stored {stored}, dropped {dropped}, frames sent again and skipped {}",
        server
            .gateway()
            .telemetry()
            .stats()
            .duplicate_frames
            .load(SeqCst)
    );
    assert_eq!(stored + dropped, total, "stored + dropped = emitted");
    client.shutdown();
    server.shutdown().await;
    drop(dir);
}
