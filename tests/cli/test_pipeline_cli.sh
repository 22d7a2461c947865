#!/usr/bin/env bash
# Black-box tests of the face commands of the real binary ($FR_FACEREC):
# enroll the face_recognition knn_examples/train folders into a fresh gallery,
# recognize its knn_examples/test photos (names from the file names and
# labels.csv), idempotent re-enrollment, strangers (LFW people nobody enrolled)
# unknown, subjects list/rename/delete with exact outputs, detect/embed/compare
# output shapes and values, and every error path: exit status and message.
set -u

BIN=${FR_FACEREC:-./facerec}
SRC=${FR_SOURCE_DIR:-.}
SHARED=${FR_SHARED_DIR:-$SRC/../shared}
export FR_MODELS_DIR=${FR_MODELS_DIR:-$SRC/models}
KNN=$SHARED/data/samples/face_recognition/examples/knn_examples
LFW=$SHARED/data/lfw-view1/images
DOGS=$SHARED/data/dlib-faces/dogs.jpg

for need in "$BIN" "$FR_MODELS_DIR/faceplugin/fr_detect.onnx" "$KNN/train" "$LFW" "$DOGS"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "jq is needed (scripts/install-deps)" >&2; exit 1; }

T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
DB=$T/g.db
fails=0
checks=0

ok() { # ok DESCRIPTION COMMAND... : the command must succeed (exit 0)
  local desc=$1
  shift
  checks=$((checks + 1))
  if ! "$@" >/dev/null; then
    echo "FAIL: $desc" >&2
    fails=$((fails + 1))
  fi
}

# run EXPECTED_RC ARGS... : runs facerec, stdout in $T/out, stderr in $T/err; checks the exit status.
run() {
  local want=$1
  shift
  "$BIN" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  checks=$((checks + 1))
  if grep -qE "Sanitizer|runtime error:" "$T/err"; then # sanitizer builds: a report fails the test
    echo "FAIL: facerec $* -> sanitizer report:" >&2
    head -40 "$T/err" >&2
    fails=$((fails + 1))
    return 1
  fi
  if [ "$rc" != "$want" ]; then
    echo "FAIL: facerec $* -> exit $rc, expected $want" >&2
    sed 's/^/  stdout: /' "$T/out" | head -20 >&2
    sed 's/^/  stderr: /' "$T/err" | head -20 >&2
    fails=$((fails + 1))
    return 1
  fi
  return 0
}

# jqall FILTER FILE: FILTER yields at least one value over the file's JSON lines, all true.
jqall() { jq -se "[.[] | $1] | length > 0 and all" "$2"; }
err_has() { grep -qF -- "$1" "$T/err" || { echo "  stderr lacks '$1':" >&2; cat "$T/err" >&2; return 1; }; }
out_is() { diff <(printf '%s' "$1") "$T/out" >&2; }

# ---------------------------------------------------------------- enroll
run 0 enroll "$KNN/train" --db "$DB" --json --threads 2
cp "$T/out" "$T/enroll1.jsonl"
ok "enroll: one JSON line per image + summary" test "$(wc -l <"$T/enroll1.jsonl")" -eq 10
ok "enroll: summary counts" jqall 'select(.summary) | .summary | .images == 9 and
   .added + .rejected == 9 and .already_present == 0 and .added >= 7' "$T/enroll1.jsonl"
ok "enroll: every person enrolled" test "$(jq -r 'select(.outcome == "added") | .subject' \
   "$T/enroll1.jsonl" | sort -u | tr '\n' ' ')" = "alex_lacamoire biden kit_harington obama rose_leslie "
ok "enroll: added lines carry face_id and face" jqall 'select(.outcome == "added") |
   (.face_id | test("^[0-9a-f-]{36}$")) and (.face.box.w > 40) and (.face.landmarks | length == 5)' \
   "$T/enroll1.jsonl"
added=$(jq 'select(.summary) | .summary.added' "$T/enroll1.jsonl")

# Re-run: nothing new, the same faces (same ids).
run 0 enroll "$KNN/train" --db "$DB" --json --threads 1
ok "re-enroll: 0 added, all present" jqall "select(.summary) | .summary | .added == 0 and
   .already_present == $added" "$T/out"
