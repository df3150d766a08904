//! Fleet-wide metric aggregation, without I/O: game servers' batches are applied to one table
//! of series labelled by server, region and build, which renders in the Prometheus text
//! format. The number of series is capped; a game that invents labels without end gets its
//! new series refused and counted, not the server's memory.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use gm_proto::telemetry::{MetricBatch, SeriesKind};
use gm_telemetry::histogram::{BUCKETS, MAX_EXP, MIN_EXP, SUB_BUCKETS};
use parking_lot::Mutex;

/// Labels gm-server adds to every series of a game server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLabels {
    /// Server id.
    pub server: String,
    /// Region label.
    pub region: String,
    /// Game build.
    pub build: String,
}

/// A series: metric name and sorted labels (gm-server's and the game's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SeriesKey {
    name: String,
    labels: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Hist),
}

/// A histogram's counts, sparse (bucket index, count) in index order, and the range of
/// powers of two rendered as `le` bounds so far (kept, so bounds do not come and go).
#[derive(Debug, Clone, Default)]
struct Hist {
    buckets: Vec<(u16, u64)>,
    sum: f64,
    count: u64,
    le_range: Option<(i32, i32)>,
}

#[derive(Debug, Default)]
struct Table {
    index: HashMap<Arc<SeriesKey>, usize>,
    series: Vec<(Arc<SeriesKey>, Value)>,
    /// One kind per metric name: the text format allows one TYPE per name.
    kinds: HashMap<String, SeriesKind>,
    /// Bumped when rows are removed: sessions then look their rows up again.
    generation: u64,
    /// Rows per game server, for the per-server quota.
    per_server: HashMap<String, usize>,
}

/// Every game server's series. Cheap to share; one lock per applied batch and per render.
#[derive(Debug)]
pub struct FleetMetrics {
    table: Mutex<Table>,
    max_series: usize,
    max_per_server: usize,
    refused: AtomicU64,
}

/// One session's view: the game's series ids mapped to rows of the table.
#[derive(Debug)]
pub struct SessionSeries {
    labels: ServerLabels,
    /// The game's id → the series, and its row in the table (`None`: refused).
    rows: HashMap<u32, (SeriesKind, Arc<SeriesKey>, Option<usize>)>,
    generation: u64,
    /// Series this session had refused (cap, bad name, kind clash).
    pub refused: u64,
}

impl SessionSeries {
    /// A session of the game server with these labels.
    pub fn new(labels: ServerLabels) -> SessionSeries {
        SessionSeries {
            labels,
            rows: HashMap::new(),
            generation: 0,
            refused: 0,
        }
    }
}

impl FleetMetrics {
    /// An empty table holding at most `max_series` series, and at most `max_per_server` of
    /// any one game server (so one game's runaway label cannot take the others' room).
    pub fn new(max_series: usize, max_per_server: usize) -> FleetMetrics {
        FleetMetrics {
            table: Mutex::new(Table::default()),
            max_series,
            max_per_server,
            refused: AtomicU64::new(0),
        }
    }

    /// Series held now.
    pub fn series_count(&self) -> usize {
        self.table.lock().series.len()
    }

