#!/usr/bin/env bash
# Black-box tests of the video endpoints of `facerec serve` ($FR_FACEREC): the
# real server on a free loopback port with a temporary gallery, driven by curl.
#   POST /api/v1/video/recognize: lin-manuel-miranda.png enrolled through the
#     API, short_hamilton_clip.mp4 (275 frames) uploaded with every=3 -> 200, a
#     track named after him overlapping his close-up (frames 90-224), no track
#     named after him only inside the other shots; a raw body with max_frames;
#     0-byte, random bytes, truncated and corrupt mp4 -> 400 with code 21 and a stable
#     "reason"; a JSON body -> 415; over --max-video-body -> 413; every=0 -> 400;
#     once a key exists, no key -> 401.
#   --camera cam1=<the clip file> (+ an unreachable rtsp camera): GET
#     /api/v1/events returns cam1's track events with increasing seq, ?since and
#     ?camera filter, /metrics has the camera counters, the unreachable camera is
#     retried while the server keeps answering, SIGTERM with the monitors running
#     exits 0.
# Under ASan/UBSan builds any sanitizer report in the server's stderr fails.
set -u

. "$(dirname "$0")/../video/lib.sh"
FACE=$SHARED/data/samples/face_recognition/examples/lin-manuel-miranda.png
WHO=lin-manuel-miranda

for need in "$BIN" "$FR_MODELS_DIR" "$CLIP" "$FACE"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
for tool in curl jq head; do
  command -v $tool >/dev/null || { echo "$tool is needed (scripts/install-deps)" >&2; exit 1; }
done

. "$(dirname "$0")/lib.sh"

KEYH=()
# req ARGS...: curl with status in $CODE, body in $T/body.
req() {
  CODE=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 120 "${KEYH[@]}" "$@")
  BODY=$(cat "$T/body")
}
jfield() { jq -r "$1" <"$T/body" 2>/dev/null; }
VR=/api/v1/video/recognize

DB=$T/g.db
start_server a --db "$DB" --threads 2 --max-video-body 1M --max-video-frames 300

# ---- enrollment through the API ----
req -F "file=@$FACE" "$URL/api/v1/recognition/faces?subject=$WHO"
check "enroll $WHO" 201 "$CODE"

# ---- the clip, multipart, every=3 ----
req -F "file=@$CLIP;type=video/mp4" "$URL$VR?every=3"
check "video: status" 200 "$CODE"
cp "$T/body" "$T/clip.json"
check "video: summary.frames" 275 "$(jfield .summary.frames)"
check "video: summary.truncated" false "$(jfield .summary.truncated)"
check_match "video: execution_time_ms" '^[0-9]+(\.[0-9]+)?$' "$(jfield .execution_time_ms)"
# a track named after him overlapping his close-up
check "video: a $WHO track overlaps frames 90-224" true "$(jq --arg w "$WHO" \
  '[.events[] | select(.event == "track_end" and .subject == $w and .first_frame <= 224 and .last_frame >= 90)] | length > 0' \
  "$T/clip.json")"
# no track named after him lies only within the pianist (30-89) or the audience (225-274) shots
check "video: no $WHO track only inside other shots" 0 "$(jq --arg w "$WHO" \
  '[.events[] | select(.event == "track_end" and .subject == $w and
     ((.first_frame >= 30 and .last_frame <= 89) or .first_frame >= 225))] | length' "$T/clip.json")"
check "video: summary lists $WHO" true "$(jq --arg w "$WHO" \
  '[.summary.subjects[] | select(.subject == $w and .first_frame <= 224 and .last_frame >= 90)] | length > 0' \
  "$T/clip.json")"
# event shapes: every track starts (with a box) before it ends; identified carries a similarity
check "video: every track_end has its track_start first" true "$(jq '
  (reduce (.events | to_entries[] | select(.value.event == "track_start")) as $e ({};
     .[$e.value.track | tostring] = $e.key)) as $s |
  [.events | to_entries[] | select(.value.event == "track_end") | ($s[.value.track | tostring] // 1e9) < .key] | all' \
  "$T/clip.json")"
check "video: track_start fields" true "$(jq '[.events[] | select(.event == "track_start") |
  (.frame | type) == "number" and (.time | type) == "number" and (.box.w > 0) and (.box.h > 0)] | all' "$T/clip.json")"
check "video: identified fields" true "$(jq --arg w "$WHO" '[.events[] | select(.event == "identified")] |
  length > 0 and all(.subject == $w and .similarity > 0)' "$T/clip.json")"
check "video: tracks = track_start events" "$(jq '[.events[] | select(.event == "track_start")] | length' "$T/clip.json")" \
  "$(jq .summary.tracks "$T/clip.json")"

# ---- raw body, max_frames (over the server's cap of 300: capped) ----
req --data-binary "@$CLIP" -H 'Content-Type: video/mp4' "$URL$VR?max_frames=30&threshold=0.5"
check "raw video max_frames=30: status" 200 "$CODE"
check "raw video max_frames=30: frames" 30 "$(jfield .summary.frames)"
check "raw video max_frames=30: truncated" true "$(jfield .summary.truncated)"
req --data-binary "@$CLIP" -H 'Content-Type: application/octet-stream' "$URL$VR?max_frames=100000&every=50"
check "raw video max_frames over the cap: status" 200 "$CODE"
check "raw video max_frames over the cap: server cap" 275 "$(jfield .summary.frames)"

