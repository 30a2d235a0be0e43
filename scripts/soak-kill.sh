#!/usr/bin/env bash
# A longer kill soak than the test suite's 50 rounds: the carecycle CLI is
# killed with SIGKILL at random points of syncs that send and receive, then
# one last sync must leave every message on the server exactly once.
# Usage: scripts/soak-kill.sh [ROUNDS]   (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARECYCLE_KILL_ROUNDS="${1:-500}"
exec scripts/e2e-session.sh cargo test --locked -p carecycle-cli --test kill -- --nocapture
