#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, doctests and every test (PostgreSQL included).
# Installs and starts what the tests need; run it from anywhere on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/postgres.sh
source scripts/prometheus.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

echo "== cargo fmt"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== doctests"
cargo test --workspace --doc --locked
echo "== schemathesis against /api/openapi.json"
bash scripts/schemathesis.sh
echo "== cargo nextest"
cargo nextest run --workspace --locked --no-fail-fast
