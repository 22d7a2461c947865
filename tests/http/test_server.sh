#!/usr/bin/env bash
# Black-box tests of the HTTP server core of `facerec serve` ($FR_FACEREC):
# the real server on a free loopback port with a temporary gallery, driven by
# curl (and bash /dev/tcp for raw sockets). Checks: /healthz, request ids,
# 404/405 bodies (+ Allow), 413 for a declared and a chunked oversized body,
# malformed multipart (400 bad_multipart), a slow client neither blocks others
# nor outlives --timeout, 8 parallel clients, /metrics counters, the API key
# flow (open without keys; `keys create` -> 401/403/200; revoke), keys from
# --api-key-file, a full queue -> 503 + Retry-After, refusing 0.0.0.0 without
# keys, and SIGTERM with a request in flight (answered 200, exit 0).
# Under ASan/UBSan builds any sanitizer report in the server's stderr fails.
set -u

BIN=${FR_FACEREC:-./facerec}
SRC=${FR_SOURCE_DIR:-.}
SHARED=${FR_SHARED_DIR:-$SRC/../shared}
export FR_MODELS_DIR=${FR_MODELS_DIR:-$SRC/models}
EX=$SHARED/data/samples/face_recognition/examples
IMG=$EX/obama-240p.jpg  # small one-face JPEG
IMG2=$EX/obama-480p.jpg # ~100 KB, for the slow upload

for need in "$BIN" "$FR_MODELS_DIR" "$IMG" "$IMG2"; do
  [ -e "$need" ] || { echo "missing $need" >&2; exit 1; }
done
for tool in curl jq; do
  command -v $tool >/dev/null || { echo "$tool is needed (scripts/install-deps)" >&2; exit 1; }
done

. "$(dirname "$0")/lib.sh"

# req ARGS...: curl with status in $CODE, body in $T/body, headers in $T/hdr.
req() {
  CODE=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' --max-time 60 "$@")
  BODY=$(cat "$T/body")
}
header() { grep -i "^$1:" "$T/hdr" | head -1 | sed 's/^[^:]*: *//; s/\r$//'; }
jfield() { jq -r "$1" <"$T/body" 2>/dev/null; }

DB=$T/g.db
start_server a --db "$DB" --threads 2 --queue 16 --max-body 256K --timeout 3

# ---- basics ----
grep -q "no API keys configured: open access, loopback only" "$T/a.out" ||
  fail "start message does not say the server is open and loopback only"
grep -q "^try: curl .*$URL/recognition" "$T/a.out" || fail "no curl example at start"
req "$URL/healthz"
check "healthz status" 200 "$CODE"
check "healthz body" '{"status":"ok"}' "$BODY"
check_match "X-Request-Id generated" '^[0-9a-f]{8}-[0-9]+$' "$(header X-Request-Id)"
req -H 'X-Request-Id: abc-123' "$URL/healthz"
check "X-Request-Id echoed" abc-123 "$(header X-Request-Id)"

req "$URL/no/such/route"
check "unknown route status" 404 "$CODE"
check "unknown route code" not_found "$(jfield .code)"
req -X PATCH "$URL/api/v1/recognition/subjects"
check "wrong method status" 405 "$CODE"
check "wrong method code" method_not_allowed "$(jfield .code)"
check_match "wrong method Allow header" 'GET' "$(header Allow)"
req -X POST "$URL/healthz"
check "POST /healthz" 405 "$CODE"
check "POST /healthz Allow" GET "$(header Allow)"

# ---- 413: declared and streamed ----
head -c 300000 /dev/zero >"$T/big.bin"
req -X POST -H 'Content-Type: image/jpeg' --data-binary @"$T/big.bin" "$URL/recognition"
check "oversized body (Content-Length) status" 413 "$CODE"
check "oversized body (Content-Length) code" too_large "$(jfield .code)"
req -X POST -H 'Content-Type: image/jpeg' -H 'Transfer-Encoding: chunked' \
  --data-binary @"$T/big.bin" "$URL/recognition"
