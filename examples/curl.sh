#!/usr/bin/env bash
# Every endpoint of the fis HTTP API with curl, against a running service.
#
#   fis demo && fis serve            # in another terminal
#   bash examples/curl.sh            # or: BASE=http://host:port bash examples/curl.sh
#
# Needs curl and python3 (only to read the series id and shorten the JSON output).
set -euo pipefail

BASE="${BASE:-http://127.0.0.1:8080}"
HERE="$(cd "$(dirname "$0")" && pwd)"
REQUEST="${REQUEST:-$HERE/request.json}"
CSV_OUT="${CSV_OUT:-fis-timeseries.csv}"

# Pretty-print a JSON body, cutting long arrays to their first items.
short() {
  python3 -c '
import json, re, sys
def cut(v, key=None):
    if key == "coordinates":
        return "[...]"
    if isinstance(v, list) and len(v) > 1 and isinstance(v[0], dict):
        return [cut(v[0])] + ["... %d more" % (len(v) - 1)]
    if isinstance(v, dict):
        return {k: cut(x, k) for k, x in v.items()}
    return v
text = json.dumps(cut(json.load(sys.stdin)), indent=2)
# print lists of numbers / strings on one line
text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
# and small objects of scalars
print(re.sub(r"\{\s+([^\[\]{}]{1,160}?)\s+\}", lambda m: "{" + " ".join(m.group(1).split()) + "}", text))
'
}

echo "== GET /healthz"
curl -sS "$BASE/healthz" | short

echo
echo "== POST /api/v1/timeseries  (body: $REQUEST)"
created="$(curl -sS -X POST "$BASE/api/v1/timeseries" -H 'Content-Type: application/json' --data-binary @"$REQUEST")"
SERIES_ID="$(printf '%s' "$created" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))')"
if [ -z "$SERIES_ID" ]; then
  echo "POST failed:" >&2
  printf '%s\n' "$created" >&2
  exit 1
fi
printf '%s' "$created" | short
echo "series id: $SERIES_ID"

echo
echo "== GET /api/v1/timeseries/$SERIES_ID  (stored filter overridden: cloud_fraction <= 0.5, cloudy dates flagged)"
curl -sS "$BASE/api/v1/timeseries/$SERIES_ID?max_cloud_fraction=0.5&include_cloudy=true" | short

echo
echo "== GET /api/v1/timeseries/$SERIES_ID?format=csv  -> $CSV_OUT"
curl -sS -o "$CSV_OUT" "$BASE/api/v1/timeseries/$SERIES_ID?format=csv"
head -n 3 "$CSV_OUT" | cut -c 1-160
echo "($(($(wc -l < "$CSV_OUT") - 1)) rows)"

echo
echo "== POST /api/v1/timeseries?format=csv  (compute and get CSV directly; first 2 lines)"
curl -sS -o "$CSV_OUT.post" -D - -X POST "$BASE/api/v1/timeseries?format=csv" \
  -H 'Content-Type: application/json' --data-binary @"$REQUEST" | grep -i -E '^(HTTP|location|content-type)'
head -n 2 "$CSV_OUT.post" | cut -c 1-160
rm -f "$CSV_OUT.post"

echo
echo "== GET /api/v1/timeseries?limit=2  (stored series, newest first)"
curl -sS "$BASE/api/v1/timeseries?limit=2" | short

echo
echo "== GET /api/v1/scenes?bbox=...&datetime=...&limit=2"
curl -sS "$BASE/api/v1/scenes?bbox=14.99,46.04,15.01,46.06&datetime=2023-04-01/2023-04-30&limit=2" | short

echo
echo "== An error: unknown key"
curl -sS -X POST "$BASE/api/v1/timeseries" -H 'Content-Type: application/json' \
  -d '{"geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))", "time_range": {"from": "2023-01-01", "to": "2023-01-31"}, "max_cloud": 0.2}' | short

echo
echo "== DELETE /api/v1/timeseries/$SERIES_ID"
curl -sS -o /dev/null -w 'HTTP %{http_code}\n' -X DELETE "$BASE/api/v1/timeseries/$SERIES_ID"
curl -sS -o /dev/null -w 'GET after delete: HTTP %{http_code}\n' "$BASE/api/v1/timeseries/$SERIES_ID"

echo
echo "OpenAPI description: $BASE/api/v1/openapi.json"