    /// The cap on series.
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// Series refused so far (over the cap, or a name used with two kinds).
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Applies one batch from `session`'s game server; returns how many new series it had
    /// refused.
    pub fn apply(&self, session: &mut SessionSeries, batch: &MetricBatch) -> u64 {
        let mut table = self.table.lock();
        let mut refused = 0;
        for def in &batch.defs {
            let mut name = metric_name(&def.name);
            // Prometheus names counters `*_total`; the game's `kills` reads as `kills_total`.
            if def.kind == SeriesKind::Counter && !name.ends_with("_total") {
                name.push_str("_total");
            }
            let mut labels: Vec<(String, String)> = def
                .labels
                .iter()
                .map(|(k, v)| (label_name(k), v.clone()))
                .collect();
            labels.push(("server".into(), session.labels.server.clone()));
            labels.push(("region".into(), session.labels.region.clone()));
            labels.push(("build".into(), session.labels.build.clone()));
            labels.sort();
            labels.dedup_by(|a, b| a.0 == b.0);
            let key = Arc::new(SeriesKey { name, labels });
            let row = self.resolve(&mut table, def.kind, &key, &session.labels.server);
            if row.is_none() {
                refused += 1;
            }
            // A session names at most its quota of series (a game cannot grow this map by
            // sending definitions without end); refused ones past it are not remembered.
            if session.rows.len() < self.max_per_server || session.rows.contains_key(&def.id) {
                session.rows.insert(def.id, (def.kind, key, row));
            }
        }
        if session.generation != table.generation {
            // Rows were removed since this session resolved its series: resolve them again.
            session.generation = table.generation;
            for (kind, key, row) in session.rows.values_mut() {
                *row = self.resolve(&mut table, *kind, key, &session.labels.server);
            }
        }
        let row = |id: &u32, kind: SeriesKind| match session.rows.get(id) {
            Some((k, _, Some(r))) if *k == kind => Some(*r),
            _ => None,
        };
        for (id, delta) in &batch.counters {
            if let Some(r) = row(id, SeriesKind::Counter)
                && let Value::Counter(c) = &mut table.series[r].1
            {
                *c = c.saturating_add(*delta);
            }
        }
        for (id, value) in &batch.gauges {
            if let Some(r) = row(id, SeriesKind::Gauge)
                && let Value::Gauge(g) = &mut table.series[r].1
            {
                *g = *value;
            }
        }
        for delta in &batch.histograms {
            if let Some(r) = row(&delta.id, SeriesKind::Histogram)
                && let Value::Histogram(h) = &mut table.series[r].1
            {
                h.merge(&delta.buckets, delta.sum);
            }
        }
        session.refused += refused;
        self.refused.fetch_add(refused, Relaxed);
        refused
    }

    /// The row of `key`, added if there is room (overall and in `server`'s quota) and its
    /// name is not taken by another kind.
    fn resolve(
        &self,
        table: &mut Table,
        kind: SeriesKind,
        key: &Arc<SeriesKey>,
        server: &str,
    ) -> Option<usize> {
        match table.index.get(key) {
            Some(&row) if kind_of(&table.series[row].1) == kind => Some(row),
            Some(_) => None,
            None => {
                let full = table.series.len() >= self.max_series
                    || table.per_server.get(server).copied().unwrap_or(0) >= self.max_per_server;
                if full || name_clashes(&table.kinds, &key.name, kind) {
                    return None;
                }
                let row = table.series.len();
                table.kinds.insert(key.name.clone(), kind);
                table.index.insert(key.clone(), row);
                *table.per_server.entry(server.to_string()).or_default() += 1;
                let value = match kind {
                    SeriesKind::Counter => Value::Counter(0),
                    // Unknown until the game sends a value (a row made again after a rebuild
                    // must not read as 0).
                    SeriesKind::Gauge => Value::Gauge(f64::NAN),
                    SeriesKind::Histogram => Value::Histogram(Hist::default()),
                };
                table.series.push((key.clone(), value));
                Some(row)
            }
        }
    }

    /// Drops every series of a game server that has gone (so Prometheus marks them stale
    /// instead of showing its last values forever). Its counters start again from zero if it
    /// comes back, which `rate()` reads as a counter reset. Returns how many went.
    pub fn remove_server(&self, server: &str) -> usize {
        self.remove_where(|k| k.label("server") == Some(server))
    }

    /// Drops the series of a game server's session that had these labels, when the game
    /// server came back with another region or build (its new series replace them).
    pub fn remove_labels(&self, labels: &ServerLabels) -> usize {
        self.remove_where(|k| {
            k.label("server") == Some(labels.server.as_str())
                && k.label("region") == Some(labels.region.as_str())
                && k.label("build") == Some(labels.build.as_str())
        })
    }

    fn remove_where(&self, gone: impl Fn(&SeriesKey) -> bool) -> usize {
        let mut table = self.table.lock();
        let before = table.series.len();
        let series = std::mem::take(&mut table.series);
        table.series = series.into_iter().filter(|(k, _)| !gone(k)).collect();
        let removed = before - table.series.len();
        if removed > 0 {
            let index: HashMap<Arc<SeriesKey>, usize> = table
                .series
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            table.index = index;
            let kinds: HashMap<String, SeriesKind> = table
                .series
                .iter()
                .map(|(k, v)| (k.name.clone(), kind_of(v)))
                .collect();
            table.kinds = kinds;
            let mut per_server: HashMap<String, usize> = HashMap::new();
            for (k, _) in &table.series {
                *per_server
                    .entry(k.label("server").unwrap_or_default().to_string())
                    .or_default() += 1;
            }
            table.per_server = per_server;
            table.generation += 1;
        }
        removed
    }

