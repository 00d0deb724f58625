#!/usr/bin/env bash
# Vendors uPlot (the console's chart library) from the npm registry, so the copy
# under web/console/vendor/uplot/ is reproducible: the same version always gives
# the same files, and VERSION records what was taken (version, the registry's
# integrity hash, and the sha256 of every file copied).
#
#   web/console/vendor/update.sh            # re-vendor the version in uplot/VERSION
#   web/console/vendor/update.sh 1.6.33     # vendor another version
#   web/console/vendor/update.sh --check    # verify the vendored files match npm
#
# Needs node and npm. Installs into a temporary directory (nothing global, no
# lifecycle scripts) and copies: the ES module build, its stylesheet, the license.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/uplot"
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi
version="${1:-$(sed -n 's/^version=//p' "$dest/VERSION" 2>/dev/null || true)}"
version="${version:-1.6.32}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-audit --no-fund --ignore-scripts --loglevel=error "uplot@$version" >/dev/null
pkg="$tmp/node_modules/uplot"
integrity="$(node -e 'const l=require(process.argv[1]);process.stdout.write(l.packages["node_modules/uplot"].integrity)' "$tmp/package-lock.json")"

files=(dist/uPlot.esm.js dist/uPlot.min.css LICENSE)
out="$tmp/out"
mkdir -p "$out"
for f in "${files[@]}"; do cp "$pkg/$f" "$out/$(basename "$f")"; done
{
  echo "# uPlot vendored by web/console/vendor/update.sh from the npm package uplot (MIT, see LICENSE)"
  echo "version=$version"
  echo "integrity=$integrity"
  (cd "$out" && for f in "${files[@]}"; do sha256sum "$(basename "$f")"; done) | sed 's/^/sha256 /'
} > "$out/VERSION"

if (( check )); then
  diff -r "$out" "$dest" && echo "vendor/uplot matches uplot@$version from npm"
else
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$out"/* "$dest/"
  echo "vendored uplot@$version into $dest"
fi
