# Sourced by the video shell tests (tests/video/*.sh, tests/http/test_video_api.sh):
# where things are, and the check / run helpers of the black-box tests.
#   BIN, SRC, SHARED, FR_MODELS_DIR (exported), CLIP (the Hamilton clip), LIN (his photo)
#   check DESCRIPTION CONDITION-COMMAND...   counts in $checks, failures in $fails
#   run EXPECTED_RC ARGS...                  facerec ARGS: stdout in $T/out, stderr in
#                                            $T/err, seconds in $SECS; a wrong exit fails
#   secs_within LO HI                        LO <= $SECS < HI (awk: bc is not in every Debian)
BIN=${FR_FACEREC:-./facerec}
SRC=${FR_SOURCE_DIR:-.}
SHARED=${FR_SHARED_DIR:-$SRC/../shared}
export FR_MODELS_DIR=${FR_MODELS_DIR:-$SRC/models}
CLIP=$SHARED/data/videos/short_hamilton_clip.mp4
LIN=$SHARED/data/samples/face_recognition/examples/lin-manuel-miranda.png
fails=0
checks=0

check() {
  local desc=$1
  shift
  checks=$((checks + 1))
  if ! "$@"; then
    echo "FAIL: $desc" >&2
    fails=$((fails + 1))
  fi
}

run() {
  local want=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  checks=$((checks + 1))
  if [ "$rc" != "$want" ]; then
    echo "FAIL: facerec $* exited $rc, expected $want; stderr:" >&2
    head -5 "$T/err" >&2
    fails=$((fails + 1))
  fi
}

secs_within() { awk -v s="$SECS" -v lo="$1" -v hi="$2" 'BEGIN { exit !(s >= lo && s < hi) }'; }