    /// The value of a gauge or counter series, for tests and the dashboard. Labels must
    /// include `server` (and any the game set); region and build may be left out.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let table = self.table.lock();
        table
            .series
            .iter()
            .find(|(k, _)| {
                k.name == name
                    && labels
                        .iter()
                        .all(|(n, v)| k.labels.iter().any(|(kn, kv)| kn == n && kv == v))
            })
            .map(|(_, v)| match v {
                Value::Counter(c) => *c as f64,
                Value::Gauge(g) => *g,
                Value::Histogram(h) => h.count as f64,
            })
            .filter(|v| !v.is_nan())
    }

    /// Appends every series in the Prometheus text format (version 0.0.4), grouped by name.
    pub fn render(&self, out: &mut String) {
        let mut table = self.table.lock();
        let mut order: Vec<usize> = (0..table.series.len()).collect();
        order.sort_by(|a, b| table.series[*a].0.cmp(&table.series[*b].0));
        let mut last_name: Option<String> = None;
        for i in order {
            let (key, value) = &mut table.series[i];
            if last_name.as_deref() != Some(key.name.as_str()) {
                let kind = match value {
                    Value::Counter(_) => "counter",
                    Value::Gauge(_) => "gauge",
                    Value::Histogram(_) => "histogram",
                };
                let _ = writeln!(out, "# HELP {} Reported by game servers.", key.name);
                let _ = writeln!(out, "# TYPE {} {kind}", key.name);
                last_name = Some(key.name.clone());
            }
            match value {
                Value::Counter(c) => sample(out, &key.name, &key.labels, None, *c as f64),
                Value::Gauge(g) if g.is_nan() => {}
                Value::Gauge(g) => sample(out, &key.name, &key.labels, None, *g),
                Value::Histogram(h) => h.render(out, &key.name, &key.labels),
            }
        }
    }
}

impl SeriesKey {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether a series `name` of `kind` would clash in the text format with names already held:
/// the same name as another kind, or a histogram's `_bucket`, `_sum` and `_count` samples.
fn name_clashes(kinds: &HashMap<String, SeriesKind>, name: &str, kind: SeriesKind) -> bool {
    if kinds.get(name).is_some_and(|k| *k != kind) {
        return true;
    }
    const SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];
    // This name is a sample name of an existing histogram…
    let shadows = SUFFIXES.iter().any(|s| {
        name.strip_suffix(s)
            .is_some_and(|base| kinds.get(base) == Some(&SeriesKind::Histogram))
    });
    // …or this histogram's sample names are taken.
    let shadowed = kind == SeriesKind::Histogram
        && SUFFIXES
            .iter()
            .any(|s| kinds.contains_key(&format!("{name}{s}")));
    shadows || shadowed
}

fn kind_of(v: &Value) -> SeriesKind {
    match v {
        Value::Counter(_) => SeriesKind::Counter,
        Value::Gauge(_) => SeriesKind::Gauge,
        Value::Histogram(_) => SeriesKind::Histogram,
    }
}

