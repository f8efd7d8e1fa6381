#!/usr/bin/env bash
# Fetches NiiVue from the npm registry and copies its browser-ready ES module build into
# static/vendor/niivue/, so the registry serves it itself (clinics run on closed networks: no CDN).
# The result is committed; `make run` needs no npm. Run this only to update NiiVue:
#
#   scripts/vendor_niivue.sh            # the pinned version below
#   scripts/vendor_niivue.sh 0.70.0     # another version (then run the browser test:
#                                       #   .venv/bin/python -m pytest tests/imaging/test_viewer.py)
#
# What is copied: dist/index.js of @niivue/niivue, a single-file ES module with all of its
# dependencies (and their WebAssembly) inlined; it imports nothing, so it loads offline. It is
# copied byte for byte (as niivue.js; its sha256 is in VERSION). The package ships no LICENSE
# file, so NiiVue's BSD-2-Clause text is written from below; the licences of the packages bundled
# into the build (listed in the package's dist/metafile-esm.json) go to THIRD_PARTY_LICENSES.
# Needs node and npm; only the npm registry is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${1:-0.69.0}
PKG=@niivue/niivue
DEST=static/vendor/niivue
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "vendor_niivue: $PKG@$VERSION"
npm pack --silent "$PKG@$VERSION" --pack-destination "$TMP" >/dev/null
tar -xzf "$TMP"/niivue-niivue-"$VERSION".tgz -C "$TMP"
SRC="$TMP/package/dist/index.js"
test -f "$SRC" || { echo "vendor_niivue: $PKG@$VERSION has no dist/index.js; look at its dist/ by hand" >&2; exit 1; }

# The copy must be self-contained: no static `import ... from "..."`, no dynamic import(), no Worker.
if grep -nE '^\s*import\s.*from\s*["'\'']|^\s*import\s*["'\'']|\bimport\(\s*["'\''`]|new Worker\(' "$SRC" | head -5 | grep -q .; then
  echo "vendor_niivue: dist/index.js imports other files; copy those too before using this version:" >&2
  grep -nE '^\s*import\s.*from\s*["'\'']|^\s*import\s*["'\'']|\bimport\(\s*["'\''`]|new Worker\(' "$SRC" | head -5 >&2
  exit 1
fi

# Licences of the npm packages bundled into dist/index.js.
BUNDLED=$(node -e '
  const m = require(process.argv[1]);
  const n = (o) => Object.keys(o.inputs || {}).length;
  const out = Object.values(m.outputs).reduce((a, b) => (n(b) > n(a) ? b : a));
  const names = new Set();
  for (const k of Object.keys(out.inputs)) {
    const hit = k.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
    if (hit) names.add(hit[1]);
  }
  console.log([...names].sort().join("\n"));
' "$TMP/package/dist/metafile-esm.json")
mkdir -p "$TMP/deps"
(cd "$TMP/deps" && npm install --silent --ignore-scripts --omit=optional --omit=dev --no-audit --no-fund \
  --no-save --no-package-lock "$PKG@$VERSION" >/dev/null)

rm -rf "$DEST"
mkdir -p "$DEST"
cp "$SRC" "$DEST/niivue.js"

cat >"$DEST/LICENSE" <<'EOF'
BSD 2-Clause License

Copyright (c) 2021, Niivue
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
EOF
# If a later version ships its own licence file, it wins over the text above.
for f in LICENSE LICENSE.md LICENSE.txt license; do
  if [ -f "$TMP/package/$f" ]; then cp "$TMP/package/$f" "$DEST/LICENSE"; break; fi
done

{
  echo "Licences of the npm packages bundled into niivue.js ($PKG@$VERSION dist/index.js),"
  echo "as installed by scripts/vendor_niivue.sh."
  for name in $BUNDLED; do
    dir="$TMP/deps/node_modules/$name"
    ver=$(node -p 'const p = require(process.argv[1]); p.version + " (" + p.license + ")"' "$dir/package.json" 2>/dev/null || echo "?")
    echo
    echo "================================================================================"
    echo "$name $ver"
    echo "================================================================================"
    lic=$(find "$dir" -maxdepth 1 -type f -iname 'licen[cs]e*' | head -1)
    if [ -n "$lic" ]; then cat "$lic"; else echo "(the package ships no licence file; see its package.json)"; fi
  done
} >"$DEST/THIRD_PARTY_LICENSES"

{
  echo "$PKG $VERSION"
  echo "file niivue.js = package/dist/index.js (unmodified)"
  echo "npm-integrity $(npm view "$PKG@$VERSION" dist.integrity)"
  echo "sha256 $(sha256sum "$DEST/niivue.js" | cut -d' ' -f1)  niivue.js"
  echo "updated-by scripts/vendor_niivue.sh $VERSION"
} >"$DEST/VERSION"

du -sh "$DEST"
ls -l "$DEST"
