#!/usr/bin/env bash
# Runs a command the way the app runs on a desktop, headless: its own D-Bus
# session, an unlocked GNOME keyring (Secret Service) and an X display (Xvfb).
# Usage: scripts/e2e-session.sh COMMAND [ARGS…]
set -euo pipefail
if [ "${CARECYCLE_IN_SESSION:-}" = 1 ]; then exec "$@"; fi
export CARECYCLE_IN_SESSION=1
exec dbus-run-session -- bash -c '
  set -euo pipefail
  export XDG_DATA_HOME="$(mktemp -d)"
  # Unlock a fresh login keyring non-interactively; without this the Secret
  # Service answers with misleading errors.
  eval "$(printf %s carecycle-ci | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK
  exec xvfb-run -a -s "-screen 0 1440x1000x24" "$@"
' bash "$@"
