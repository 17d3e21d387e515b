#!/usr/bin/env bash
# prefork.sh measures chapter 4's prefork server (solutions/04-prefork) beside gunicorn (Debian's package,
# sync workers, bench/hello_wsgi.py, a minimal standard-library WSGI app) on the same tests, in one run:
#
#   1. reload under load: $CONNS connections for $DURATION, SIGHUP to the master at a third and at two thirds
#      of it; the requests that failed, and those retried (a kept-alive connection closed before any byte of
#      its answer, which RFC 9112 section 9.3.1 lets a client retry; the load generator's -retry);
#   2. recycling under load: the same load with --max-requests 200 and a jitter of 50;
#   3. respawn: with one worker, kill -9 it and time a request on a new connection until a new worker
#      answers it (the median of $KILLS);
#   4. reload time: SIGHUP, until no old worker is left and the new ones answer (the median of 5);
#   5. hello-world throughput at 50 connections: the prefork server (2 processes of 4 places), chapter 2's
#      server in one process at the same 8 places, and Go's net/http, as ratios to net/http.
#
# gunicorn's sync worker closes every connection after its response; the prefork server is measured both the
# same way (-threads 1, requests with Connection: close) and with kept-alive connections (-threads 4). All on
# 127.0.0.1. gunicorn is installed from Debian if missing (GUNICORN=0 leaves it out).
#
# Environment: CONNS (8), DURATION (6s), KILLS (10), GUNICORN (1).
set -euo pipefail
CONNS=${CONNS:-8}
DURATION=${DURATION:-6s}
KILLS=${KILLS:-10}
cd "$(dirname "$0")/.."
. bench/lib.sh

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./harness/cmd/hello ./harness/cmd/load
go build -o "$tmp/prefork" ./solutions/04-prefork
go build -o "$tmp/threaded" ./solutions/02-threaded
if [ "${GUNICORN:-1}" = 1 ] && ! command -v gunicorn >/dev/null 2>&1; then
	install_debian prefork gunicorn
fi
secs=${DURATION%s}

# start KIND ARGS...: starts a server (ours, gunicorn, threaded, hello) on a free port with ARGS; sets pid
# and addr, and waits until it has as many workers as it should and answers.
start() {
	local kind=$1 port out
	shift
	port=$(freeport)
	addr=127.0.0.1:$port
	out="$tmp/$kind.$port.out"
	case $kind in
	ours) "$tmp/prefork" -addr "$addr" -timeout 10s "$@" >"$out" 2>&1 & ;;
	gunicorn) gunicorn --chdir bench -b "$addr" --log-level warning "$@" hello_wsgi:app >"$out" 2>&1 & ;;
	threaded) "$tmp/threaded" -addr "$addr" "$@" >"$out" 2>&1 & ;;
	hello) "$tmp/hello" -addr "$addr" >"$out" 2>&1 & ;;
	esac
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://$addr/hello"; then return; fi
		sleep 0.1
	done
	echo "prefork: $kind did not start:" >&2
	cat "$out" >&2
	exit 1
}

stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# children prints the pids of the master's workers, sorted.
children() { pgrep -P "$pid" | sort -n || true; }

