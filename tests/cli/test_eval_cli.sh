#!/usr/bin/env bash
# Black-box checks of facerec eval pairs / wider / lfw on small inputs (a few
# seconds): exact JSON shapes, numbers that follow from the inputs, path
# resolution, and the error paths (exit status 2 for usage, 1 for bad files,
# messages naming the file and line).
set -u

BIN=${FR_FACEREC:-./facerec}
SRC=${FR_SOURCE_DIR:-.}
SHARED=${FR_SHARED_DIR:-$SRC/../shared}
export FR_MODELS_DIR=${FR_MODELS_DIR:-$SRC/models}
FRS=$SHARED/data/samples/face_recognition
LFW=$SHARED/data/lfw-view1
WIDER=$SHARED/data/wider-dev

for need in "$BIN" "$FR_MODELS_DIR/faceplugin/fr_detect.onnx" "$FRS/pairs.csv" "$LFW/images" \
  "$WIDER/boxes.csv"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "jq is needed (scripts/install-deps)" >&2; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

pass() { echo "ok   $1"; }
fail() { echo "FAIL $1" >&2; fails=$((fails + 1)); }
check() { # check DESCRIPTION JQ_FILTER FILE
  if [ "$(jq -e "$2" "$3" 2>&1)" = true ]; then pass "$1"; else fail "$1 ($(cat "$3"))"; fi
}
expect_fail() { # expect_fail DESCRIPTION EXIT_CODE STDERR_SUBSTRING COMMAND...
  local desc=$1 code=$2 msg=$3
  shift 3
  "$@" >"$T/o" 2>"$T/e"
  local rc=$?
  if [ $rc -eq "$code" ] && grep -qF -- "$msg" "$T/e"; then pass "$desc"
  else fail "$desc: exit $rc, stderr: $(cat "$T/e")"; fi
}

# ---- eval pairs: the face_recognition sample (obama x2 same, obama/biden different)
"$BIN" eval pairs --pairs "$FRS/pairs.csv" --json >"$T/p.json" 2>"$T/e" || fail "eval pairs: $(cat "$T/e")"
check "pairs: exactly the issue's fields" \
  '(keys | sort) == ["accuracy","false_accepts","false_rejects","pairs"]' "$T/p.json"
check "pairs: 3 pairs, all right at the default threshold" \
  '.pairs == 3 and .accuracy == 1 and .false_accepts == 0 and .false_rejects == 0' "$T/p.json"
# face-api.js' own pairs (its 8 Big Bang Theory people, 5 crops each: 780 pairs) at the default threshold:
# the issue's goal for peers' verification pairs is >= 0.98 (measured: 1.0)
FAPI=$SHARED/data/samples/face-api.js
"$BIN" eval pairs --pairs "$FAPI/pairs_derived_from_folder_labels.csv" --root "$FAPI" --json >"$T/pf.json" 2>"$T/e" ||
  fail "eval pairs (face-api.js): $(cat "$T/e")"
check "pairs: face-api.js' 780 pairs at the default threshold, accuracy >= 0.98 (the issue's goal)" \
  '.pairs == 780 and .accuracy >= 0.98' "$T/pf.json"

# quoted fields, header in another order, extra column, --root, and a pair with
# an image without a face (a wrong decision whatever the threshold): a flat grey
# 64x64 BMP made here
NOFACE=$T/grey.bmp
{
  printf 'BM\x36\x30\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00'
  printf '\x28\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00'
  printf '\x00\x30\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
  head -c 12288 /dev/zero | tr '\0' '\200'
} >"$NOFACE"
cat >"$T/p.csv" <<EOF
same,path_b,note,path_a
1,"tests/test_images/obama2.jpg","a, quoted note",tests/test_images/obama.jpg
false,tests/test_images/biden.jpg,,tests/test_images/obama.jpg
0,$NOFACE,no face,tests/test_images/biden.jpg
EOF
"$BIN" eval pairs --pairs "$T/p.csv" --root "$FRS" --json >"$T/p2.json" 2>"$T/e" || fail "eval pairs --root: $(cat "$T/e")"
check "pairs: the no-face pair is a false accept" \
  '.pairs == 3 and .false_accepts == 1 and .false_rejects == 0 and ((.accuracy - 2/3) | fabs) < 1e-6' "$T/p2.json"
