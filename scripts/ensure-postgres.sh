#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests of
# the PostgreSQL store (trust auth for user postgres on loopback, as Debian's
# package sets up): starts the local cluster when it is down, installs
# Debian's postgresql package on a machine without one. Tests create and drop
# their own databases; nothing here touches existing ones.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_ctlcluster >/dev/null; then
  echo "== apt-get install postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql
fi
if ! ready; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "== starting PostgreSQL $version (cluster main)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do ready && break; sleep 0.5; done
fi
if ! ready; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2
  exit 1
fi
# Loopback connections as postgres must work without a password.
if ! psql "postgres://postgres@127.0.0.1:5432/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; then
  echo "cannot connect as postgres@127.0.0.1 without a password (pg_hba.conf: trust for 127.0.0.1/32)" >&2
  exit 1
fi
