#!/usr/bin/env bash
# `facerec video` on live-like sources, black box ($FR_FACEREC), loopback only:
#  - --realtime on a file reads it at its own frame rate (45 frames of the
#    29.97 fps clip take about 1.5 s) and accounts for every frame
#    (processed + dropped); the summary has "reconnects": 0;
#  - an http:// source served by a tiny python3 server that cuts the first
#    response half-way and serves the whole file the next time (a Matroska copy
#    of the clip, which streams without seeking): the run
#    reconnects once ("reconnects": 1, the human summary says so), goes on and
#    ends at the stream's plain end with exit status 0;
#  - an http:// URL on a closed port: exit status 1 after --reconnect N
#    attempts, a message that says so, in bounded time.
set -u

. "$(dirname "$0")/lib.sh"
for need in "$BIN" "$CLIP" "$LIN" "$FR_MODELS_DIR"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "jq is needed (scripts/install-deps)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

T=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
DB=$T/g.db

summary() { jq -c 'select(.event == "summary")' "$T/out"; }

run 0 enroll --subject lin_manuel_miranda "$LIN" --db "$DB"

# ---- --realtime on a file: paced at the clip's frame rate ----
run 0 video "$CLIP" --db "$DB" --json --realtime --threads 1 --max-frames 45
S=$(summary)
echo "realtime file: $S"
check "realtime: 45 frames, each processed or dropped, no reconnection" \
  jq -e '.frames == 45 and .frames_processed + .frames_dropped == 45 and .reconnects == 0' <<<"$S"
check "realtime: paced (45 frames at 29.97 fps is 1.47 s), not much slower" \
  jq -e '.seconds >= 1.3 and .seconds < 8' <<<"$S"

# ---- an http stream cut half-way, then served whole ----
run 0 video "$CLIP" --db "$DB" --max-frames 90 --threads 2 --out "$T/clip.mkv"
check "the Matroska copy exists" test -s "$T/clip.mkv"
cat >"$T/server.py" <<'EOF'
import http.server, socketserver, sys
data = open(sys.argv[1], "rb").read()
requests = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global requests
        requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/x-matroska")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # odd answers (the first of each run) stop half-way: the connection closes early
        n = len(data) // 2 if requests % 2 == 1 else len(data)
        try:
            self.wfile.write(data[:n])
        except OSError:
            pass
        with open(sys.argv[2] + ".requests", "w") as f:
            f.write(str(requests))
    def log_message(self, *a):
        pass
with socketserver.TCPServer(("127.0.0.1", 0), H) as s:
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(s.server_address[1]))
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    s.serve_forever()
EOF
python3 "$T/server.py" "$T/clip.mkv" "$T/port" &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port" 2>/dev/null)
check "the test server is up" test -n "$PORT"
run 0 video "http://127.0.0.1:$PORT/clip.mkv" --db "$DB" --json --threads 2 --reconnect 3
S=$(summary)
echo "http cut half-way: $S ($SECS s)"
check "http: reconnected once, then ended at the stream's end" jq -e '.reconnects == 1' <<<"$S"
check "http: part of the first pass, then the 90 frames" jq -e '.frames > 100 and .frames < 180 and .frames_processed == .frames' <<<"$S"
check "http: Lin named" jq -e '.subjects | map(.subject) == ["lin_manuel_miranda"]' <<<"$S"
check "http: two requests" test "$(cat "$T/port.requests" 2>/dev/null)" = 2
check "http: event frames never go back" \
  jq -e -s '[.[] | select(.event != "summary") | .frame] as $f | [range(1; $f | length) | $f[.] >= $f[. - 1]] | all' "$T/out"
rm -f "$T/port.requests"
run 0 video "http://127.0.0.1:$PORT/clip.mkv" --db "$DB" --threads 2 --reconnect 3
check "http, human summary: one reconnection" grep -q "1 reconnection" "$T/out"
kill "$SERVER_PID" 2>/dev/null
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=

# ---- a closed port: gives up after --reconnect attempts ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
run 1 video "http://127.0.0.1:$port/x" --db "$DB"
check "closed port, not --realtime: at once" secs_within 0 10
check "closed port, not --realtime: no retries" bash -c "! grep -q 'gave up' '$T/err'"
check "closed port, not --realtime: message" grep -q "http://127.0.0.1:$port/x: cannot open" "$T/err"
run 1 video "http://127.0.0.1:$port/x" --db "$DB" --reconnect 2 --realtime
echo "closed port: $(cat "$T/err") ($SECS s)"
check "closed port: message" grep -q "http://127.0.0.1:$port/x: cannot open.*gave up after 2 reconnection attempts" "$T/err"
check "closed port: back-off 0.5 + 1 s, bounded" secs_within 1.4 20
run 1 video "http://127.0.0.1:$port/x" --db "$DB" --reconnect 0 --realtime
check "closed port, --reconnect 0: at once" secs_within 0 10
check "closed port, --reconnect 0: no retries" bash -c "! grep -q 'gave up' '$T/err'"

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
