#!/usr/bin/env bash
# Manual check (not part of .ci/run): runs Bonsai's admin console
# (utter-one/bonsai-console) in headless Chromium against `switchboard serve
# --demo` and checks every console page that concerns what Switchboard does.
#
#   scripts/console-check/run.sh [--commit REF] [--repo GITDIR] [--dist DIR] [--out DIR]
#
#   --repo GITDIR  a clone (bare or not) of utter-one/bonsai-console
#                  (default $BONSAI_CONSOLE_REPO, else /work/.mirror/utter-one+bonsai-console/repo)
#   --commit REF   the console commit to build (default HEAD of that clone)
#   --dist DIR     an already built console (its Vite dist/, built without
#                  VITE_API_BASE_URL) instead of building one
#   --out DIR      where results.json, screenshots and logs go (default a temp dir)
#
# Needs: go, node (>= 18) and npm (reaching the npm registry, for the console's
# dependencies and puppeteer-core; no browser is downloaded), and Chromium
# ($CHROMIUM, default /usr/bin/chromium). Builds are cached by commit under
# ${XDG_CACHE_HOME:-~/.cache}/switchboard-console-check. Every wait is bounded;
# the whole run stops by itself. Prints a table of pages and exits non-zero if
# a page that should work does not (see check.mjs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

repo="${BONSAI_CONSOLE_REPO:-/work/.mirror/utter-one+bonsai-console/repo}"
commit="HEAD"
dist=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo="$2"; shift 2 ;;
    --commit) commit="$2"; shift 2 ;;
    --dist) dist="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "console-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
for tool in go node npm git curl; do
  command -v "$tool" >/dev/null || { echo "console-check: $tool is needed" >&2; exit 2; }
done
[ -x "$CHROMIUM" ] || { echo "console-check: no Chromium at $CHROMIUM (set CHROMIUM)" >&2; exit 2; }

work="$(mktemp -d /tmp/switchboard-console-check.XXXXXX)"
out="${out:-$work/out}"
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Keep the results (under $work when no --out was given), drop the rest.
  case "$out" in
    "$work"/*) rm -rf "$work/db" "$work/switchboard" ;;
    *) rm -rf "$work" ;;
  esac
}
trap cleanup EXIT

# A free TCP port on loopback, from the kernel.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# --- The console: build it (cached by commit) or take a built dist/ ----------
if [ -z "$dist" ]; then
  sha="$(git -C "$repo" rev-parse --verify "$commit^{commit}")"
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-console-check/$sha"
  if [ ! -f "$cache/dist/index.html" ]; then
    echo "console-check: building bonsai-console ${sha:0:7} in $cache"
    rm -rf "$cache"; mkdir -p "$cache/src"
    git -C "$repo" archive "$sha" | tar -x -C "$cache/src"
    # npm ci: the console's own lock file; no install scripts (esbuild's
    # binary comes as an optional dependency). vite build alone: the
    # console's `npm run build` also type-checks and builds its docs site,
    # which the check does not need. The API address is left at the
    # console's default; static.mjs points it at the server.
    (cd "$cache/src" && timeout 600 npm ci --no-audit --no-fund --ignore-scripts >"$cache/npm.log" 2>&1) \
      || { echo "console-check: npm ci failed, see $cache/npm.log" >&2; exit 1; }
    (cd "$cache/src" && env -u VITE_API_BASE_URL timeout 600 npx --no-install vite build --outDir "$cache/dist" >"$cache/build.log" 2>&1) \
      || { echo "console-check: vite build failed, see $cache/build.log" >&2; exit 1; }
    rm -rf "$cache/src/node_modules"
  fi
  dist="$cache/dist"
  echo "$sha" >"$out/console-commit"
fi
[ -f "$dist/index.html" ] || { echo "console-check: $dist has no index.html" >&2; exit 2; }

# --- The driver's dependency (puppeteer-core, no browser download) -----------
if [ ! -d "$here/node_modules/puppeteer-core" ]; then
  (cd "$here" && PUPPETEER_SKIP_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --ignore-scripts >"$work/npm-driver.log" 2>&1) \
    || { echo "console-check: npm ci in $here failed, see $work/npm-driver.log" >&2; exit 1; }
fi

# --- Switchboard: serve --demo on a fresh SQLite database --------------------
(cd "$root" && go build -o "$work/switchboard" ./cmd/switchboard)
sb_port="$(free_port)"; console_port="$(free_port)"; phone_port="$(free_port)"
while [ "$console_port" = "$sb_port" ]; do console_port="$(free_port)"; done
while [ "$phone_port" = "$sb_port" ] || [ "$phone_port" = "$console_port" ]; do phone_port="$(free_port)"; done
api="http://127.0.0.1:$sb_port"
console_url="http://127.0.0.1:$console_port"
mkdir -p "$work/db"
env -i PATH="$PATH" HOME="$work" \
  DATABASE_URL="sqlite:$work/db/switchboard.db" \
  SWITCHBOARD_ADDR="127.0.0.1:$sb_port" \
  PHONE_ADDR="127.0.0.1:$phone_port" \
  METRICS_ADDR=off \
  CORS_ALLOWED_ORIGINS="$console_url" \
  "$work/switchboard" serve --demo >"$out/switchboard.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$api/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$api/readyz" >/dev/null || { echo "console-check: switchboard did not become ready in 20 s; see $out/switchboard.log" >&2; tail -20 "$out/switchboard.log" >&2; exit 1; }

# Conversations to look at: three handsets text the demo line (scripted
# replies); the phone emulator exits after the reply (bounded by --timeout).
for from in +15550001111 +15550002222 +15550003333; do
  "$work/switchboard" phone --server "$api" --listen "127.0.0.1:$phone_port" --from "$from" --send "hi" --wait --timeout 20s >>"$out/phone.log" 2>&1 \
    || { echo "console-check: the demo line did not answer $from; see $out/phone.log" >&2; exit 1; }
done
"$work/switchboard" phone --server "$api" --listen "127.0.0.1:$phone_port" --from +15550001111 --send "about" --wait --timeout 20s >>"$out/phone.log" 2>&1 \
  || { echo "console-check: the demo line did not answer a second text; see $out/phone.log" >&2; exit 1; }
# A finished conversation: a fourth handset says hi, then opts out (STOP
# ends its conversation; no reply is sent, so no --wait).
"$work/switchboard" phone --server "$api" --listen "127.0.0.1:$phone_port" --from +15550004444 --send "hi" --wait --timeout 20s >>"$out/phone.log" 2>&1 \
  || { echo "console-check: the demo line did not answer +15550004444; see $out/phone.log" >&2; exit 1; }
"$work/switchboard" phone --server "$api" --listen "127.0.0.1:$phone_port" --from +15550004444 --send "STOP" >>"$out/phone.log" 2>&1 \
  || { echo "console-check: STOP from +15550004444 failed; see $out/phone.log" >&2; exit 1; }

# --- The console, served as static files --------------------------------------
node "$here/static.mjs" "$dist" "$console_port" "$api" >"$out/static.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS "$console_url/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$console_url/" >/dev/null || { echo "console-check: the static server did not start; see $out/static.log" >&2; exit 1; }

# --- The browser ---------------------------------------------------------------
echo "console-check: console $console_url, switchboard $api, results in $out"
set +e
CONSOLE_URL="$console_url" API_URL="$api" OUT="$out" timeout 1500 node "$here/check.mjs"
rc=$?
set -e
[ $rc -eq 124 ] && echo "console-check: the browser run exceeded 15 minutes" >&2
exit $rc
