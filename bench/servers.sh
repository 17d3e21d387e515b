#!/usr/bin/env bash
# servers.sh measures the course's servers side by side with Go's net/http (harness/cmd/hello) and nginx
# (bench/nginx.conf: two worker processes) in one run, on the same hello world and the same load, with
# harness/cmd/bare, chapter 3's event loop with no parser, gateway or pool (the floor under chapter 3): requests
# per second at $CONNS keep-alive connections (the course's load generator, harness/cmd/load), and resident
# memory per idle keep-alive connection at $IDLE connections (harness/cmd/idle; nginx's is its workers'). It
# prints each figure and its ratio to net/http and to nginx: rates drift from run to run, ratios much less.
# Everything runs on 127.0.0.1. nginx is installed from Debian if missing (NGINX=0 leaves it out).
#
# Environment: CONNS (50), DURATION (5s), ROUNDS (3: the rate is the median of the rounds), IDLE (10000),
# SERVERS (the solutions to measure, default every solution from chapter 2 on), NGINX (1), BARE (1).
set -euo pipefail
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
IDLE=${IDLE:-10000}
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

go build -o "$tmp/" ./harness/cmd/hello ./harness/cmd/load ./harness/cmd/idle ./harness/cmd/bare
servers=(net/http)
if [ "${NGINX:-1}" = 1 ]; then
	if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
		install_debian servers nginx-light
	fi
	servers+=(nginx)
fi
if [ "${BARE:-1}" = 1 ]; then
	servers+=(bare-loop)
fi
for dir in ${SERVERS:-$(ls -d solutions/0[2-9]-* 2>/dev/null)}; do
	name=$(basename "$dir")
	go build -o "$tmp/$name" "./$dir"
	servers+=("$name")
done

# start NAME: starts the server on a free port; sets pid and addr.
start() {
	local out="$tmp/${1//\//-}.out"
	if [ "$1" = nginx ]; then
		local port
		port=$(freeport)
		mkdir -p "$tmp/nginx"
		sed -e "s|PREFIX|$tmp/nginx|g" -e "s|PORT|$port|g" bench/nginx.conf >"$tmp/nginx/nginx.conf"
		"$(command -v nginx || echo /usr/sbin/nginx)" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' >"$out" 2>&1 &
		pid=$!
		pids+=("$pid")
		addr=127.0.0.1:$port
		for _ in $(seq 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ -n "$(pgrep -P "$pid")" ]; then return; fi
			sleep 0.1
		done
		echo "servers: nginx did not start:" >&2
		cat "$out" "$tmp/nginx/error.log" >&2
		exit 1
	fi
	if [ "$1" = net/http ]; then
		"$tmp/hello" -addr 127.0.0.1:0 >"$out" 2>&1 &
	elif [ "$1" = bare-loop ]; then
		"$tmp/bare" -addr 127.0.0.1:0 >"$out" 2>&1 &
	elif [ "$1" = 04-prefork ]; then # 2 processes of 4 places: -workers counts processes there
		"$tmp/$1" -addr 127.0.0.1:0 -idle-timeout 300s -header-timeout 60s -workers 2 -threads 4 -queue 256 >"$out" 2>&1 &
	else
		"$tmp/$1" -addr 127.0.0.1:0 -idle-timeout 300s -header-timeout 60s -workers 8 -queue 256 >"$out" 2>&1 &
	fi
	pid=$!
	pids+=("$pid")
	addr=$(wait_addr "$out" "servers: $1") || exit 1
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

ulimit -n "$(ulimit -Hn)"
declare -A rps kib addrs spids cpu
# Throughput: every server runs at once, idle but for the one under load, and the rounds go round them in a
# different order each time, so that a drift in the machine's speed favours none; each gets its median.
for s in "${servers[@]}"; do
	start "$s"
	addrs[$s]=$addr
	spids[$s]=$pid
	"$tmp/load" -c "$CONNS" -d 1s "http://$addr/hello" >/dev/null # warm-up, out of the count
done
echo "servers: ${servers[*]}; $CONNS connections, $DURATION per run, $ROUNDS rounds" >&2
for round in $(seq "$ROUNDS"); do
	n=${#servers[@]}
	for i in $(seq 0 $((n - 1))); do
		s=${servers[$(((i + round) % n))]}
		settle
		t0=$(cpu_ticks "${spids[$s]}")
		"$tmp/load" -c "$CONNS" -d "$DURATION" -json "http://${addrs[$s]}/hello" >"$tmp/load.json"
		t1=$(cpu_ticks "${spids[$s]}")
		r=$(json_num rps "$tmp/load.json")
		reqs=$(json_num requests "$tmp/load.json")
		us=$(awk -v t=$((t1 - t0)) -v n="$reqs" 'BEGIN { printf "%.1f", t * 10000 / n }')
		echo "$r" >>"$tmp/rps.${s//\//-}"
		echo "$us" >>"$tmp/cpu.${s//\//-}"
		printf 'round %d: %-18s %8.0f req/s %6s us of server CPU per request\n' "$round" "$s" "$r" "$us" >&2
	done
done
for s in "${servers[@]}"; do
	rps[$s]=$(median <"$tmp/rps.${s//\//-}")
	cpu[$s]=$(median <"$tmp/cpu.${s//\//-}")
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
pids=()
# Memory: each server fresh, alone.
for s in "${servers[@]}"; do
	start "$s"
	kib[$s]=$("$tmp/idle" -n "$IDLE" -pid "$pid" -json "$addr" | json_num kib_per_conn)
	stop
done

printf '\n%-22s %12s %10s %10s %12s %16s %10s\n' server "req/s (c=$CONNS)" "vs net/http" "vs nginx" "CPU us/req" "KiB/idle conn" "vs net/http"
for s in "${servers[@]}"; do
	awk -v s="$s" -v r="${rps[$s]}" -v r0="${rps[net/http]}" -v rn="${rps[nginx]:-}" -v c="${cpu[$s]}" -v k="${kib[$s]}" -v k0="${kib[net/http]}" \
		'BEGIN { vn = rn == "" ? "-" : sprintf("%.2f", r / rn); printf "%-22s %12.0f %10.2f %10s %12.1f %16.2f %10.2f\n", s, r, r / r0, vn, c, k, k / k0 }'
done
echo "(req/s and server CPU per request: medians of $ROUNDS rounds; idle memory: server RSS after $IDLE idle keep-alive connections minus before, per connection)"
