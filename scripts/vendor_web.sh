#!/usr/bin/env bash
# Refresh the front-end libraries of the web page (fis/web/static/vendor/) from npm: pinned versions are
# packed into a temporary directory and their dist files and licences copied; nothing is loaded from a CDN.
# Run from anywhere; commit the result. Change a version here, run, check the page (tests/test_web_browser.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/fis/web/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# name@version  dist files (relative to the package)  licence file
packages=(
  "leaflet@1.9.4|dist/leaflet.js dist/leaflet.css dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png dist/images/layers.png dist/images/layers-2x.png|LICENSE"
  "@geoman-io/leaflet-geoman-free@2.20.2|dist/leaflet-geoman.min.js dist/leaflet-geoman.css|LICENSE"
  "chart.js@4.6.1|dist/chart.umd.min.js|LICENSE.md"
)

rm -rf "$vendor"
mkdir -p "$vendor"
{
  echo "# Vendored front-end libraries"
  echo
  echo "Copied from npm by \`scripts/vendor_web.sh\` (do not edit by hand)."
  echo
  echo "| name | version | licence |"
  echo "| --- | --- | --- |"
} > "$vendor/VERSIONS.md"

for entry in "${packages[@]}"; do
  IFS='|' read -r spec files licence <<< "$entry"
  name="${spec%@*}"
  version="${spec##*@}"
  (cd "$tmp" && npm pack --silent "$spec" > /dev/null)
  tarball="$(ls "$tmp"/*.tgz)"
  mkdir -p "$tmp/pkg"
  tar -xzf "$tarball" -C "$tmp/pkg"
  short="${name##*/}"
  dest="$vendor/$short"
  mkdir -p "$dest"
  for file in $files; do
    mkdir -p "$dest/$(dirname "${file#dist/}")"
    cp "$tmp/pkg/package/$file" "$dest/${file#dist/}"
  done
  cp "$tmp/pkg/package/$licence" "$dest/LICENSE"
  spdx="$(node -e "process.stdout.write(require('$tmp/pkg/package/package.json').license)")"
  echo "| $name | $version | $spdx |" >> "$vendor/VERSIONS.md"
  rm -rf "$tmp/pkg" "$tarball"
done
echo "vendored into $vendor:"
cat "$vendor/VERSIONS.md"
