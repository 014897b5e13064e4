#!/bin/sh
# SPDX-License-Identifier: MIT
# evstream.sh: report events to evstreamd and follow a project from a shell (POSIX sh + curl).
#
#   EVSTREAM_URL    the daemon (default http://localhost:8080)
#   EVSTREAM_KEY    a project's ingest key (post)
#   EVSTREAM_TOKEN  its dashboard token (tail, issues)
#
#   evstream.sh post LEVEL MESSAGE [TAG=VALUE ...]   report one event; prints its id
#   evstream.sh tail PROJECT [AFTER_ID [SECONDS]]    print events as they come: id level message
#                                                    (message JSON-escaped; from after AFTER_ID;
#                                                    stop after SECONDS)
#   evstream.sh issues PROJECT                       the unresolved issues, as JSON
#
# post retries (connection refused, 5xx, 503 queue_full) with curl's backoff; a refused event
# (4xx) is not retried and the error is printed. Exit status: 0 ok, 1 failed, 2 usage.
set -eu
url=${EVSTREAM_URL:-http://localhost:8080}

usage() { sed -n '9,13p' "$0" | sed 's/^# *//' >&2; exit 2; }
# a JSON string from a shell string: backslash, quote and control characters escaped
json_str() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' -e 's/\r/\\r/g' |
        awk 'BEGIN { ORS = "" } NR > 1 { print "\\n" } { print }'
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
post)
    [ $# -ge 2 ] || usage
    : "${EVSTREAM_KEY:?set EVSTREAM_KEY to the project's ingest key}"
    level=$1 message=$2
    shift 2
    tags=""
    for t in "$@"; do
        case $t in *=*) ;; *) echo "tag $t: expected TAG=VALUE" >&2; exit 2 ;; esac
        tags="$tags${tags:+,}\"$(json_str "${t%%=*}")\":\"$(json_str "${t#*=}")\""
    done
    body="{\"level\":\"$(json_str "$level")\",\"message\":\"$(json_str "$message")\""
    [ -z "$tags" ] || body="$body,\"tags\":{$tags}"
    body="$body}"
    out=$(curl -sS --retry 6 --retry-connrefused --retry-max-time 60 -w '\n%{http_code}' \
        -H "Authorization: Bearer $EVSTREAM_KEY" -H 'Content-Type: application/json' \
        --data-binary "$body" "$url/api/v1/events") || { echo "post failed" >&2; exit 1; }
    code=$(printf '%s\n' "$out" | tail -n 1)
    answer=$(printf '%s\n' "$out" | sed '$d')
    if [ "$code" != 202 ]; then
        echo "refused ($code): $answer" >&2
        exit 1
    fi
    printf '%s\n' "$answer" | sed -n 's/.*"event_id":\([0-9]*\).*/\1/p' ;;
tail)
    [ $# -ge 1 ] || usage
    : "${EVSTREAM_TOKEN:?set EVSTREAM_TOKEN to the project's dashboard token}"
    q="transport=sse"
    [ -z "${2:-}" ] || q="$q&last_event_id=$2"
    max=""
    [ -z "${3:-}" ] || max="--max-time $3"
    # shellcheck disable=SC2086
    curl -sSN $max -H "Authorization: Bearer $EVSTREAM_TOKEN" \
        "$url/stream/projects/$1?$q" 2>/dev/null |
        sed -n -e '/^data: {"type":"event"/{' \
            -e 's/^data: {"type":"event","id":\([0-9]*\).*"level":"\([a-z]*\)".*"message":"\(\([^"\\]\|\\.\)*\)".*/\1 \2 \3/p' \
            -e '}' || true ;;
issues)
    [ $# -ge 1 ] || usage
    : "${EVSTREAM_TOKEN:?set EVSTREAM_TOKEN to the project's dashboard token}"
    curl -sS --fail-with-body -H "Authorization: Bearer $EVSTREAM_TOKEN" \
        "$url/api/v1/projects/$1/issues?status=unresolved"
    echo ;;
*) usage ;;
esac