impl Hist {
    fn merge(&mut self, delta: &[(u16, u64)], sum: f64) {
        let mut merged = Vec::with_capacity(self.buckets.len() + delta.len());
        let (mut a, mut b) = (self.buckets.iter().peekable(), delta.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    merged.push((x.0, x.1.saturating_add(y.1)));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => merged.push(*a.next().expect("peeked")),
                (Some(_), Some(_)) | (None, Some(_)) => {
                    let y = *b.next().expect("peeked");
                    if (y.0 as usize) < BUCKETS {
                        merged.push(y);
                    }
                }
                (Some(_), None) => merged.push(*a.next().expect("peeked")),
                (None, None) => break,
            }
        }
        self.buckets = merged;
        self.count = self
            .buckets
            .iter()
            .fold(0u64, |acc, (_, n)| acc.saturating_add(*n));
        if sum.is_finite() {
            self.sum += sum;
        }
    }

    /// Renders with `le` at powers of two and 1.5 times them: each is the upper edge of one of
    /// gm-telemetry's buckets, so every count is exact (a value equal to the bound counts in
    /// the next one).
    fn render(&mut self, out: &mut String, name: &str, labels: &[(String, String)]) {
        // Bounds are counted in half powers of two: h = 2k is 2^k, h = 2k + 1 is 1.5 · 2^k.
        // Both are edges of gm-telemetry's buckets (sub-buckets 0 and 4 of a power of two
        // start there), so every count is exact. This is the bound each bucket ends at
        // (None: the overflow bucket).
        let end = |i: u16| -> Option<i32> {
            let i = i as usize;
            match i {
                0 => Some(2 * MIN_EXP),
                i if i >= BUCKETS - 1 => None,
                i => {
                    let exp = MIN_EXP + ((i - 1) / SUB_BUCKETS) as i32;
                    let sub = (i - 1) % SUB_BUCKETS;
                    Some(if sub < SUB_BUCKETS / 2 {
                        2 * exp + 1
                    } else {
                        2 * exp + 2
                    })
                }
            }
        };
        let value = |h: i32| -> f64 {
            if h.rem_euclid(2) == 0 {
                2f64.powi(h.div_euclid(2))
            } else {
                1.5 * 2f64.powi((h - 1).div_euclid(2))
            }
        };
        if let (Some(first), Some(last)) = (self.buckets.first(), self.buckets.last()) {
            let lo = end(first.0).unwrap_or(2 * MAX_EXP);
            let hi = end(last.0).unwrap_or(2 * MAX_EXP);
            self.le_range = Some(match self.le_range {
                Some((l, h)) => (l.min(lo), h.max(hi)),
                None => (lo, hi),
            });
        }
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut next = self.buckets.iter().peekable();
        if let Some((lo, hi)) = self.le_range {
            for h in lo..=hi {
                while let Some((i, n)) = next.peek() {
                    match end(*i) {
                        Some(e) if e <= h => {
                            cumulative = cumulative.saturating_add(*n);
                            next.next();
                        }
                        _ => break,
                    }
                }
                let le = format_float(value(h));
                sample(out, &bucket_name, labels, Some(&le), cumulative as f64);
            }
        }
        sample(out, &bucket_name, labels, Some("+Inf"), self.count as f64);
        sample(out, &format!("{name}_sum"), labels, None, self.sum);
        sample(
            out,
            &format!("{name}_count"),
            labels,
            None,
            self.count as f64,
        );
    }
}

/// Renders a gm-telemetry histogram snapshot (gm-server's own latencies) as one series.
pub(crate) fn render_snapshot(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    snapshot: &gm_telemetry::HistogramSnapshot,
) {
    let mut h = Hist {
        buckets: snapshot
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (i as u16, *n))
            .collect(),
        sum: snapshot.sum,
        count: snapshot.count(),
        le_range: None,
    };
    h.render(out, name, labels);
}

/// Writes one sample line.
pub(crate) fn sample(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(le.map(|le| ("le", le)))
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_float(value));
    out.push('\n');
}

/// A float as the text format spells it.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A game's metric name made valid (`[a-zA-Z_:][a-zA-Z0-9_:]*`), and kept out of
/// gm-server's own namespace.
fn metric_name(name: &str) -> String {
    let mut s = sanitize(name, true);
    if s.starts_with("gm_server_") || s.starts_with("gm_fleet_") {
        s.insert_str(0, "game_");
    }
    s
}

/// A game's label name made valid; the names gm-server sets itself are prefixed with
/// `exported_`, as Prometheus does for a clash.
fn label_name(name: &str) -> String {
    let s = sanitize(name, false);
    let s = s.trim_start_matches('_');
    let s = if s.is_empty() { "label" } else { s };
    match s {
        "server" | "region" | "build" | "le" => format!("exported_{s}"),
        s => s.to_string(),
    }
}

