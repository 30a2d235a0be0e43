#!/usr/bin/env bash
# Compiles (cargo check) every crate with no C dependency for the phone
# targets, so code that only builds on a desktop is caught here although no
# Android NDK or Xcode is available. The crates left out need the platform's C
# toolchain: carecycle-schema, carecycle-core and the back end link SQLite
# (SQLCipher on phones, with OpenSSL built from source), the app links WebKit.
set -euo pipefail
cd "$(dirname "$0")/.."

PHONE_TARGETS=(aarch64-linux-android aarch64-apple-ios)
PURE_CRATES=(carecycle-fhir carecycle-prom carecycle-log)

installed=$(rustup target list --installed)
for target in "${PHONE_TARGETS[@]}"; do
  if ! grep -qx "$target" <<<"$installed"; then
    echo "==> rustup target add $target (its standard library, ~30 MB)"
    timeout 900 rustup target add "$target"
  fi
done

packages=()
for c in "${PURE_CRATES[@]}"; do packages+=(-p "$c"); done
for target in "${PHONE_TARGETS[@]}"; do
  echo "==> cargo check --target $target ${PURE_CRATES[*]}"
  cargo check --locked --target "$target" "${packages[@]}"
done