check "oversized body (chunked) status" 413 "$CODE"
check "oversized body (chunked) code" too_large "$(jfield .code)"
head -c 5000 /dev/zero >"$T/5k.bin"
req -X GET -H 'Transfer-Encoding: chunked' --data-binary @"$T/5k.bin" "$URL/recognition"
check "5 KB body on a route without one (chunked)" "413 too_large" "$CODE $(jfield .code)"
req -X GET -H 'Content-Type: application/json' --data-binary @"$T/5k.bin" "$URL/recognition"
check "5 KB body on a route without one" "413 too_large" "$CODE $(jfield .code)"
req -X GET -H 'Content-Type: application/json' --data-binary '{}' "$URL/recognition"
check "a stray {} on a route without a body is ignored" 200 "$CODE"
req "$URL/healthz"
check "server fine after 413s" 200 "$CODE"

# ---- malformed multipart ----
mp() { # mp CONTENT_TYPE PRINTF_BODY -> request to /recognition
  printf -- "$2" >"$T/mp.bin"
  req -X POST -H "Content-Type: $1" --data-binary @"$T/mp.bin" "$URL/recognition"
}
mp 'multipart/form-data; boundary=XyZ' 'garbage without any boundary'
check "multipart without its boundary" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data' '--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--XyZ--\r\n'
check "multipart without boundary parameter" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data; boundary=XyZ' '--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
check "truncated multipart" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data; boundary=XyZ' '--XyZ\r\nContent-Type: image/jpeg\r\n\r\nabc\r\n--XyZ--\r\n'
check "multipart part without Content-Disposition" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data; boundary=XyZ' '--XyZ\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XyZ--\r\n'
check "multipart part without a name" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data; boundary=XyZ' '--XyZ\nContent-Disposition: form-data; name="file"\n\nabc\n--XyZ--\n'
check "multipart with LF line ends" "400 bad_multipart" "$CODE $(jfield .code)"
mp 'multipart/form-data; boundary=XyZ' '--XyZ\r\nContent-Disposition: form-data; name="file\r\n\r\nabc\r\n--XyZ--\r\n'
check "multipart with an unterminated quote" "400 bad_multipart" "$CODE $(jfield .code)"
check "seed error dialect on /recognition" "error during prediction" "$(jfield .result)"

# ---- a good request ----
req -F "file=@$IMG" "$URL/recognition"
check "recognize (multipart) status" 200 "$CODE"
check "recognize result is an array" array "$(jfield '.result | type')"
req -H 'Content-Type: image/jpeg' --data-binary @"$IMG" "$URL/recognition"
check "recognize (raw body) status" 200 "$CODE"
req --data-binary @"$IMG" "$URL/recognition" # curl's default form type: the bytes are an image
check "recognize (raw body, curl's default type) status" 200 "$CODE"

# ---- slow clients ----
# A client that sent half its headers, and one that declared a body and sent
# a few bytes of it: neither may hold up anybody else.
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /recognition HTTP/1.1\r\nHost: x\r\nContent-Ty' >&7
exec 8<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /recognition HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\nabc' >&8
t0=$(date +%s%N)
req -F "file=@$IMG" "$URL/recognition"
t1=$(date +%s%N)
check "request beside slow clients" 200 "$CODE"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 10000 ] || fail "request beside slow clients took $ms ms"
req "$URL/healthz"
check "healthz beside slow clients" 200 "$CODE"
# --timeout 3: the idle slow connections are closed by the server (EOF, no hang).
sleep 4.5
timeout 5 cat <&7 >/dev/null
check "half-sent headers closed after --timeout" 0 "$?"
timeout 5 cat <&8 >/dev/null
check "half-sent body closed after --timeout" 0 "$?"
exec 7>&- 8>&-