fn sanitize(name: &str, colon_ok: bool) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colon_ok && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use gm_proto::telemetry::{HistogramDelta, Losses, SeriesDef};

    fn labels(server: &str) -> ServerLabels {
        ServerLabels {
            server: server.into(),
            region: "eu".into(),
            build: "1.2".into(),
        }
    }

    fn batch(defs: Vec<SeriesDef>) -> MetricBatch {
        MetricBatch {
            instance: 1,
            seq: 1,
            interval_ms: 1000,
            defs,
            counters: vec![],
            gauges: vec![],
            histograms: vec![],
            losses: Losses::default(),
        }
    }

    fn def(id: u32, kind: SeriesKind, name: &str, labels: &[(&str, &str)]) -> SeriesDef {
        SeriesDef {
            id,
            kind,
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn counters_add_up_across_batches_and_sessions_of_one_server() {
        let fleet = FleetMetrics::new(100, 100);
        let mut s = SessionSeries::new(labels("eu-1"));
        let mut b = batch(vec![def(
            1,
            SeriesKind::Counter,
            "kills_total",
            &[("weapon", "bow")],
        )]);
        b.counters = vec![(1, 3)];
        fleet.apply(&mut s, &b);
        // The game reconnects: a new session names the series again, with another id.
        let mut s2 = SessionSeries::new(labels("eu-1"));
        let mut b = batch(vec![def(
            9,
            SeriesKind::Counter,
            "kills_total",
            &[("weapon", "bow")],
        )]);
        b.counters = vec![(9, 4)];
        fleet.apply(&mut s2, &b);
        assert_eq!(fleet.series_count(), 1);
        assert_eq!(
            fleet.value("kills_total", &[("server", "eu-1"), ("weapon", "bow")]),
            Some(7.0)
        );
        let mut text = String::new();
        fleet.render(&mut text);
        assert!(text.contains("# TYPE kills_total counter\n"), "{text}");
        assert!(
            text.contains(
                "kills_total{build=\"1.2\",region=\"eu\",server=\"eu-1\",weapon=\"bow\"} 7\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_series_cap_refuses_and_counts_a_runaway_label() {
        let fleet = FleetMetrics::new(10, 10);
        let mut s = SessionSeries::new(labels("eu-1"));
        let defs = (0..50)
            .map(|i| {
                def(
                    i,
                    SeriesKind::Counter,
                    "requests_total",
                    &[("player", &format!("p{i}"))],
                )
            })
            .collect();
        let mut b = batch(defs);
        b.counters = (0..50).map(|i| (i, 1)).collect();
        assert_eq!(fleet.apply(&mut s, &b), 40);
        assert_eq!(fleet.series_count(), 10);
        assert_eq!(fleet.refused(), 40);
        assert_eq!(s.refused, 40);
    }

    #[test]
    fn names_and_labels_are_made_valid_and_kept_out_of_our_namespace() {
        let fleet = FleetMetrics::new(100, 100);
        let mut s = SessionSeries::new(labels("eu-\"1\"\n"));
        let mut b = batch(vec![
            def(
                1,
                SeriesKind::Gauge,
                "9 lives.now",
                &[("server", "x"), ("__a-b", "v")],
            ),
            def(2, SeriesKind::Gauge, "gm_server_connections", &[]),
        ]);
        b.gauges = vec![(1, 2.5), (2, 1.0)];
        fleet.apply(&mut s, &b);
        let mut text = String::new();
        fleet.render(&mut text);
        assert!(
            text.contains(
                "_9_lives_now{a_b=\"v\",build=\"1.2\",exported_server=\"x\",region=\"eu\",server=\"eu-\\\"1\\\"\\n\"} 2.5\n"
            ),
            "{text}"
        );
        assert!(text.contains("game_gm_server_connections{"), "{text}");
    }

    #[test]
    fn a_server_that_left_takes_its_series_along_and_others_keep_theirs() {
        let fleet = FleetMetrics::new(100, 100);
        let (mut a, mut b) = (
            SessionSeries::new(labels("eu-1")),
            SessionSeries::new(labels("eu-2")),
        );
        let mut first = batch(vec![
            def(1, SeriesKind::Counter, "kills_total", &[]),
            def(2, SeriesKind::Gauge, "players", &[]),
        ]);
        first.counters = vec![(1, 4)];
        first.gauges = vec![(2, 9.0)];
        fleet.apply(&mut a, &first);
        fleet.apply(&mut b, &first);
        assert_eq!(fleet.series_count(), 4);
        assert_eq!(fleet.remove_server("eu-1"), 2);
        assert_eq!(fleet.value("players", &[("server", "eu-1")]), None);
        // eu-2's session still reaches its own rows after the table was rebuilt.
        let mut next = batch(vec![]);
        next.counters = vec![(1, 1)];
        fleet.apply(&mut b, &next);
        assert_eq!(fleet.value("kills_total", &[("server", "eu-2")]), Some(5.0));
        assert_eq!(fleet.value("players", &[("server", "eu-2")]), Some(9.0));
        assert_eq!(fleet.series_count(), 2);
    }

    #[test]
    fn one_server_cannot_take_the_others_room() {
        let fleet = FleetMetrics::new(100, 10);
        let mut a = SessionSeries::new(labels("eu-1"));
        let mut b = SessionSeries::new(labels("eu-2"));
        let many = |n: u32| {
            batch(
                (0..n)
                    .map(|i| def(i, SeriesKind::Gauge, "g", &[("i", &i.to_string())]))
                    .collect(),
            )
        };
        assert_eq!(fleet.apply(&mut a, &many(5000)), 4990);
        assert!(
            a.rows.len() <= 10,
            "refused definitions are not remembered without end"
        );
        assert_eq!(fleet.apply(&mut b, &many(3)), 0);
        assert_eq!(fleet.series_count(), 13);
    }

    #[test]
    fn histogram_sample_names_are_reserved() {
        let fleet = FleetMetrics::new(100, 100);
        let mut a = SessionSeries::new(labels("eu-1"));
        fleet.apply(
            &mut a,
            &batch(vec![def(1, SeriesKind::Histogram, "lag", &[])]),
        );
        let clash = batch(vec![
            def(2, SeriesKind::Gauge, "lag_count", &[]),
            def(3, SeriesKind::Gauge, "lag_sum", &[]),
            def(4, SeriesKind::Gauge, "lag_bucket", &[]),
        ]);
        assert_eq!(fleet.apply(&mut a, &clash), 3);
        fleet.apply(
            &mut a,
            &batch(vec![def(5, SeriesKind::Gauge, "ping_sum", &[])]),
        );
        let late = batch(vec![def(6, SeriesKind::Histogram, "ping", &[])]);
        assert_eq!(fleet.apply(&mut a, &late), 1);
    }

    #[test]
    fn a_name_used_with_two_kinds_keeps_the_first() {
        let fleet = FleetMetrics::new(100, 100);
        let mut a = SessionSeries::new(labels("eu-1"));
        let mut b = SessionSeries::new(labels("eu-2"));
        fleet.apply(
            &mut a,
            &batch(vec![def(1, SeriesKind::Counter, "x_total", &[])]),
        );
        let refused = fleet.apply(
            &mut b,
            &batch(vec![def(1, SeriesKind::Gauge, "x_total", &[])]),
        );
        assert_eq!(refused, 1);
    }

    #[test]
    fn histograms_render_cumulative_buckets_at_powers_of_two_and_half_steps() {
        use gm_telemetry::histogram::bucket_index;
        let fleet = FleetMetrics::new(100, 100);
        let mut s = SessionSeries::new(labels("eu-1"));
        let mut b = batch(vec![def(1, SeriesKind::Histogram, "tick_seconds", &[])]);
        // 0.010 s and 0.012 s are in [2^-7, 2^-6), either side of 1.5 · 2^-7; 0.020 s is in
        // [2^-6, 1.5 · 2^-6).
        let i10 = bucket_index(0.010) as u16;
        let i12 = bucket_index(0.012) as u16;
        let i20 = bucket_index(0.020) as u16;
        let mut d = vec![(i10, 2), (i12, 1), (i20, 1)];
        d.sort();
        b.histograms = vec![HistogramDelta {
            id: 1,
            sum: 0.052,
            buckets: d,
        }];
        fleet.apply(&mut s, &b);
        let mut b2 = batch(vec![]);
        b2.histograms = vec![HistogramDelta {
            id: 1,
            sum: 0.020,
            buckets: vec![(i20, 1)],
        }];
        fleet.apply(&mut s, &b2);
        let mut text = String::new();
        fleet.render(&mut text);
        let l = "build=\"1.2\",region=\"eu\",server=\"eu-1\"";
        assert!(text.contains("# TYPE tick_seconds histogram\n"), "{text}");
        assert!(
            text.contains(&format!("tick_seconds_bucket{{{l},le=\"0.015625\"}} 3\n")),
            "{text}"
        );
        assert!(
            !text.contains("le=\"0.03125\""),
            "bounds stop at the highest bucket: {text}"
        );
        assert!(
            text.contains(&format!("tick_seconds_bucket{{{l},le=\"+Inf\"}} 5\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("tick_seconds_count{{{l}}} 5\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("tick_seconds_sum{{{l}}} 0.072")),
            "{text}"
        );
    }
}
