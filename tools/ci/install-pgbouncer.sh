#!/usr/bin/env bash
# Installs Debian's pgbouncer for the tests that run the services through it (tests/pgbouncer).
# Idempotent and quiet: prints nothing when pgbouncer is already there, the apt log only on failure.
# Only the binary is used: the tests start their own pgbouncer, so no system service is enabled here.
set -euo pipefail

if [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends pgbouncer; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-pgbouncer: apt-get failed" >&2
    exit 1
fi
echo "install-pgbouncer: installed $(/usr/sbin/pgbouncer --version 2>/dev/null | head -n 1)"
