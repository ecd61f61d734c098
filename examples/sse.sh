#!/usr/bin/env sh
# Server-Sent Events with nothing but curl: every CustomerIdentified at Table 3,
# from the start of the log. Stop with Ctrl-C; to resume, pass the last `id:`
# seen as Last-Event-ID:
#   curl -N -H 'Last-Event-ID: <id>' 'http://localhost:8080/v1/stream?location=Table%203'
GATEWAY=${1:-http://localhost:8080}
exec curl --no-buffer --silent "$GATEWAY/v1/stream?from=earliest&location=Table%203"