"$BIN" eval pairs --pairs "$T/p.csv" --root "$FRS" --threshold 1 --json >"$T/p3.json" 2>"$T/e"
check "pairs: --threshold 1 rejects the same pair" '.false_rejects == 1 and .false_accepts == 1' "$T/p3.json"

printf 'path_a,path_b,same\na.jpg,b.jpg,maybe\n' >"$T/bad.csv"
expect_fail "pairs: bad 'same' names file and line" 1 "bad.csv:2: 'same' must be" \
  "$BIN" eval pairs --pairs "$T/bad.csv"
printf 'path_a,path_b,same\nmissing_a.jpg,missing_b.jpg,1\n' >"$T/missing.csv"
expect_fail "pairs: a missing image is an error naming it" 1 "missing_a.jpg" \
  "$BIN" eval pairs --pairs "$T/missing.csv"
expect_fail "pairs: --pairs is required" 2 "needs --pairs" "$BIN" eval pairs
expect_fail "pairs: --threshold out of range" 2 "--threshold" "$BIN" eval pairs --pairs "$FRS/pairs.csv" --threshold 3

# ---- eval wider: the first 4 images
"$BIN" eval wider --gt "$WIDER/boxes.csv" --limit 4 --json >"$T/w.json" 2>"$T/e" || fail "eval wider: $(cat "$T/e")"
check "wider: exactly the issue's fields" \
  '(keys | sort) == ["ap_easy","ap_hard","ap_medium","images","ms_per_image"]' "$T/w.json"
check "wider: 4 images, APs are fractions, hard <= medium-ish sanity" \
  '.images == 4 and ([.ap_easy, .ap_medium, .ap_hard] | all(. >= 0 and . <= 1)) and .ap_medium > 0.2 and .ms_per_image > 0' \
  "$T/w.json"
# the whole dev half (197 images): the issue's goals, AP 0.88 / 0.86 / 0.72 and recall of faces >= 40 px
# 0.95 (measured 0.888 / 0.869 / 0.752, recall 0.962 at score >= 0.05); the text output has them all
"$BIN" eval wider --gt "$WIDER/boxes.csv" >"$T/wall.txt" 2>"$T/e" || fail "eval wider (all): $(cat "$T/e")"
if awk '/^images /{n=$2} /^AP easy/{e=$3} /^AP medium/{m=$3} /^AP hard/{h=$3}
        /^recall >= 40 px/{r=$5; s=$(NF-3)}
        END{exit !(n == 197 && e >= 0.88 && m >= 0.86 && h >= 0.72 && r >= 0.95 && s == "0.05,")}' "$T/wall.txt"; then
  pass "wider: 197 images, AP >= 0.88 / 0.86 / 0.72, recall of faces >= 40 px >= 0.95 (the issue's goals)"
else fail "wider: the issue's goals: $(cat "$T/wall.txt")"; fi
# --images DIR naming the images folder itself: paths "images/..." resolve inside it
"$BIN" eval wider --gt "$WIDER/boxes.csv" --images "$WIDER/images" --limit 4 --json >"$T/w2.json" 2>"$T/e" ||
  fail "eval wider --images: $(cat "$T/e")"
if [ "$(jq -c 'del(.ms_per_image)' "$T/w.json")" = "$(jq -c 'del(.ms_per_image)' "$T/w2.json")" ]; then
  pass "wider: --images DIR/images gives the same result"