ok "re-enroll: same face ids" diff <(jq -r 'select(.face_id) | .face_id' "$T/enroll1.jsonl") \
   <(jq -r 'select(.face_id) | .face_id' "$T/out")
run 0 enroll "$KNN/train" --db "$DB"
ok "re-enroll: text summary" grep -qE "^9 images: 0 faces added, $added already present, $((9 - added)) rejected" "$T/out"
ok "no progress bar when stderr is not a terminal" test ! -s "$T/err"
if command -v script >/dev/null; then # a terminal: the bar is drawn on it, then the summary
  script -qec "$(printf '%q ' "$BIN" enroll "$KNN/train" --db "$DB")" /dev/null >"$T/tty" 2>&1
  ok "progress bar on a terminal" grep -q '\[###.*\] [0-9]/9' "$T/tty"
  ok "summary after the bar" grep -q "^9 images: 0 faces added" <(tr '\r' '\n' <"$T/tty")
fi

# ---------------------------------------------------------------- recognize
run 0 recognize "$KNN/test" --db "$DB" --json --threads 2
cp "$T/out" "$T/rec.jsonl"
ok "recognize: one line per test image" test "$(wc -l <"$T/rec.jsonl")" -eq 5
names() { jq -r --arg f "$1" 'select(.image != null and (.image | endswith("/" + $f))) | .faces[] | .subject // empty' \
  "$T/rec.jsonl" | sort -u | tr '\n' ' '; }
ok "alex_lacamoire1.jpg" test "$(names alex_lacamoire1.jpg)" = "alex_lacamoire "
ok "johnsnow_test1.jpg" test "$(names johnsnow_test1.jpg)" = "kit_harington "
ok "obama1.jpg" test "$(names obama1.jpg)" = "obama "
ok "kit_with_rose.jpg" test "$(names kit_with_rose.jpg)" = "kit_harington rose_leslie "
ok "obama_and_biden.jpg" test "$(names obama_and_biden.jpg)" = "biden obama "
# Left/right as labels.csv says: rose left of kit, biden left of obama.
leftmost() { jq -r --arg f "$1" 'select(.image != null and (.image | endswith("/" + $f))) | [.faces[] | select(.subject)]
  | sort_by(.box.x) | map(.subject) | join(",")' "$T/rec.jsonl"; }
ok "kit_with_rose order" test "$(leftmost kit_with_rose.jpg)" = "rose_leslie,kit_harington"
ok "obama_and_biden order" test "$(leftmost obama_and_biden.jpg)" = "biden,obama"
ok "recognize: face object shape" jqall '(keys == ["faces","height","image","width"]) and
   (.faces | all(keys == ["box","landmarks","score","similarity","subject"] and
   (.box | keys == ["h","w","x","y"]) and (.landmarks | length == 5 and all(length == 2)) and
   (.similarity >= -1 and .similarity <= 1)))' "$T/rec.jsonl"
ok "recognize: faces listed largest box first" jqall '[.faces[] | .box.w * .box.h] as $a |
   [range(1; $a | length) | $a[. - 1] >= $a[.] - 1] | all' "$T/rec.jsonl"
ok "recognize: named faces reach the threshold" jqall '[.faces[] | select(.subject) | .similarity]
   | all(. > 0.2)' "$T/rec.jsonl"
run 0 recognize "$KNN/test" --db "$DB" --json --threads 1
ok "recognize: same output at 1 and 2 threads" diff "$T/rec.jsonl" "$T/out"
# one image alone (default --threads) gives the same line as in a batch: an image's boxes and embedding do not
# depend on --threads or on the other images (every CLI worker is single-threaded)
run 0 embed "$KNN/test/obama_and_biden.jpg" --json --threads 2
cp "$T/out" "$T/one.jsonl"
run 0 embed "$KNN/test/kit_with_rose.jpg" "$KNN/test/obama_and_biden.jpg" --json --threads 2
ok "embed: one image alone = the same image in a batch" diff "$T/one.jsonl" <(sed -n 2p "$T/out")
run 0 recognize "$KNN/test/obama1.jpg" --db "$DB" --threshold 1
ok "--threshold 1: nobody named" bash -c "! grep -q ' obama ' '$T/out'"
ok "text output names obama" bash -c "$(printf '%q' "$BIN") recognize '$KNN/test/obama1.jpg' --db '$DB' | grep -q ' obama '"

# --annotate / --crops
run 0 recognize "$KNN/test/kit_with_rose.jpg" "$KNN/test/obama1.jpg" --db "$DB" --annotate "$T/ann" \
  --crops "$T/crops"
ok "annotated images written (JPEG, same name)" test -s "$T/ann/kit_with_rose.jpg" -a -s "$T/ann/obama1.jpg"
ok "annotated image is a JPEG" test "$(head -c 3 "$T/ann/obama1.jpg" | od -An -tx1 | tr -d ' ')" = "ffd8ff"
ok "crops per subject" test -s "$T/crops/rose_leslie/kit_with_rose_$(jq -r 'select(.image |
   endswith("kit_with_rose.jpg")) | .faces | map(.subject) | index("rose_leslie")' "$T/rec.jsonl").jpg"
