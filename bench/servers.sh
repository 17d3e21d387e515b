#!/usr/bin/env bash
# servers.sh measures the course's servers side by side with Go's net/http (harness/cmd/hello) in one run, on
# the same hello world and the same load: requests per second at $CONNS keep-alive connections (the course's
# load generator, harness/cmd/load), and resident memory per idle keep-alive connection at $IDLE connections
# (harness/cmd/idle). It prints each figure and its ratio to net/http: rates drift from run to run, ratios
# much less. Everything runs on 127.0.0.1.
#
# Environment: CONNS (50), DURATION (5s), IDLE (10000), SERVERS (the solutions to measure, default every
# solution from chapter 2 on).
set -euo pipefail
CONNS=${CONNS:-50}
DURATION=${DURATION:-5s}
IDLE=${IDLE:-10000}
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./harness/cmd/hello ./harness/cmd/load ./harness/cmd/idle
servers=(net/http)
for dir in ${SERVERS:-$(ls -d solutions/0[2-9]-* 2>/dev/null)}; do
	name=$(basename "$dir")
	go build -o "$tmp/$name" "./$dir"
	servers+=("$name")
done

# start NAME: starts the server on a free port; sets pid and addr.
start() {
	local out="$tmp/${1//\//-}.out"
	if [ "$1" = net/http ]; then
		"$tmp/hello" -addr 127.0.0.1:0 >"$out" 2>&1 &
	else
		"$tmp/$1" -addr 127.0.0.1:0 -idle-timeout 300s -header-timeout 60s -workers 8 -queue 256 >"$out" 2>&1 &
	fi
	pid=$!
	pids+=("$pid")
	addr=""
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$out" | head -1)
		[ -n "$addr" ] && return
		sleep 0.1
	done
	echo "servers: $1 did not start:" >&2
	cat "$out" >&2
	exit 1
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

ulimit -n "$(ulimit -Hn)"
declare -A rps kib
for s in "${servers[@]}"; do
	start "$s"
	rps[$s]=$("$tmp/load" -c "$CONNS" -d "$DURATION" -json "http://$addr/hello" | sed -n 's/.*"rps": *\([0-9.]*\).*/\1/p')
	stop
	start "$s"
	kib[$s]=$("$tmp/idle" -n "$IDLE" -pid "$pid" -json "$addr" | sed -n 's/.*"kib_per_conn": *\([0-9.]*\).*/\1/p')
	stop
done

printf '\n%-22s %12s %10s %18s %10s\n' server "req/s (c=$CONNS)" "vs net/http" "KiB/idle conn" "vs net/http"
for s in "${servers[@]}"; do
	awk -v s="$s" -v r="${rps[$s]}" -v r0="${rps[net/http]}" -v k="${kib[$s]}" -v k0="${kib[net/http]}" \
		'BEGIN { printf "%-22s %12.0f %10.2f %18.2f %10.2f\n", s, r, r / r0, k, k / k0 }'
done
echo "(idle memory: server RSS after $IDLE idle keep-alive connections minus before, per connection)"