# ---- 8 parallel clients ----
seq 1 32 | xargs -P 8 -I{} sh -c '
  case $(({} % 4)) in
    0) curl -s -o /dev/null -w "%{http_code}\n" --max-time 120 "$1/healthz" ;;
    1) curl -s -o /dev/null -w "%{http_code}\n" --max-time 120 "$1/recognition" ;;
    *) curl -s -o /dev/null -w "%{http_code}\n" --max-time 120 -F "file=@$2" "$1/recognition" ;;
  esac' _ "$URL" "$IMG" >"$T/par.txt"
check "8 parallel clients: answers" 32 "$(wc -l <"$T/par.txt" | tr -d ' ')"
check "8 parallel clients: all 200" 32 "$(grep -c '^200$' "$T/par.txt")"

# ---- metrics ----
req "$URL/metrics"
check "metrics status" 200 "$CODE"
check_match "metrics content type" '^text/plain' "$(header Content-Type)"
m=$(cat "$T/body")
check_match "metrics: requests by route and status" \
  'facerec_http_requests_total\{route="recognition",method="POST",status="200"\} [1-9]' "$m"
check_match "metrics: 413 counted" 'facerec_http_requests_total\{route="recognition",method="POST",status="413"\} 2' "$m"
check_match "metrics: 404 counted" 'facerec_http_requests_total\{route="unmatched",method="any",status="404"\} 1' "$m"
check_match "metrics: latency histogram" \
  'facerec_http_request_duration_seconds_bucket\{route="recognition",method="POST",le="\+Inf"\} [1-9]' "$m"
check_match "metrics: histogram count" 'facerec_http_request_duration_seconds_count\{route="healthz",method="GET"\} [1-9]' "$m"
for g in facerec_faces_detected_total facerec_queue_depth facerec_in_flight_requests \
  facerec_gallery_subjects facerec_gallery_faces facerec_open_connections; do
  checks=$((checks + 1))
  grep -qE "^$g [0-9]" "$T/body" || fail "metrics: no $g"
done

# ---- API keys ----
run_keys() { "$BIN" keys "$@" --db "$DB" 2>"$T/keys.err"; }
RKEY=$(run_keys create --role recognize | tail -1 | awk '{print $NF}')
AKEY=$(run_keys create --role admin | tail -1 | awk '{print $NF}')
check_match "keys create prints a key (recognize)" '^[0-9a-f]{64}$' "$RKEY"
check_match "keys create prints a key (admin)" '^[0-9a-f]{64}$' "$AKEY"
"$BIN" keys create --role root --db "$DB" >/dev/null 2>&1
check "keys create with a bad role" 2 "$?"
check "keys list" 2 "$(run_keys list | tail -n +2 | wc -l | tr -d ' ')"
sleep 1.5 # the server reloads the keys every second
req "$URL/api/v1/recognition/subjects"
check "no key -> 401" "401 unauthorized" "$CODE $(jfield .code)"
req -H "x-api-key: nonsense" "$URL/api/v1/recognition/subjects"
check "invalid key -> 401" 401 "$CODE"
req -H "x-api-key: $RKEY" "$URL/api/v1/recognition/subjects"
check "recognize key on an admin route -> 403" "403 forbidden" "$CODE $(jfield .code)"
req -H "x-api-key: $AKEY" "$URL/api/v1/recognition/subjects"
check "admin key on an admin route" 200 "$CODE"
req -H "x-api-key: $RKEY" -F "file=@$IMG" "$URL/recognition"
check "recognize key on /recognition" 200 "$CODE"
req -H "x-api-key: $AKEY" -F "file=@$IMG" "$URL/recognition"
check "admin key on /recognition" 200 "$CODE"
req -F "file=@$IMG" "$URL/recognition"
check "no key on /recognition -> 401" 401 "$CODE"
req -H 'Content-Type: image/jpeg' --data-binary @"$T/big.bin" "$URL/recognition"
check "no key with an oversized body -> 401 (auth before the body)" 401 "$CODE"
req "$URL/healthz"
check "healthz stays open" 200 "$CODE"
req "$URL/metrics"
check "metrics stays open" 200 "$CODE"
AID=$(run_keys list | awk '$2 == "admin" {print $1}')
run_keys revoke "$AID" >/dev/null
check "keys revoke" 0 "$?"
sleep 1.5
req -H "x-api-key: $AKEY" "$URL/api/v1/recognition/subjects"
check "revoked key -> 401" 401 "$CODE"