ok "crops of obama" test "$(ls "$T/crops/obama")" = "obama1_$(jq -r 'select(.image |
   endswith("obama1.jpg")) | .faces | map(.subject) | index("obama")' "$T/rec.jsonl").jpg"
ok "only recognized faces cropped" test "$(ls "$T/crops" | tr '\n' ' ')" = "kit_harington obama rose_leslie "
run 0 detect "$T/crops/obama" --json
ok "a crop is a 112x112 image" jqall '.width == 112 and .height == 112' "$T/out"

# Strangers: LFW people not enrolled come back unknown.
strangers=()
for p in Aaron_Peirsol AJ_Cook Abdullah_Gul Adam_Sandler Adriana_Lima Ahmed_Chalabi; do
  strangers+=("$LFW/$p/$(ls "$LFW/$p" | head -1)")
done
run 0 recognize "${strangers[@]}" --db "$DB" --json
ok "strangers: one line each" test "$(wc -l <"$T/out")" -eq 6
ok "strangers: every face found" jqall '.faces | length >= 1' "$T/out"
ok "strangers: all unknown" jqall '.faces | all(.subject == null)' "$T/out"

# Directory walk: sorted, recursive, by content; a non-image file is skipped with a note.
mkdir -p "$T/walk/b" "$T/walk/a"
cp "$KNN/test/obama1.jpg" "$T/walk/b/photo.dat"   # an image whatever its name
cp "$KNN/test/alex_lacamoire1.jpg" "$T/walk/a/z.jpg"
echo "not an image" >"$T/walk/a/notes.jpg"
run 0 recognize "$T/walk" --db "$DB" --json
ok "walk: images by content, sorted" test "$(jq -r .image "$T/out" | tr '\n' ' ')" = "$T/walk/a/z.jpg $T/walk/b/photo.dat "
ok "walk: note for the skipped file" err_has "skipping $T/walk/a/notes.jpg: not an image"
run 0 recognize "$T/walk" --db "$DB" --annotate "$T/ann2"
ok "walk: annotations keep sub-folders" test -s "$T/ann2/a/z.jpg" -a -s "$T/ann2/b/photo.jpg"

# ---------------------------------------------------------------- subjects
run 0 subjects list --db "$DB"
expected=$(jq -r 'select(.outcome == "added") | .subject' "$T/enroll1.jsonl" | sort | uniq -c |
  awk '{printf "%s\t%s\n", $2, $1}')
