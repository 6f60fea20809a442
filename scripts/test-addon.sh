#!/usr/bin/env bash
# Checks of the Odoo addon (odoo_addon/seitech_chat) and of the Odoo double
# (tests/odoo_double) that can run without Odoo: ruff, pylint-odoo (OCA
# checks), manifest / XML / access-file checks, and pytest of the ORM-free
# modules and of the double. The addon's Odoo tests need a real Odoo:
# see odoo_addon/seitech_chat/README.rst.
#
# Usage (from anywhere; non-interactive): bash scripts/test-addon.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
REQS="odoo_addon/requirements-dev.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# Install the pinned tools only when a pin is not already satisfied, so a
# warm machine does not touch the registry at all.
missing=0
while IFS= read -r line; do
  line="${line%%#*}"; line="${line// /}"
  [[ -z "$line" ]] && continue
  name="${line%%==*}"; want="${line##*==}"
  have="$("$PY" -c "import importlib.metadata as m,sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: print('')" "$name")"
  if [[ "$have" != "$want" ]]; then missing=1; fi
done < "$REQS"
if [[ "$missing" == 1 ]]; then
  echo "== installing pinned dev tools ($REQS)"
  "$PY" -m pip install --quiet --no-input -r "$REQS"
fi

echo "== ruff"
"$PY" -m ruff check --config odoo_addon/ruff.toml odoo_addon tests/odoo_double

echo "== pylint-odoo"
"$PY" -m pylint --rcfile=odoo_addon/.pylintrc odoo_addon/seitech_chat

echo "== manifest, XML and access checks"
"$PY" odoo_addon/tools/check_addon.py

echo "== pytest: ORM-free modules and the Odoo double"
"$PY" -m pytest -q -p no:cacheprovider odoo_addon/lib_tests tests/odoo_double
