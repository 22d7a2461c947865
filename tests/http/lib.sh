# Sourced by the HTTP black-box tests (test_server.sh, test_video_api.sh):
#   $T                              a temporary folder; it and every server started are gone on exit
#   fail MESSAGE                    counts a failure in $fails
#   check DESCRIPTION EXPECTED ACTUAL, check_match DESCRIPTION REGEX ACTUAL   count in $checks
#   start_server NAME ARGS...       facerec serve --listen 127.0.0.1:0 ARGS on a free port, stdout in
#                                   $T/NAME.out, stderr in $T/NAME.err; sets SPID, PORT, URL once
#                                   /healthz answers
#   stop_server NAME                SIGTERM: exit 0 within 40 s with the "stopped" line and no
#                                   sanitizer report; sets STOP_MS
#   sanitizer_check NAME            an ASan/UBSan report in $T/NAME.err fails
# Needs BIN (the facerec binary).
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}
check() {
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
check_match() {
  checks=$((checks + 1))
  [[ $3 =~ $2 ]] || fail "$1: '${3:0:300}' does not match /$2/"
}

start_server() {
  local name=$1
  shift
  "$BIN" serve --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  SPID=$!
  PIDS+=("$SPID")
  PORT=
  for _ in $(seq 1 600); do # up to 60 s (model loading under sanitizers)
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/$name.out" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then
    echo "server $name did not start:" >&2
    cat "$T/$name.out" "$T/$name.err" >&2
    exit 1
  fi
  URL=http://127.0.0.1:$PORT
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] && return 0
    sleep 0.1
  done
  echo "server $name: /healthz never answered" >&2
  exit 1
}

sanitizer_check() {
  if grep -qE "Sanitizer|runtime error:" "$T/$1.err"; then
    fail "$1: sanitizer report:"
    grep -m1 -A30 -E "Sanitizer|runtime error:" "$T/$1.err" >&2
  fi
}

stop_server() {
  local name=$1 rc t0
  t0=$(date +%s%N)
  kill -TERM "$SPID"
  for _ in $(seq 1 400); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  wait "$SPID"
  rc=$?
  STOP_MS=$((($(date +%s%N) - t0) / 1000000))
  check "$name: exit status after SIGTERM" 0 "$rc"
  grep -q "facerec serve: stopped" "$T/$name.err" || fail "$name: no 'stopped' line"
  sanitizer_check "$name"
}
