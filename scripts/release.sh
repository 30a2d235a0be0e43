#!/usr/bin/env bash
# What patients install: the release build (profile.release in Cargo.toml:
# LTO, one codegen unit, size-minded, stripped, panic = abort), the .deb
# bundle, their sizes, and a check in the real window that the release binary
# is what it should be: devtools compiled out and the CSP in force.
#
# Not part of scripts/test.sh: a whole-program optimised build takes minutes
# this machine's test run should not spend every time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "setup"
scripts/setup.sh

step "release build and .deb (tauri build)"
# The Tauri CLI from the UI's lock file; it builds the UI first
# (beforeBuildCommand) and embeds it (custom-protocol).
# (Run from the repository root: the CLI looks for src-tauri/ below the current folder.)
ui/node_modules/.bin/tauri build --bundles deb --ci

target_dir=${CARGO_TARGET_DIR:-target}
binary=$target_dir/release/carecycle-app
deb=$(ls -t "$target_dir"/release/bundle/deb/*.deb | head -n1)

step "what the release build is"
# Devtools exist only where tauri-runtime-wry compiles them in:
# cfg(any(debug_assertions, feature = "devtools")). The release profile has no
# debug assertions, and no crate may turn the feature on. (WebKit refuses its
# inspector in a window under WebDriver, so this is proven from the build, not
# by opening it.)
if grep -A20 '^\[profile.release\]' Cargo.toml | grep -q '^debug-assertions *= *true'; then
  echo "release: the release profile turns debug assertions (and so devtools) on" >&2
  exit 1
fi
for crate in tauri tauri-runtime-wry wry; do
  if cargo tree --locked -p carecycle-app -e features -i "$crate" 2>/dev/null | grep -q "$crate feature \"devtools\""; then
    echo "release: $crate's devtools feature is enabled; it must not be in what patients install" >&2
    exit 1
  fi
done
echo "devtools: compiled out (no debug assertions, no devtools feature on tauri, tauri-runtime-wry or wry)"
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
printf 'release binary  %s  %s\n' "$(mib "$(size "$binary")")" "$binary"
printf '.deb bundle     %s  %s\n' "$(mib "$(size "$deb")")" "$deb"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\):/  \1:/p'

step "the release binary in the real window"
cargo build --locked -p carecycle-backend
case $binary in /*) ;; *) binary=$root/$binary ;; esac
backend=$target_dir/debug/carecycle-backend
case $backend in /*) ;; *) backend=$root/$backend ;; esac
(cd ui && CARECYCLE_APP="$binary" CARECYCLE_BACKEND="$backend" \
  ../scripts/e2e-session.sh node --test --test-concurrency=1 e2e/hardening.test.mjs)

step "release checks passed"
