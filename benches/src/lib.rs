//! criterion benchmarks for the GM platform; see `benches/` and docs/benchmarks.md.