# under_load SIGNALS HEADER: runs the load for $DURATION while SIGNALS (a list of signal names) are sent at
# even intervals; prints "requests failed retried".
under_load() {
	local sigs=($1) header=$2 gap
	gap=$(awk -v d="$secs" -v n="${#sigs[@]}" 'BEGIN { print d / (n + 1) }')
	settle
	"$tmp/load" -retry -c "$CONNS" -d "$DURATION" -timeout 5s ${header:+-H "$header"} -json "http://$addr/hello" >"$tmp/load.json" &
	local lp=$!
	for s in "${sigs[@]}"; do
		sleep "$gap"
		[ "$s" = - ] || kill "-$s" "$pid"
	done
	wait "$lp"
	local failed
	failed=$(tr -d '\n ' <"$tmp/load.json" | sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' | tr ',' '\n' | sed -n 's/.*:\([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	local not200
	not200=$(tr -d '\n ' <"$tmp/load.json" | sed -n 's/.*"status":{\([^}]*\)}.*/\1/p' | tr ',' '\n' | grep -v '^"200":' | sed -n 's/.*:\([0-9]*\)$/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	echo "$(json_num requests "$tmp/load.json") $((failed + not200)) $(json_num retries "$tmp/load.json")"
}

# respawn_ms: with one worker, kills it and times a request on a new connection, $KILLS times; prints the
# median in milliseconds.
respawn_ms() {
	local i w t0 t1
	for i in $(seq "$KILLS"); do
		w=$(children | head -1)
		t0=$(date +%s%N)
		kill -9 "$w"
		curl -s -o /dev/null --max-time 10 "http://$addr/pid"
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000))
		sleep 0.3
	done | median
}

# reload_ms: SIGHUP, then waits until none of the workers from before is left; the median of 5, in ms.
reload_ms() {
	local i before t0 left
	for i in $(seq 5); do
		before=$(children)
		t0=$(date +%s%N)
		kill -HUP "$pid"
		for _ in $(seq 1000); do
			left=$(comm -12 <(echo "$before") <(children))
			[ -z "$left" ] && [ -n "$(children)" ] && break
			sleep 0.005
		done
		curl -s -o /dev/null --max-time 10 "http://$addr/hello"
		echo $((($(date +%s%N) - t0) / 1000000))
		sleep 0.5
	done | median
}

report() { printf '%-48s %10s %8s %8s\n' "$@"; }

echo "prefork: $CONNS connections, $DURATION per run, SIGHUP twice in the reload runs" >&2
report "reload under load (SIGHUP x2)" requests failed retried
start ours -workers 2 -threads 1
report "prefork, -threads 1, Connection: close" $(under_load "HUP HUP" "Connection: close")
stop
start ours -workers 2 -threads 4
report "prefork, -threads 4, keep-alive" $(under_load "HUP HUP" "")
stop
if [ "${GUNICORN:-1}" = 1 ]; then
	start gunicorn -w 2
	report "gunicorn sync -w 2 (closes every connection)" $(under_load "HUP HUP" "")
	stop
fi
echo
report "recycling under load (max-requests 200+50)" requests failed retried
start ours -workers 2 -threads 1 -max-requests 200 -max-requests-jitter 50
report "prefork, -threads 1, Connection: close" $(under_load "-" "Connection: close")
stop
start ours -workers 2 -threads 4 -max-requests 200 -max-requests-jitter 50
report "prefork, -threads 4, keep-alive" $(under_load "-" "")
stop
if [ "${GUNICORN:-1}" = 1 ]; then
	start gunicorn -w 2 --max-requests 200 --max-requests-jitter 50
	report "gunicorn sync -w 2" $(under_load "-" "")
	stop
fi
echo
printf '%-48s %10s %10s\n' "one worker" "respawn ms" "reload ms"
start ours -workers 1
printf '%-48s %10s %10s\n' "prefork (median of $KILLS kills, of 5 reloads)" "$(respawn_ms)" "$(reload_ms)"
stop
if [ "${GUNICORN:-1}" = 1 ]; then
	start gunicorn -w 1
	printf '%-48s %10s %10s\n' "gunicorn sync" "$(respawn_ms)" "$(reload_ms)"
	stop
fi
echo
printf '%-48s %10s %12s\n' "hello world, 50 connections" "req/s" "vs net/http"
declare -A rps
for s in hello threaded prefork; do
	case $s in
	hello) start hello ;;
	threaded) start threaded -workers 8 -queue 256 -idle-timeout 300s ;;
	prefork) start ours -workers 2 -threads 4 -queue 256 -idle-timeout 300s ;;
	esac
	"$tmp/load" -c 50 -d 1s "http://$addr/hello" >/dev/null
	for _ in 1 2 3; do
		settle
		"$tmp/load" -c 50 -d 5s -json "http://$addr/hello" | json_num rps
	done | median >"$tmp/rps.$s"
	rps[$s]=$(cat "$tmp/rps.$s")
	stop
done
for s in hello threaded prefork; do
	case $s in
	hello) name="net/http (harness/cmd/hello)" ;;
	threaded) name="chapter 2, one process, -workers 8" ;;
	prefork) name="prefork, -workers 2 -threads 4" ;;
	esac
	awk -v n="$name" -v r="${rps[$s]}" -v r0="${rps[hello]}" 'BEGIN { printf "%-48s %10.0f %12.2f\n", n, r, r / r0 }'
done
echo "(rates: medians of 3 runs of 5s, one server at a time)"
