#!/usr/bin/env bash
# Rebuild kit/apps/static/vendor/kit-vega.min.js: Vega, Vega-Lite and Vega's CSP-safe expression
# interpreter in one browser script, from the npm registry (the dashboard page serves it itself;
# no CDN). Vega 6's npm package ships only ES modules for the browser (its UMD file is stale), so
# the three are bundled with esbuild. Versions: Vega-Lite as Altair's schema (altair.SCHEMA_VERSION).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/kit/apps/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund vega@6.3.0 vega-lite@6.4.1 vega-interpreter@2.3.2 esbuild@0.25
cp "$out/kit-vega.entry.js" entry.js
node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --target=es2020 \
  --legal-comments=eof --outfile="$out/kit-vega.min.js"
cp node_modules/vega/LICENSE "$out/LICENSE-vega"
cp node_modules/vega-lite/LICENSE "$out/LICENSE-vega-lite"
echo "wrote $out/kit-vega.min.js"
