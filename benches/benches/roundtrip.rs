//! The command round trip over loopback QUIC: gm-server's gateway → game server (answered by an
//! SDK callback the moment it arrives) → reply; beside a raw quinn echo of 64 bytes on one
//! stream, the floor for any protocol on this machine.
//!
//! Run with: `cargo bench -p gm-benches --bench roundtrip`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gm_sdk::CommandOutcome;
use gm_server::Config;

mod support;
use support::runtime;

fn gm_roundtrip(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = rt.block_on(async {
        let (server, key) = support::server_with_key(Config::ephemeral(dir.path())).await;
        let (client, driver) = support::client(&server, &key, "bench-1")
            .on_command(|cmd| Some(CommandOutcome::ok(cmd.args.join(" "))))
            .build()
            .unwrap();
        tokio::spawn(driver);
        support::connected(&client).await;
        (server, client)
    });
    let gateway = server.gateway().clone();
    let mut group = c.benchmark_group("roundtrip");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("gm_command_callback", |b| {
        b.to_async(&rt).iter(|| async {
            gateway
                .send_command("bench-1", "echo", vec!["ping".into()], "bench")
                .await
                .unwrap()
        })
    });
    group.bench_function("gm_status_builtin", |b| {
        b.to_async(&rt).iter(|| async {
            gateway
                .send_command("bench-1", "status", vec![], "bench")
                .await
                .unwrap()
        })
    });

    // Raw quinn: 64-byte request, 64-byte response on one long-lived bidirectional stream.
    // An uncontended async mutex (tens of ns) lets the closure reuse the one stream.
    let pair = Arc::new(tokio::sync::Mutex::new(
        rt.block_on(support::raw_quinn_pair(false)),
    ));
    group.bench_function("raw_quinn_64b_echo", |b| {
        b.to_async(&rt).iter(|| {
            let pair = pair.clone();
            async move {
                let mut guard = pair.lock().await;
                let (send, recv) = &mut *guard;
                let msg = [7u8; 64];
                send.write_all(&msg).await.unwrap();
                let mut back = [0u8; 64];
                recv.read_exact(&mut back).await.unwrap();
                back
            }
        })
    });
    group.finish();
    client.shutdown();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, gm_roundtrip);
criterion_main!(benches);
