#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel (not editable) into a fresh virtualenv and use it from an unrelated
# directory: fis demo (writes a small archive), fis db upgrade, fis ingest, fis stats, fis serve + GET /healthz.
# Proves the package works without the source tree (migrations and classifier manifest shipped inside).
# Usage: bash scripts/check_wheel.sh   (PYTHON: an interpreter with `build` installed, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-$repo/.venv/bin/python}

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building the sdist, and the wheel from it"
# (from the sdist, not the work tree: proves the sdist is complete and no stale build/ folder leaks into the wheel)
"$python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/fis-*.whl)
echo "   $(basename "$wheel")"

echo "== installing it into a fresh virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" 2>&1 | grep -v "^WARNING: Location" || true
"$work/venv/bin/python" -m pip show -q fis >/dev/null

# From here on: an unrelated directory, no source tree on the path.
mkdir "$work/run"
cd "$work/run"
unset PYTHONPATH
export FIS_DATA_DIR="$work/run/var"
export FIS_DATABASE_URL="sqlite:///$work/run/var/fis.sqlite"
fis="$work/venv/bin/fis"

location=$("$work/venv/bin/python" -c 'import fis, fis.store.db as db; print(fis.__file__, db.MIGRATIONS_DIR)')
case "$location" in
  *"$repo"*) echo "FAIL: fis imported from the source tree: $location"; exit 1 ;;
esac
echo "   fis and its migrations from: $location"

echo "== fis demo (a small archive, ingested into its own database)"
FIS_DATABASE_URL="sqlite:///$work/run/demo.sqlite" "$fis" demo --dir archive --size 40 >demo.log 2>&1 \
  || { cat demo.log; exit 1; }
grep -m1 "^demo archive" demo.log

echo "== fis db upgrade"
"$fis" db upgrade | tee upgrade.log
"$fis" db current | tee current.log
# at the newest migration shipped in the wheel: "current: 0004  head: 0004"
grep -Eq "^current: ([0-9a-z_]+)  head: \1$" current.log || { echo "FAIL: not at the head revision"; exit 1; }

echo "== fis ingest"
"$fis" ingest archive 2>/dev/null | tee ingest.log
grep -Eq "^[1-9][0-9]* scenes added, 0 updated, 0 failed$" ingest.log

echo "== fis stats"
"$work/venv/bin/python" -c 'import json; print(json.dumps(json.load(open("archive/fields.geojson"))["features"][0]))' >field.geojson
"$fis" stats --geometry field.geojson --from 2023-01-01 --to 2023-12-31 --format csv >series.csv
head -3 series.csv
rows=$(($(wc -l <series.csv) - 1))
echo "   $rows observations"
if [ "$rows" -lt 10 ] || ! sed -n 2p series.csv | grep -q "^2023-"; then
  echo "FAIL: fis stats printed no time series"; exit 1
fi

echo "== fis serve + GET /healthz"
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$fis" serve --port "$port" >serve.log 2>&1 &
server_pid=$!
health=""
for _ in $(seq 1 60); do
  health=$(curl -s -m 2 -w ' %{http_code}' "http://127.0.0.1:$port/healthz" || true)
  case "$health" in *" 200") break ;; esac
  kill -0 "$server_pid" 2>/dev/null || { cat serve.log; echo "FAIL: fis serve exited"; exit 1; }
  sleep 0.5
done
echo "   $health"
case "$health" in
  *'"status":"ok"'*" 200") ;;
  *) cat serve.log; echo "FAIL: /healthz did not answer 200 with status ok"; exit 1 ;;
esac
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

echo "wheel check: OK"