ok "subjects list (exact)" out_is "$expected"$'\n'
run 0 subjects list --db "$DB" --json
ok "subjects list --json" jqall 'keys == ["faces","subject"] and .faces >= 1' "$T/out"
nobama=$(jq -r 'select(.subject == "obama") | .faces' "$T/out")
run 0 subjects rename obama barack --db "$DB"
ok "rename output" out_is $'renamed obama to barack\n'
run 0 recognize "$KNN/test/obama1.jpg" --db "$DB" --json
ok "renamed subject recognized under the new name" jqall '[.faces[].subject] | index("barack")' "$T/out"
run 1 subjects rename obama x --db "$DB"
ok "rename missing: message" err_has "no subject 'obama'"
run 1 subjects rename barack biden --db "$DB"
ok "rename onto an existing subject refused" err_has "subject 'biden' already exists"
run 0 subjects rename barack obama --db "$DB" --json
ok "rename --json" out_is '{"subject":"obama","renamed_from":"barack"}'$'\n'
run 0 subjects delete obama --db "$DB"
if [ "$nobama" = 1 ]; then s=""; else s="s"; fi
ok "delete output" out_is "deleted obama ($nobama face$s)"$'\n'
run 0 subjects list --db "$DB"
ok "list after delete" out_is "$(printf '%s\n' "$expected" | grep -v '^obama')"$'\n'
run 1 subjects delete obama --db "$DB"
ok "delete missing: message" err_has "no subject 'obama'"
run 0 recognize "$KNN/test/obama1.jpg" --db "$DB" --json
ok "deleted subject no longer recognized" jqall '[.faces[].subject] | index("obama") == null' "$T/out"
run 0 enroll --subject obama "$KNN/train/obama" --db "$DB" --json
ok "enroll --subject" jqall 'select(.summary) | .summary.added >= 1' "$T/out"
run 0 subjects list --db "$DB" --json
before=$(jq -s 'map(select(.subject == "obama" or .subject == "biden") | .faces) | add' "$T/out")
run 0 subjects rename obama biden --merge --db "$DB"
ok "rename --merge output" out_is $'renamed obama to biden\n'
run 0 subjects list --db "$DB" --json
ok "merged: obama gone, biden has both subjects' faces" \
  test "$(jq -s "[.[] | select(.subject == \"obama\")] | length" "$T/out")" = 0 -a \
  "$(jq -s "map(select(.subject == \"biden\") | .faces) | add" "$T/out")" = "$before"
run 2 subjects --db "$DB"
run 2 subjects frobnicate --db "$DB"
run 2 subjects rename a --db "$DB"
run 1 subjects list --db "$T/none.db"
ok "subjects on a missing gallery: message" err_has "no gallery at '$T/none.db'"
ok "and no file created" test ! -e "$T/none.db"

# ---------------------------------------------------------------- detect / embed / compare
IMG=$KNN/test/kit_with_rose.jpg
if [ -f "$SRC/tests/data/images/SOURCE.md" ]; then
  for f in "$SRC"/tests/data/images/*.jpg; do IMG=$f; break; done
fi
run 0 detect "$IMG" --json
ok "detect --json shape" jqall '(keys == ["faces","height","image","width"]) and .width > 0 and
   .height > 0 and (.faces | length >= 1 and all((keys == ["box","landmarks","score"]) and
   .score > 0 and .score <= 1 and .box.w > 0 and .box.h > 0 and (.landmarks | length == 5)))' "$T/out"
ok "detect: landmarks inside their box" jqall '.faces | all(. as $f | .landmarks | all(.[0] >= $f.box.x
   and .[0] <= $f.box.x + $f.box.w and .[1] >= $f.box.y and .[1] <= $f.box.y + $f.box.h))' "$T/out"
ok "detect: faces sorted by score" jqall '[.faces[].score] | . == (sort | reverse)' "$T/out"
run 0 detect "$KNN/test/kit_with_rose.jpg" --json
ok "detect: two faces in kit_with_rose" jqall '.faces | length == 2' "$T/out"
run 0 detect "$KNN/test/kit_with_rose.jpg" --json --min-score 0.01
ok "--min-score 0.01 finds at least as many" jqall '.faces | length >= 2' "$T/out"
run 0 detect "$KNN/test/kit_with_rose.jpg" "$KNN/test/obama1.jpg"
ok "detect text output" grep -q "kit_with_rose.jpg  501x700  2 faces" "$T/out"
run 0 detect "$DOGS" --json
ok "detect: no face in the dogs photo" jqall '.faces == []' "$T/out"
run 0 detect "$KNN/test/obama1.jpg" --annotate "$T/det"
ok "detect --annotate" test -s "$T/det/obama1.jpg"

run 0 embed "$KNN/test/kit_with_rose.jpg" "$KNN/train/obama/obama.jpg" --json
ok "embed: 512-d unit vectors" jqall '.faces | length >= 1 and all((.embedding | length == 512) and
   ((.embedding | map(. * .) | add | sqrt) - 1 | fabs < 1e-4))' "$T/out"
ok "embed: model id" jqall '(.model | type == "string" and length > 0) and (.faces | all(.model))' "$T/out"
ok "embed: full precision" jqall '[.faces[0].embedding[] | tostring | length] | max >= 9' "$T/out"
run 0 embed "$KNN/train/obama/obama.jpg"
ok "embed text output" grep -q "embedding \[" "$T/out"

run 0 compare "$KNN/train/obama/obama.jpg" "$KNN/test/obama1.jpg" --json
ok "compare same: exact keys" jqall 'keys == ["same","similarity","threshold"]' "$T/out"
ok "compare same person" jqall '.same == true and .similarity >= .threshold' "$T/out"
run 0 compare "$KNN/train/obama/obama.jpg" "$KNN/train/biden/biden.jpg" --json
ok "compare different people" jqall '.same == false and .similarity < .threshold' "$T/out"
run 0 compare "$KNN/train/obama/obama.jpg" "$KNN/train/obama/obama.jpg" --json
ok "compare an image with itself" jqall '.same and .similarity > 0.999' "$T/out"
run 0 compare "$KNN/train/obama/obama.jpg" "$KNN/train/biden/biden.jpg" --json --threshold -1
ok "--threshold overrides" jqall '.same == true and .threshold == -1' "$T/out"
run 0 compare "$KNN/train/obama/obama.jpg" "$KNN/test/obama1.jpg"
ok "compare text output" grep -q "same person" "$T/out"

# ---------------------------------------------------------------- errors
# A 128x128 mid-grey 24-bit BMP: an image with certainly no face.
le32() { local v=$1; printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $((v >> 8 & 255)) \
  $((v >> 16 & 255)) $((v >> 24 & 255)))"; }
BLANK=$T/blank.bmp
{
  printf 'BM'; le32 $((54 + 128 * 128 * 3)); le32 0; le32 54; le32 40; le32 128; le32 128
  printf '\x01\x00\x18\x00'; le32 0; le32 $((128 * 128 * 3)); le32 2835; le32 2835; le32 0; le32 0
  head -c $((128 * 128 * 3)) /dev/zero | tr '\0' '\200'
} >"$BLANK"
run 0 detect "$BLANK" --json
ok "blank image decodes, no face" jqall '.width == 128 and .height == 128 and .faces == []' "$T/out"
printf 'hello, not an image\n' >"$T/text.jpg"
: >"$T/empty.jpg"
head -c 3000 "$KNN/test/obama1.jpg" >"$T/truncated.jpg"
for cmd in detect embed recognize; do
  extra=()
  [ $cmd = recognize ] && extra=(--db "$DB")
  run 1 $cmd "$T/missing.jpg" "${extra[@]}"
  ok "$cmd missing file: message names it" err_has "$T/missing.jpg"
  run 1 $cmd "$T/text.jpg" "${extra[@]}"
  ok "$cmd non-image: message" err_has "$T/text.jpg"
  run 1 $cmd "$T/empty.jpg" "${extra[@]}"
  ok "$cmd 0-byte file: message" err_has "empty file"
  run 1 $cmd "$T/truncated.jpg" "${extra[@]}"
  ok "$cmd truncated: message" err_has "$T/truncated.jpg"
  run 2 $cmd "$IMG" --frobnicate "${extra[@]}"
  ok "$cmd unknown option: message" err_has "unknown option '--frobnicate'"
  run 2 $cmd "${extra[@]}"
  run 0 $cmd --help
  ok "$cmd --help" grep -q "usage: facerec $cmd" "$T/out"
  # A bad file among good ones: the others are still processed, exit 1, JSON keeps one line per input.
  run 1 $cmd "$T/empty.jpg" "$KNN/test/obama1.jpg" --json "${extra[@]}"
  ok "$cmd: error line + result line" jq -se 'length == 2 and (.[0].error | test("empty")) and
     (.[0].faces == []) and (.[1].faces | length >= 1)' "$T/out"
done
run 2 detect "$IMG" --min-score 0
ok "--min-score range" err_has "--min-score takes a number from 0.01 to 1"
run 2 detect "$IMG" --min-score
run 2 detect "$IMG" --threads 0
run 2 recognize "$IMG" --threshold 2 --db "$DB"
run 1 recognize "$IMG" --db "$T/none.db"
ok "recognize: missing gallery" err_has "no gallery at"
run 1 detect "$IMG" --models "$T/nomodels"
ok "missing models dir: message" err_has "$T/nomodels"

run 1 compare "$BLANK" "$IMG"
ok "compare: no face, names the file" err_has "no face found in $BLANK"
run 1 compare "$IMG" "$DOGS"
ok "compare: no (human) face in the dogs photo" err_has "no face found in $DOGS"
run 1 compare "$IMG" "$T/missing.jpg"
ok "compare: missing file named" err_has "$T/missing.jpg"
run 2 compare "$IMG"
run 2 compare "$IMG" "$IMG" "$IMG"

mkdir -p "$T/people/nobody"
cp "$BLANK" "$T/people/nobody/blank.bmp"
cp "$T/empty.jpg" "$T/people/nobody/empty.jpg"
run 1 enroll "$T/people" --db "$DB" --json
ok "enroll: no face rejected" jqall 'select(.image != null and (.image | endswith("blank.bmp"))) |
   .outcome == "rejected" and .reason == "no_face"' "$T/out"
ok "enroll: walk skips the empty file" err_has "skipping $T/people/nobody/empty.jpg: not an image"
ok "enroll: nothing enrolled -> message" err_has "no face was enrolled"
run 1 enroll --subject x "$T/missing.jpg" --db "$DB"
ok "enroll: missing file listed as rejected" grep -q "^rejected (unreadable) cannot open $T/missing.jpg" "$T/out"
run 1 enroll --subject x "$T/empty.jpg" --db "$DB" --json
ok "enroll: empty file unreadable" jqall 'select(.image) | .reason == "unreadable" and
   (.message | test("empty file"))' "$T/out"
run 1 enroll --subject x "$KNN/test/kit_with_rose.jpg" --db "$DB" --json
ok "enroll: several faces rejected" jqall 'select(.image) | .reason == "several_faces"' "$T/out"
run 1 enroll --subject x "$KNN/test/obama1.jpg" --db "$DB" --json --min-face 4000
ok "enroll: face too small rejected" jqall 'select(.image) | .reason == "face_too_small"' "$T/out"
run 1 enroll --subject $'tab\tname' "$KNN/train/obama/obama.jpg" --db "$DB" --json
ok "enroll: control character in a name rejected" jqall 'select(.image) | .reason == "invalid_subject"' "$T/out"
(cd "$T" && "$BIN" enroll --subject someone "$KNN/train/obama/obama.jpg" >/dev/null 2>&1)
ok "default gallery ./facerec.db" test -s "$T/facerec.db"
(cd "$T" && "$BIN" subjects list >"$T/out" 2>&1)
ok "default gallery used by subjects" out_is $'someone\t1\n'
run 2 subjects list --frobnicate --db "$DB"
run 2 compare "$IMG" "$IMG" --frobnicate
run 2 enroll "$KNN/train" --frobnicate --db "$DB"
run 2 enroll "$KNN/test/obama1.jpg" --db "$DB"
ok "enroll DIR given a file: message" err_has "is not a directory"
run 1 enroll "$T/nowhere" --db "$DB"
run 2 enroll --db "$DB"
run 2 enroll --subject "" "$IMG" --db "$DB"
# A gallery that cannot be created: a directory nobody may write to (root may
# write anywhere, so there use a path under /proc).
if [ "$(id -u)" = 0 ]; then
  ro=/proc/facerec-test-$$.db
else
  mkdir "$T/ro" && chmod 555 "$T/ro"
  ro=$T/ro/g.db
fi
run 1 enroll "$KNN/train" --db "$ro"
ok "enroll: unwritable gallery: message" err_has "cannot open the gallery '$ro'"

run 2 frobnicate
run 0 --help
for c in detect embed compare enroll recognize subjects eval model; do
  ok "top-level help lists $c" grep -qE "^  $c( |$)" "$T/out"
done
run 0 help recognize
ok "help CMD" grep -q "usage: facerec recognize" "$T/out"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