# ---- bad uploads ----
bad() { # bad DESCRIPTION STATUS REASON CURL-ARGS...
  local d=$1 st=$2 reason=$3
  shift 3
  req "$@"
  check "$d: status" "$st" "$CODE"
  check "$d: reason" "$reason" "$(jfield .reason)"
  check "$d: code" 21 "$(jfield .code)"
  check_match "$d: message" '.{10,}' "$(jfield .message)"
}
: >"$T/empty.mp4"
head -c 65536 /dev/urandom >"$T/random.bin"
head -c 300000 "$CLIP" >"$T/truncated.mp4"
bad "0-byte raw body" 400 empty_video --data-binary "@$T/empty.mp4" -H 'Content-Type: video/mp4' "$URL$VR"
bad "0-byte multipart file" 400 empty_video -F "file=@$T/empty.mp4" "$URL$VR"
bad "random bytes" 400 bad_video --data-binary "@$T/random.bin" -H 'Content-Type: application/octet-stream' "$URL$VR"
bad "truncated mp4" 400 bad_video -F "file=@$T/truncated.mp4" "$URL$VR"
cp "$CLIP" "$T/corrupt.mp4" && chmod u+w "$T/corrupt.mp4"
dd if=/dev/zero of="$T/corrupt.mp4" bs=1000 seek=200 count=200 conv=notrunc 2>/dev/null
bad "corrupt mp4 (zeros mid-stream)" 400 bad_video -F "file=@$T/corrupt.mp4" "$URL$VR?every=5"
bad "JSON body" 415 unsupported_media_type -H 'Content-Type: application/json' --data '{"file":"AAAA"}' "$URL$VR"
head -c 1200000 /dev/urandom >"$T/big.bin"
req --data-binary "@$T/big.bin" -H 'Content-Type: video/mp4' "$URL$VR"
check "over --max-video-body: status" 413 "$CODE"
check "over --max-video-body: code" too_large "$(jfield .code)"
req -F "file=@$CLIP" "$URL$VR?every=0"
check "every=0: status" 400 "$CODE"
check "every=0: code" 26 "$(jfield .code)"
req "$URL/healthz"
check "server alive after bad videos" 200 "$CODE"
req "$URL/api/v1/events"
check "events without cameras: body" '{"events":[],"next":0,"missed":0}' "$BODY"

# ---- keys: once one exists, no key -> 401 ----
KEY=$("$BIN" keys create --role recognize --db "$DB" | tail -1)
sleep 1.5 # the server reloads keys once a second
req -F "file=@$CLIP" "$URL$VR?max_frames=5"
check "no x-api-key: status" 401 "$CODE"
KEYH=(-H "x-api-key: $KEY")
req -F "file=@$CLIP" "$URL$VR?max_frames=5"
check "recognize key: status" 200 "$CODE"
stop_server a

# ---- camera monitors ----
start_server b --db "$DB" --threads 2 --camera "cam1=$CLIP" --camera-every 3 \
  --camera "dead=rtsp://127.0.0.1:9/none"
grep -q "2 camera monitors" "$T/b.out" || fail "no camera monitors line at start: $(cat "$T/b.out")"
got=0
for _ in $(seq 1 120); do # up to 60 s
  req "$URL/api/v1/events?camera=cam1"
  if [ "$CODE" = 200 ] && [ "$(jq '[.events[] | select(.event == "track_end")] | length' "$T/body")" -gt 0 ]; then
    got=1
    break
  fi
  sleep 0.5
done
check "cam1 events arrive (a track_end)" 1 "$got"
cp "$T/body" "$T/ev.json"
check "events: all cam1" true "$(jq '[.events[] | .camera == "cam1"] | all' "$T/ev.json")"
check "events: seq increasing" true "$(jq '[.events[].seq] as $s | [range(1; $s | length) | $s[.] > $s[. - 1]] | all' "$T/ev.json")"
check "events: next = last seq" "$(jq '.events[-1].seq' "$T/ev.json")" "$(jq .next "$T/ev.json")"
check_match "events: wall clock time" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$(jq -r '.events[0].time' "$T/ev.json")"
check "events: track_start first with video_time and box" true "$(jq '.events[0] | .event == "track_start" and
  (.video_time | type) == "number" and .box.w > 0' "$T/ev.json")"
NEXT=$(jq .next "$T/ev.json")
req "$URL/api/v1/events?since=$NEXT"
check "events ?since=next: status" 200 "$CODE"
check "events ?since=next: only newer" true "$(jq --argjson n "$NEXT" '[.events[].seq > $n] | all' "$T/body")"
req "$URL/api/v1/events?camera=nope"
check "events ?camera=nope: none" 0 "$(jfield '.events | length')"
req "$URL/api/v1/events?since=-1"
check "events ?since=-1: status" 400 "$CODE"
req "$URL/metrics"
check_match "metrics: cam1 frames" 'facerec_camera_frames_total\{camera="cam1"\} [1-9]' "$BODY"
check_match "metrics: dead camera errors" 'facerec_camera_errors_total\{camera="dead"\} [1-9]' "$BODY"
grep -q 'camera cam1 seq [0-9]* {"event":"track_start"' "$T/b.err" || fail "no cam1 event line in the log"
grep -q 'camera dead: .*retrying in' "$T/b.err" || fail "the unreachable camera is not retried in the log"
req "$URL/healthz"
check "server answers with an unreachable camera" 200 "$CODE"
stop_server b
[ "$STOP_MS" -lt 15000 ] || fail "SIGTERM with monitors running: stopped after $STOP_MS ms (over 15 s)"
echo "SIGTERM with monitors running: stopped in $STOP_MS ms"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
