#!/usr/bin/env bash
# Makes sure Debian's PostgreSQL 15 server binaries (initdb, pg_ctl, postgres) are installed.
set -euo pipefail
if [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -x /usr/lib/postgresql/15/bin/postgres ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-postgres: PostgreSQL 15 server is missing; install it with: sudo apt-get install -y postgresql-15" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 >/dev/null
