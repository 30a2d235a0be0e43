#!/usr/bin/env bash
# The demo: starts the reference back end with its seed data (a knee
# osteoarthritis IPU and a demo patient) and the app, pointed at it. Nobody is
# signed in: the sign-in page shows the demo credentials.
#
# With a display, the app opens as a normal window and the demo ends when it is
# closed. Without one, it runs under Xvfb with its own keyring, saves a
# screenshot of the first screen and keeps running until Ctrl-C (set
# DEMO_EXIT_AFTER_SCREENSHOT=1 to stop right after the screenshot).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
echo "==> building the UI, the app and the back end"
(cd ui && npm run --silent build)
cargo build --locked -p carecycle-app -p carecycle-backend --features carecycle-app/custom-protocol

demo_dir="$root/.demo"
mkdir -p "$demo_dir"
backend_log="$demo_dir/backend.log"
target/debug/carecycle-backend serve --addr 127.0.0.1:0 --data "$demo_dir/backend" --seed demo >"$backend_log" 2>&1 &
backend_pid=$!
trap 'kill $backend_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  fhir_base=$(sed -n 's/.*FHIR base \(.*\))/\1/p' "$backend_log")
  [ -n "$fhir_base" ] && break
  kill -0 "$backend_pid" 2>/dev/null || { cat "$backend_log" >&2; exit 1; }
  sleep 0.1
done
[ -n "${fhir_base:-}" ] || { echo "the back end did not start" >&2; exit 1; }

cat <<MSG

CareCycle demo
  back end (FHIR R4 + SMART):  $fhir_base
  sign in as the demo patient: username eleanor, password knee-demo-2026
                               (also shown on the sign-in page)
MSG

export CARECYCLE_SERVERS="Riverside Knee & Hip Unit (demo)|$fhir_base"
export CARECYCLE_DATA_DIR="$demo_dir/app"

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  target/debug/carecycle-app
  exit 0
fi

shot="$demo_dir/first-screen.png"
export SHOT="$shot"
scripts/e2e-session.sh bash -c '
  target/debug/carecycle-app &
  app=$!
  trap "kill $app 2>/dev/null || true" EXIT
  xdotool search --sync --name "^CareCycle$" >/dev/null
  sleep 3  # let the first screen paint
  import -window root "$SHOT"
  echo
  echo "No display here: the app runs under Xvfb. Screenshot of the first screen: $SHOT"
  if [ "${DEMO_EXIT_AFTER_SCREENSHOT:-}" = 1 ]; then exit 0; fi
  echo "Press Ctrl-C to stop the demo."
  wait $app
'
