#!/usr/bin/env bash
# The deployment files without a Docker engine: tests/deploy/check_deploy.py
# parses deploy/compose.yaml and deploy/nginx/*.conf and checks the cluster
# they describe (three nodes on one Redis, one PostgreSQL, one media volume;
# a sticky nginx upstream listing every node; no secrets), and
# tests/deploy/test_check_deploy.py shows the checker fails on each mistake
# it is there to catch.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import yaml, pytest' >/dev/null 2>&1; then
  echo "== pip install -r tests/deploy/requirements.txt"
  python3 -m pip install --quiet --disable-pip-version-check -r tests/deploy/requirements.txt
fi
python3 tests/deploy/check_deploy.py
python3 -m pytest -q -p no:cacheprovider tests/deploy
