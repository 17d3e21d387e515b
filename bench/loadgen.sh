#!/usr/bin/env bash
# loadgen.sh checks that the harness load generator (harness/cmd/load) is no
# slower than wrk: both load the same hello server (harness/cmd/hello) in the
# same run, in alternation, and the script fails if
# median(load rps) / median(wrk rps) is below $MIN_RATIO.
#
# The tools and the server share the machine's cores, so what compares is the
# ratio, not the rates, which drift from run to run (by 15% or more on a busy
# machine: raise ROUNDS for a steadier median). Each run first waits, 10s at
# most, for the other work on the machine to quiet down, wrk's as load's.
# Fair settings: wrk with a thread per core, and load with Go's default
# GOMAXPROCS, an event loop per core either way; the server with Go's
# default too, all cores, as a server normally runs. SERVER_PROCS=1 confines
# the server to one core: the ratio stayed the same within the noise.
#
# Environment: ROUNDS (3), CONNS (50), DURATION (5s), MIN_RATIO (0.9),
# SERVER_PROCS (unset: Go's default).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
DURATION=${DURATION:-5s}
MIN_RATIO=${MIN_RATIO:-0.9}

cd "$(dirname "$0")/.."
. bench/lib.sh

if ! command -v wrk >/dev/null 2>&1; then
	install_debian loadgen wrk
fi

tmp=$(mktemp -d)
server=""
cleanup() {
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./harness/cmd/hello ./harness/cmd/load

# An empty GOMAXPROCS is Go's default.
GOMAXPROCS="${SERVER_PROCS:-}" "$tmp/hello" -addr 127.0.0.1:0 >"$tmp/hello.out" 2>&1 &
server=$!
addr=$(wait_addr "$tmp/hello.out" "loadgen: the hello server")
url="http://$addr/"

wrk_rps() {
	settle
	wrk -t"$(nproc)" -c"$CONNS" -d"$DURATION" "$url" | awk '/^Requests\/sec:/ { print $2 }'
}

load_rps() {
	settle
	"$tmp/load" -c "$CONNS" -d "$DURATION" -json "$url" >"$tmp/load.json"
	if ! grep -q '"errors": {}' "$tmp/load.json"; then
		echo "loadgen: load reported errors:" >&2
		cat "$tmp/load.json" >&2
	fi
	json_num rps "$tmp/load.json"
}

echo "loadgen: $url, $CONNS connections, $DURATION per run, $ROUNDS rounds, $(nproc) cores"
# Warm up the server (and the page cache of both tools) out of the count.
"$tmp/load" -c "$CONNS" -d 1s "$url" >/dev/null
wrk -t"$(nproc)" -c"$CONNS" -d1s "$url" >/dev/null

printf '%-6s %12s %12s\n' round "wrk rps" "load rps"
: >"$tmp/wrk.rps"
: >"$tmp/load.rps"
for round in $(seq "$ROUNDS"); do
	# Swap who goes first every round, so that a drift in the machine's
	# speed does not favour either tool.
	if [ $((round % 2)) -eq 1 ]; then
		w=$(wrk_rps)
		o=$(load_rps)
	else
		o=$(load_rps)
		w=$(wrk_rps)
	fi
	if [ -z "$w" ] || [ -z "$o" ]; then
		echo "loadgen: round $round: no result (wrk: '$w', load: '$o')" >&2
		exit 1
	fi
	echo "$w" >>"$tmp/wrk.rps"
	echo "$o" >>"$tmp/load.rps"
	printf '%-6s %12.0f %12.0f\n' "$round" "$w" "$o"
done

mw=$(median <"$tmp/wrk.rps")
mo=$(median <"$tmp/load.rps")
ratio=$(awk -v o="$mo" -v w="$mw" 'BEGIN { printf "%.2f", o / w }')
printf '%-6s %12.0f %12.0f\n' median "$mw" "$mo"
echo "ratio median(load)/median(wrk): $ratio (minimum $MIN_RATIO)"
if awk -v r="$ratio" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
	echo "loadgen: FAIL: the load generator is slower than $MIN_RATIO of wrk" >&2
	exit 1
fi
