//! Load test of `GET /api/v1/audit` over 1,000,000 audit rows with 100 concurrent HTTPS
//! clients (keep-alive), each sending its next request as soon as the last one answered.
//! Reports client latency and server time (from the `Server-Timing` header) percentiles.
//!
//! Run with: `cargo bench -p gm-benches --bench audit_list`
//! (`GM_BENCH_ROWS`, `GM_BENCH_CLIENTS`, `GM_BENCH_SECS` override 1000000, 100, 20.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use gm_server::audit::{GENESIS, entry_hash};
use gm_server::auth::{Role, secret};
use gm_server::{Config, RunningServer, store};

// The same allocator as the gm-server binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ACTIONS: [&str; 6] = [
    "auth.login",
    "auth.login_failed",
    "player.kick",
    "player.mute",
    "ticket.reply",
    "admin.update",
];

/// Writes `rows` chained audit entries straight into the SQLite file, in big transactions.
async fn seed(db: &std::path::Path, rows: usize) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut prev = GENESIS.to_string();
    let start = Instant::now();
    let mut id = 0usize;
    while id < rows {
        let mut tx = pool.begin().await.unwrap();
        let batch = (rows - id).min(50_000);
        for chunk_start in (0..batch).step_by(500) {
            let n = (batch - chunk_start).min(500);
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (at_ms, actor, actor_role, via, source, action, target, params, result, prev_hash, hash) ",
            );
            let mut rows_vec = Vec::with_capacity(n);
            for k in 0..n {
                let i = id + chunk_start + k;
                let at = 1_700_000_000_000i64 + i as i64 * 1000;
                let actor = format!("gm{}", i % 100);
                let action = ACTIONS[i % ACTIONS.len()];
                let target = format!("player:{}", i % 50_000);
                let params = format!("{{\"reason\":\"seed {i}\"}}");
                let hash = entry_hash(
                    &prev,
                    at,
                    &actor,
                    "game_master",
                    "in_game",
                    "eu-1",
                    action,
                    &target,
                    &params,
                    "ok",
                );
                rows_vec.push((
                    at,
                    actor,
                    action,
                    target,
                    params,
                    prev.clone(),
                    hash.clone(),
                ));
                prev = hash;
            }
            q.push_values(
                rows_vec,
                |mut b, (at, actor, action, target, params, p, h)| {
                    b.push_bind(at)
                        .push_bind(actor)
                        .push_bind("game_master")
                        .push_bind("in_game")
                        .push_bind("eu-1")
                        .push_bind(action)
                        .push_bind(target)
                        .push_bind(params)
                        .push_bind("ok")
                        .push_bind(p)
                        .push_bind(h);
                },
            );
            q.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        id += batch;
    }
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    pool.close().await;
    eprintln!("seeded {rows} audit rows in {:.1?}", start.elapsed());
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rows = env("GM_BENCH_ROWS", 1_000_000);
    let clients = env("GM_BENCH_CLIENTS", 100);
    let secs = env("GM_BENCH_SECS", 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        // Create the schema, then seed behind the server's back, then serve.
        let s = gm_server::Store::open(None, dir.path(), 1).await.unwrap();
        s.close().await;
        seed(&dir.path().join("gm.db"), rows).await;
        let mut config = Config::ephemeral(dir.path());
        config.auth.require_totp_for.clear();
        config.database.max_connections = env("GM_BENCH_POOL", 8) as u32;
        let server = RunningServer::start(config).await.unwrap();
        let store = server.store();
        let admin = store
            .create_admin("bench", Role::SeniorGameMaster.as_str(), "x", false, store::now_ms())
            .await
            .unwrap();
        let token = secret::random_token("gmt_");
        let now = store::now_ms();
        store
            .create_token(admin.id, "bench", "senior_game_master", &secret::token_hash(&token), &token[..10], now, now + 86_400_000)
            .await
            .unwrap();
        let pem = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .resolve("localhost", server.http_addr())
            .pool_max_idle_per_host(clients)
            .build()
            .unwrap();
        let base = format!("https://localhost:{}/api/v1/audit", server.http_addr().port());
        let deadline = Instant::now() + Duration::from_secs(secs as u64);
        let warmup = Instant::now() + Duration::from_secs(2);
        let results = Arc::new(parking_lot::Mutex::new((Vec::new(), Vec::new(), 0usize)));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (http, base, token, results) = (http.clone(), base.clone(), token.clone(), results.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = c;
                let (mut lat, mut srv, mut errors) = (Vec::new(), Vec::new(), 0usize);
                while Instant::now() < deadline {
                    i += clients;
                    // A mix: newest page; a page deep in the log; one actor's history.
                    let url = match i % 3 {
                        0 => format!("{base}?limit=50"),
                        1 => format!("{base}?limit=50&cursor={}", 1 + (i * 7919) % rows),
                        _ => format!("{base}?limit=50&actor=gm{}&cursor={}", i % 100, 1 + (i * 104_729) % rows),
                    };
                    let t0 = Instant::now();
                    let resp = http.get(&url).bearer_auth(&token).send().await;
                    let Ok(resp) = resp else { errors += 1; continue };
                    let ok = resp.status().is_success();
                    let server_ms = resp
                        .headers()
                        .get("server-timing")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("app;dur="))
                        .and_then(|v| v.parse::<f64>().ok());
                    let body = resp.bytes().await;
                    if !ok || body.is_err() {
                        errors += 1;
                        continue;
                    }
                    if t0 > warmup {
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                        if let Some(s) = server_ms {
                            srv.push(s);
                        }
                    }
                }
                let mut r = results.lock();
                r.0.extend(lat);
                r.1.extend(srv);
                r.2 += errors;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (mut lat, mut srv, errors) = std::mem::take(&mut *results.lock());
        lat.sort_by(f64::total_cmp);
        srv.sort_by(f64::total_cmp);
        let measured = secs as f64 - 2.0;
        println!(
            "audit list, {rows} rows, {clients} clients, {measured:.0} s measured: {} requests ({:.0}/s), {errors} errors",
            lat.len(),
            lat.len() as f64 / measured
        );
        println!(
            "  server time  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            pct(&srv, 0.5), pct(&srv, 0.9), pct(&srv, 0.99), srv.last().unwrap()
        );
        println!(
            "  client time  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            pct(&lat, 0.5), pct(&lat, 0.9), pct(&lat, 0.99), lat.last().unwrap()
        );
        server.shutdown().await;
    });
}