else fail "wider: --images changed the result: $(cat "$T/w.json") vs $(cat "$T/w2.json")"; fi
"$BIN" eval wider --gt "$WIDER/boxes.csv" --limit 4 >"$T/w.txt" 2>"$T/e"
grep -q "^recall >= 40 px" "$T/w.txt" && pass "wider: text output has the recall of faces >= 40 px" ||
  fail "wider text: $(cat "$T/w.txt")"
printf 'path,x,y,w,h,in_easy,in_medium\n' >"$T/gt.csv"
expect_fail "wider: a missing column is named" 1 "lacks the column 'in_hard'" \
  "$BIN" eval wider --gt "$T/gt.csv"
printf 'path,x,y,w,h,in_easy,in_medium,in_hard\nnope.jpg,1,2,3,4,1,1,1\n' >"$T/gt2.csv"
expect_fail "wider: a missing image is an error" 1 "nope.jpg" "$BIN" eval wider --gt "$T/gt2.csv"

# ---- eval lfw: a 2-fold View-2-style list of 20 pairs
{
  echo "2 5"
  sed -n 2,6p "$LFW/pairsDevTest.txt"; sed -n 502,506p "$LFW/pairsDevTest.txt"
  sed -n 7,11p "$LFW/pairsDevTest.txt"; sed -n 507,511p "$LFW/pairsDevTest.txt"
} >"$T/folds.txt"
"$BIN" eval lfw --pairs "$T/folds.txt" --images "$LFW/images" --json >"$T/l.json" 2>"$T/e" ||
  fail "eval lfw folds: $(cat "$T/e")"
check "lfw: exactly the issue's fields" \
  '(keys | sort) == ["accuracy","accuracy_std","no_face_images","pairs","tar_at_far_1e-3","threshold"]' "$T/l.json"
check "lfw: 20 pairs cross-validated" \
  '.pairs == 20 and .accuracy >= 0.9 and .accuracy_std >= 0 and .accuracy_std <= 0.1 and .no_face_images == 0' "$T/l.json"
"$BIN" eval lfw --pairs "$T/folds.txt" --images "$LFW/images" >"$T/l.txt" 2>"$T/e"
grep -q "cross-validated over the folds" "$T/l.txt" && pass "lfw: text output says how" || fail "lfw text: $(cat "$T/l.txt")"
printf '1\nAaron_Peirsol 1 2\nAaron_Peirsol 1 Nobody_Here 1\n' >"$T/miss.txt"
expect_fail "lfw: a missing image is an error naming it" 1 "Nobody_Here_0001.jpg" \
  "$BIN" eval lfw --pairs "$T/miss.txt" --images "$LFW/images"
printf '1\nAaron_Peirsol 1 2\nAaron_Peirsol x Bob 1\n' >"$T/badl.txt"
expect_fail "lfw: a malformed line names file and line" 1 "badl.txt:3: image numbers" \
  "$BIN" eval lfw --pairs "$T/badl.txt" --images "$LFW/images"
expect_fail "lfw: --images is required" 2 "needs --pairs FILE and --images DIR" \
  "$BIN" eval lfw --pairs "$T/folds.txt"
expect_fail "lfw: --images must be a directory" 1 "is not a directory" \
  "$BIN" eval lfw --pairs "$T/folds.txt" --images "$T/nowhere"
expect_fail "lfw: bad --face" 2 "--face is centre or largest" \
  "$BIN" eval lfw --pairs "$T/folds.txt" --images "$LFW/images" --face left
expect_fail "eval: unknown protocol" 2 "unknown protocol 'ytf'" "$BIN" eval ytf
"$BIN" eval --help | grep -q "wider" && pass "eval --help" || fail "eval --help"
for p in lfw pairs wider; do
  "$BIN" eval $p --help | grep -q "^usage: facerec eval $p" && pass "eval $p --help" || fail "eval $p --help"
done

[ $fails -eq 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all eval CLI checks passed"
