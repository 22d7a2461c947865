#!/usr/bin/env bash
# The official CompreFace JS SDK (@exadel/compreface-js-sdk, from npm) against a
# real `facerec serve` on a loopback port: every SDK call, with real face images
# (tests/http/compreface_sdk_driver.mjs asserts the results).
# The SDK is installed once into $FR_SOURCE_DIR/.cache/compreface-sdk (gitignored).
# Skipped (exit 0, with a message) only when the npm registry cannot be reached.
set -u
SRC=${FR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${FR_SHARED_DIR:-$SRC/../shared}
FACEREC=${FR_FACEREC:-$SRC/build/facerec}
IMAGES=$SHARED/data/samples/face-api.js/examples/images
CACHE=$SRC/.cache/compreface-sdk
SDK_VERSION=1.0.0

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is not installed"
command -v npm >/dev/null || fail "npm is not installed"
[ -x "$FACEREC" ] || fail "no facerec binary at $FACEREC"
[ -d "$IMAGES" ] || fail "no sample images at $IMAGES"

# --- the SDK, installed once (a lock keeps parallel runs from racing) ---
SDK_INDEX=$CACHE/node_modules/@exadel/compreface-js-sdk/index.js
mkdir -p "$CACHE"
(
  flock -w 300 9 || exit 3
  if [ ! -f "$SDK_INDEX" ]; then
    [ -f "$CACHE/package.json" ] || echo '{"name":"fr-sdk-cache","private":true}' > "$CACHE/package.json"
    if ! timeout 300 npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error \
        "@exadel/compreface-js-sdk@$SDK_VERSION" >"$CACHE/install.log" 2>&1; then
      if ! timeout 30 npm ping >/dev/null 2>&1; then exit 2; fi
      cat "$CACHE/install.log" >&2
      exit 1
    fi
  fi
) 9>"$CACHE/.lock"
case $? in
  0) ;;
  2) echo "SKIP: the npm registry is unreachable; cannot install @exadel/compreface-js-sdk"; exit 0 ;;
  *) fail "npm install @exadel/compreface-js-sdk@$SDK_VERSION failed" ;;
esac
[ -f "$SDK_INDEX" ] || fail "SDK not found at $SDK_INDEX after install"

# --- a server on a free loopback port, with an admin and a recognize key ---
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
DB=$TMP/facerec.db
export FR_MODELS_DIR=${FR_MODELS_DIR:-$SRC/models}
ADMIN_KEY=$("$FACEREC" keys create --role admin --db "$DB" | awk 'END {print $NF}')
RECOGNIZE_KEY=$("$FACEREC" keys create --role recognize --db "$DB" | awk 'END {print $NF}')
[ -n "$ADMIN_KEY" ] && [ -n "$RECOGNIZE_KEY" ] || fail "facerec keys create printed no key"

"$FACEREC" serve --listen 127.0.0.1:0 --db "$DB" --threads 2 --quiet >"$TMP/out" 2>"$TMP/err" &
SERVER_PID=$!
BASE=
for _ in $(seq 1 600); do
  BASE=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/out" 2>/dev/null | head -1 | sed 's/listening on //')
  [ -n "$BASE" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/err" >&2; fail "facerec serve exited"; }
  sleep 0.1
done
[ -n "$BASE" ] || { cat "$TMP/err" >&2; fail "facerec serve did not start within 60 s"; }
PORT=${BASE##*:}
echo "server at $BASE"

SDK_INDEX=$SDK_INDEX FR_URL=http://127.0.0.1 FR_PORT=$PORT ADMIN_KEY=$ADMIN_KEY \
  RECOGNIZE_KEY=$RECOGNIZE_KEY IMAGES=$IMAGES \
  timeout 300 node "$SRC/tests/http/compreface_sdk_driver.mjs"
rc=$?
if [ $rc -ne 0 ]; then
  echo "--- server stderr (tail) ---" >&2
  tail -n 30 "$TMP/err" >&2
  fail "SDK driver failed (exit $rc)"
fi
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the test"
echo "PASS: CompreFace JS SDK $SDK_VERSION against facerec serve"
