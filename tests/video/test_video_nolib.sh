#!/usr/bin/env bash
# FFmpeg is loaded on first use (src/video/av.c): when it cannot be loaded,
# `facerec video` fails with a clear message and exit status 1, and commands
# that do not touch video still work. A junk libavcodec.so.59 put first on
# LD_LIBRARY_PATH stands in for a broken or missing FFmpeg.
set -u

. "$(dirname "$0")/lib.sh"
[ -e "$BIN" ] && [ -e "$CLIP" ] || { echo "missing $BIN or $CLIP" >&2; exit 1; }

. "$(dirname "$0")/../http/lib.sh" # T (removed on exit), fail, start_server

# the soname the binary asks for (libavcodec.so.N of the headers it was built with)
so=$(strings "$BIN" | grep -m1 -E '^libavcodec\.so\.[0-9]+$')
[ -n "$so" ] || { echo "no libavcodec soname in $BIN" >&2; exit 1; }
echo "not a shared object" >"$T/$so"
"$BIN" enroll --subject lin "$LIN" --db "$T/g.db" >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }

LD_LIBRARY_PATH=$T "$BIN" video "$CLIP" --db "$T/g.db" --max-frames 5 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] || fail "video without FFmpeg: exit $rc, want 1"
grep -q "video support unavailable: cannot load $so" "$T/err" || fail "message: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "no events on stdout: $(head -c 200 "$T/out")"

LD_LIBRARY_PATH=$T "$BIN" --help >"$T/out" 2>&1 || fail "facerec --help without FFmpeg"
grep -q "usage: facerec" "$T/out" || fail "--help output"

# the server: a video upload answers 503 video_unavailable (the server's fault, not
# the upload's); image recognition on the same server still works
LD_LIBRARY_PATH=$T start_server s --db "$T/g.db" # the variable reaches the server (and the probes)
code=$(curl -s -o "$T/r.json" -w '%{http_code}' --data-binary @"$CLIP" \
  -H 'Content-Type: video/mp4' "$URL/api/v1/video/recognize")
[ "$code" = 503 ] || fail "video upload without FFmpeg: HTTP $code, want 503"
grep -q '"reason": *"video_unavailable"' "$T/r.json" || fail "body: $(cat "$T/r.json")"
code=$(curl -s -o "$T/r2.json" -w '%{http_code}' -F file=@"$LIN" "$URL/api/v1/recognition/recognize")
[ "$code" = 200 ] || fail "image recognition without FFmpeg: HTTP $code $(cat "$T/r2.json")"
kill -TERM "$SPID"
wait "$SPID" || fail "server exit status"

# and with the real libraries the same command works
"$BIN" video "$CLIP" --db "$T/g.db" --max-frames 5 --json >"$T/out" 2>"$T/err" || fail "video with FFmpeg: $(cat "$T/err")"
grep -q '"event":"summary"' "$T/out" || fail "summary with FFmpeg"

[ "$fails" = 0 ] && echo "ok: 9 checks" || { echo "$fails failed"; exit 1; }
