#!/usr/bin/env bash
# Black-box tests of `facerec video` ($FR_FACEREC): Lin-Manuel Miranda's
# sample photo enrolled with `facerec enroll`, the Hamilton clip recognized
# with --json (detection every 2nd frame): he is identified during his
# close-up (frames 90-224 by eye), no track in the audience shot (225-274,
# the Obamas) or the piano shot (30-80) is called him, the events carry the
# documented fields, crops and the annotated video are written; the human
# output; and every error path (missing, empty, random bytes, truncated,
# unreachable stream, usage errors): exit status and message.
set -u

. "$(dirname "$0")/lib.sh"
for need in "$BIN" "$CLIP" "$LIN" "$FR_MODELS_DIR"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "jq is needed (scripts/install-deps)" >&2; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DB=$T/g.db

run 0 enroll --subject lin_manuel_miranda "$LIN" --db "$DB"

# ---- the clip, JSON events ----
run 0 video "$CLIP" --db "$DB" --json --every 2 --threads 2 --crops "$T/crops" --out "$T/ann.mp4"
EV=$T/events.jsonl
cp "$T/out" "$EV"
check "every line is an event object" jq -e -s 'length > 3 and all(.[]; has("event"))' "$EV" >/dev/null
check "events other than the summary carry track, frame, time" \
  jq -e -s '[.[] | select(.event != "summary")] | all(.[]; (.track|type)=="number" and (.frame|type)=="number" and (.time|type)=="number")' "$EV" >/dev/null
check "track_start has a box" \
  jq -e -s '[.[] | select(.event=="track_start")] | length > 0 and all(.[]; (.box|keys)==["h","w","x","y"])' "$EV" >/dev/null
check "track_end fields" \
  jq -e -s '[.[] | select(.event=="track_end")] | length > 0 and all(.[]; has("subject") and has("first_frame") and has("last_frame") and has("best_similarity") and (.frames|type)=="number" and .frames >= 1)' "$EV" >/dev/null
check "every track that starts ends" \
  jq -e -s '([.[] | select(.event=="track_start") | .track] | sort) == ([.[] | select(.event=="track_end") | .track] | sort)' "$EV" >/dev/null
check "Lin identified during his close-up (a track named him overlapping 90-224)" \
  jq -e -s '[.[] | select(.event=="track_end" and .subject=="lin_manuel_miranda" and .first_frame <= 224 and .last_frame >= 90 and .last_frame - .first_frame >= 60)] | length >= 1' "$EV" >/dev/null
check "an identified event for Lin with its similarity" \
  jq -e -s '[.[] | select(.event=="identified" and .subject=="lin_manuel_miranda" and .similarity > 0.3 and .frame <= 224)] | length >= 1' "$EV" >/dev/null
check "no Lin track in the audience shot (225-274)" \
  jq -e -s '[.[] | select(.event=="track_end" and .subject=="lin_manuel_miranda" and .last_frame >= 225)] | length == 0' "$EV" >/dev/null
check "no Lin track in the piano shot (30-80)" \
  jq -e -s '[.[] | select(.event=="track_end" and .subject=="lin_manuel_miranda" and .first_frame <= 80 and .last_frame >= 30)] | length == 0' "$EV" >/dev/null
check "the summary is last: 275 frames, tracks, Lin with frame ranges" \
  jq -e -s '.[-1] | .event=="summary" and .frames==275 and .tracks >= 1 and (.fps > 0) and (.subjects | map(.subject) == ["lin_manuel_miranda"]) and (.subjects[0].ranges | length >= 1) and (.subjects[0].ranges | any(.[0] <= 224 and .[1] >= 90))' "$EV" >/dev/null
check "summary track count = tracks started" \
  jq -e -s '(.[-1].tracks) == ([.[] | select(.event=="track_start")] | length)' "$EV" >/dev/null
check "a crop of Lin saved" bash -c "ls '$T'/crops/lin_manuel_miranda/*_*.jpg >/dev/null 2>&1"
first_crop=$(ls "$T"/crops/lin_manuel_miranda/*.jpg 2>/dev/null | head -1)
check "the crop is a JPEG" bash -c "[ -n '$first_crop' ] && [ \"\$(head -c 3 '$first_crop' | od -An -tx1 | tr -d ' ')\" = ffd8ff ]"
check "crop paths in track_end events exist" \
  bash -c "jq -r 'select(.event==\"track_end\" and .crop != null) | .crop' '$EV' | while read -r p; do [ -s \"\$p\" ] || exit 1; done"
check "the annotated video exists" test -s "$T/ann.mp4"
check "events do not depend on the thread count" bash -c \
  "'$BIN' video '$CLIP' --db '$DB' --json --every 2 --threads 1 | jq -c 'select(.event != \"summary\") | del(.crop)' > '$T/ev1' && jq -c 'select(.event != \"summary\") | del(.crop)' '$EV' | cmp -s - '$T/ev1'"

# ---- human-readable output, --max-frames ----
run 0 video "$CLIP" --db "$DB" --max-frames 30 --threads 1
check "human lines: track starts and the summary" \
  bash -c "grep -q 'track 1 starts' '$T/out' && grep -q '^30 frames (640x360)' '$T/out'"
check "no progress line when stderr is not a terminal" bash -c "! grep -q fps '$T/err'"

# ---- errors ----
run 1 video "$T/missing.mp4" --db "$DB"
check "missing file: message" grep -q "missing.mp4: no such file" "$T/err"
: >"$T/empty.mp4"
run 1 video "$T/empty.mp4" --db "$DB"
check "empty file: message" grep -q "empty file" "$T/err"
head -c 100000 /dev/urandom >"$T/random.mp4"
run 1 video "$T/random.mp4" --db "$DB"
check "random bytes: message names the file" grep -q "random.mp4" "$T/err"
head -c 300000 "$CLIP" >"$T/cut.mp4"
run 1 video "$T/cut.mp4" --db "$DB"
check "truncated: message" grep -q "cut.mp4: not a video file or corrupt" "$T/err"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo 9)
start=$(date +%s)
run 1 video "rtsp://127.0.0.1:$port/x" --db "$DB" --reconnect 0
check "unreachable stream: message" grep -q "rtsp://127.0.0.1:$port/x: cannot open" "$T/err"
check "unreachable stream: no hang" test $(($(date +%s) - start)) -lt 30
run 2 video "$CLIP" --db "$DB" --every 0
run 2 video --db "$DB"
run 2 video "$CLIP" "$CLIP" --db "$DB"
run 2 video "$CLIP" --bogus
run 1 video "$CLIP" --db "$T/no-such.db"
run 0 video --help
check "--help lists the options" bash -c "grep -q -- '--realtime' '$T/out' && grep -q -- '--every N' '$T/out'"
run 0 help video

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
