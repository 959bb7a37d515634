#!/usr/bin/env bash
# Fetch the pinned front-end libraries from the npm registry into app/static/vendor/.
# Only the minified dist files the pages use are kept; the app never loads anything from a CDN.
# Usage: scripts/vendor_refresh.sh            (pinned versions below)
#        BOOTSTRAP_VERSION=5.3.9 CHARTJS_VERSION=4.5.1 scripts/vendor_refresh.sh
set -euo pipefail

BOOTSTRAP_VERSION="${BOOTSTRAP_VERSION:-5.3.8}"
CHARTJS_VERSION="${CHARTJS_VERSION:-4.5.1}"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/app/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fetch() {  # fetch <package> <version>: unpack the registry tarball into $WORK/<package>
  local pkg="$1" version="$2"
  (cd "$WORK" && npm pack --silent "$pkg@$version" >/dev/null)
  mkdir -p "$WORK/$pkg"
  tar -xzf "$WORK/$pkg-$version.tgz" -C "$WORK/$pkg" --strip-components=1
}

fetch bootstrap "$BOOTSTRAP_VERSION"
fetch chart.js "$CHARTJS_VERSION"

mkdir -p "$DEST"
# The source map comments point at files we do not ship; drop them so browsers do not ask for them.
strip_map() { sed -e 's|/\*# sourceMappingURL=.*\*/||' -e 's|//# sourceMappingURL=.*$||' "$1" > "$2"; }
strip_map "$WORK/bootstrap/dist/css/bootstrap.min.css" "$DEST/bootstrap.min.css"
strip_map "$WORK/bootstrap/dist/js/bootstrap.bundle.min.js" "$DEST/bootstrap.bundle.min.js"
strip_map "$WORK/chart.js/dist/chart.umd.min.js" "$DEST/chart.umd.min.js" 2>/dev/null \
  || strip_map "$WORK/chart.js/dist/chart.umd.js" "$DEST/chart.umd.min.js"
cp "$WORK/bootstrap/LICENSE" "$DEST/LICENSE-bootstrap.txt"
cp "$WORK/chart.js/LICENSE.md" "$DEST/LICENSE-chartjs.md"

sha() { sha256sum "$1" | cut -c1-16; }
cat > "$DEST/VERSIONS.md" <<NOTE
# Vendored front-end libraries

Served from \`/static/vendor/\` so the app works with no internet. Do not edit these files by hand.

| library | version | files | sha256 (first 16) |
| --- | --- | --- | --- |
| Bootstrap (npm \`bootstrap\`) | $BOOTSTRAP_VERSION | bootstrap.min.css | $(sha "$DEST/bootstrap.min.css") |
| | | bootstrap.bundle.min.js (includes Popper) | $(sha "$DEST/bootstrap.bundle.min.js") |
| Chart.js (npm \`chart.js\`) | $CHARTJS_VERSION | chart.umd.min.js | $(sha "$DEST/chart.umd.min.js") |

Licences: LICENSE-bootstrap.txt (MIT), LICENSE-chartjs.md (MIT).

## Refresh

\`\`\`
scripts/vendor_refresh.sh                                         # the pinned versions
BOOTSTRAP_VERSION=x.y.z CHARTJS_VERSION=x.y.z scripts/vendor_refresh.sh   # upgrade
\`\`\`

The script downloads the packages with \`npm pack\` from the npm registry, keeps only the minified dist
files above (source-map comments removed) and rewrites this note. Then update the pinned defaults at the
top of the script, reload every page and run \`make test\` (the browser tests cover each page).
NOTE
ls -l "$DEST"