# ---- SIGTERM with a request in flight ----
# A slow upload (~2.5 s) is in flight when SIGTERM arrives: it must still be
# answered 200, then the server exits 0.
curl -s -o "$T/slow.json" -w '%{http_code}' --max-time 60 --limit-rate 40K \
  -H "x-api-key: $RKEY" -F "file=@$IMG2" "$URL/recognition" >"$T/slow.code" &
CPID=$!
sleep 1
stop_server a
wait "$CPID"
check "in-flight request during SIGTERM answered" 200 "$(cat "$T/slow.code")"
check "in-flight answer is a result" array "$(jq -r '.result | type' <"$T/slow.json" 2>/dev/null)"
grep -q "SIGTERM: stopping" "$T/a.err" || fail "no shutdown message"
check_match "access log line" ' POST /recognition 200 [0-9]+ [0-9.]+ms' "$(cat "$T/a.err")"

# ---- keys from a file, a full queue ----
printf '# test keys\nrecognize filekey-recognize-0123456789\n\nadmin   filekey-admin-0123456789\n' >"$T/keys.txt"
start_server b --db "$T/b.db" --threads 1 --queue 1 --api-key-file "$T/keys.txt"
grep -q "2 API keys configured" "$T/b.out" || fail "server b does not report its 2 file keys"
req "$URL/api/v1/recognition/subjects"
check "file keys: none -> 401" 401 "$CODE"
req -H "x-api-key: filekey-recognize-0123456789" "$URL/api/v1/recognition/subjects"
check "file keys: recognize key on admin route -> 403" 403 "$CODE"
req -H "x-api-key: filekey-admin-0123456789" "$URL/api/v1/recognition/subjects"
check "file keys: admin key" 200 "$CODE"
# one worker, one queue slot, 12 concurrent recognitions: some must be refused at once
seq 1 12 | xargs -P 12 -I{} curl -s -D "$T/q{}.hdr" -o "$T/q{}.json" -w '%{http_code}\n' --max-time 120 \
  -H "x-api-key: filekey-recognize-0123456789" -F "file=@$IMG2" "$URL/recognition" >"$T/q.txt"
n200=$(grep -c '^200$' "$T/q.txt")
n503=$(grep -c '^503$' "$T/q.txt")
check "full queue: every answer is 200 or 503" 12 "$((n200 + n503))"
checks=$((checks + 1))
[ "$n200" -ge 1 ] && [ "$n503" -ge 1 ] || fail "full queue: $n200 x 200, $n503 x 503 (want both)"
for i in $(seq 1 12); do
  if grep -q '^HTTP/1.1 503' "$T/q$i.hdr"; then
    check "503 Retry-After" 1 "$(grep -i '^Retry-After:' "$T/q$i.hdr" | sed 's/^[^:]*: *//; s/\r$//')"
    check "503 body code" overloaded "$(jq -r .code <"$T/q$i.json")"
    break
  fi
done
stop_server b

# ---- no keys on a non-loopback address: refused ----
"$BIN" serve --listen 0.0.0.0:0 --db "$T/c.db" >"$T/c.out" 2>"$T/c.err"
check "0.0.0.0 without keys refused" 2 "$?"
grep -q "refusing" "$T/c.err" || fail "no refusal message: $(cat "$T/c.err")"
sanitizer_check c

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
