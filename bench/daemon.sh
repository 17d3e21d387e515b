#!/usr/bin/env bash
# daemon.sh measures chapter 5's front end with its daemons (solutions/05-daemon) beside the servers it
# imitates, on the same Python WSGI application (chapters/wsgi/testapp.py), in one run:
#
#   1. throughput: GET /hello at $CONNS keep-alive connections, 2 processes of 4 threads each: our front end
#      with Python daemons (daemon.py), Apache's mod_wsgi in daemon mode (event MPM, WSGIDaemonProcess
#      processes=2 threads=4), gunicorn with gthread workers (-w 2 --threads 4) and uWSGI (its HTTP router
#      before 2 workers of 4 threads). The rounds go from server to server, $ROUNDS times, and each server's
#      rate is the median of its rounds; beside it, the CPU time its processes used per request (what the
#      rate is made of, and much steadier than the rate on a busy machine);
#   2. the cost of the hop, with Go daemons: chapter 2's server, the app in its process (-workers 8), against
#      the front end with one Go daemon of 8 threads: the rate, the CPU per request, and the latency of one
#      request at a time (the hop's own delay);
#   3. the same faults in mod_wsgi and in ours, one daemon of one thread: a request that waits past the queue
#      timeout (1s), one that runs past the request timeout (2s), and a daemon that crashes (GET /crash).
#
# Everything listens on 127.0.0.1. Missing servers are installed from Debian (apache2,
# libapache2-mod-wsgi-py3, gunicorn, uwsgi, uwsgi-plugin-python3); MODWSGI=0, GUNICORN=0, UWSGI=0 leave one
# out. Apache runs as root's child processes of user www-data, from a folder of the bench's own.
#
# Environment: CONNS (50), DURATION (5s), ROUNDS (3), MODWSGI (1), GUNICORN (1), UWSGI (1).
set -euo pipefail
CONNS=${CONNS:-50}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
cd "$(dirname "$0")/.."
. bench/lib.sh

tmp=$(mktemp -d)
chmod 755 "$tmp" # Apache's children (www-data) read the app from here
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./harness/cmd/load
go build -o "$tmp/daemon" ./solutions/05-daemon
go build -o "$tmp/threaded" ./solutions/02-threaded
cp chapters/wsgi/testapp.py "$tmp/"
chmod 644 "$tmp/testapp.py"
python=$(command -v /usr/bin/python3 || command -v python3)

want() { [ "${!1:-1}" = 1 ]; }
if want MODWSGI; then
	command -v apache2 >/dev/null 2>&1 || install_debian daemon apache2
	[ -e /usr/lib/apache2/modules/mod_wsgi.so ] || install_debian daemon libapache2-mod-wsgi-py3
fi
if want GUNICORN && ! command -v gunicorn >/dev/null 2>&1; then install_debian daemon gunicorn; fi
if want UWSGI; then
	command -v uwsgi >/dev/null 2>&1 || install_debian daemon uwsgi
	[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || install_debian daemon uwsgi-plugin-python3
fi

# apache_conf PORT OPTIONS writes an Apache configuration of mod_wsgi's daemon mode, with OPTIONS for
# WSGIDaemonProcess, and prints its path.
apache_conf() {
	local conf="$tmp/httpd.$1.conf"
	cat >"$conf" <<-EOF
		ServerRoot $tmp
		ServerName 127.0.0.1
		Listen 127.0.0.1:$1
		PidFile $tmp/httpd.$1.pid
		ErrorLog $tmp/error.$1.log
		User www-data
		Group www-data
		LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
		LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
		LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
		KeepAlive On
		MaxKeepAliveRequests 0
		KeepAliveTimeout 15
		WSGISocketPrefix $tmp/wsgi
		WSGIDaemonProcess bench python-path=$tmp $2
		WSGIProcessGroup bench
		WSGIApplicationGroup %{GLOBAL}
		WSGICallableObject app
		WSGIScriptAlias / $tmp/testapp.py
		<Directory $tmp>
		Require all granted
		</Directory>
	EOF
	echo "$conf"
}

# start NAME KIND ARGS...: starts a server on a free port and waits until it answers; sets addr[NAME] and
# pid[NAME].
declare -A addr pid
start() {
	local name=$1 kind=$2 port a out
	shift 2
	port=$(freeport)
	a=127.0.0.1:$port
	out="$tmp/$name.out"
	case $kind in
	ours) "$tmp/daemon" -addr "$a" "$@" >"$out" 2>&1 & ;;
	threaded) "$tmp/threaded" -addr "$a" "$@" >"$out" 2>&1 & ;;
	modwsgi) apache2 -f "$(apache_conf "$port" "$*")" -DFOREGROUND >"$out" 2>&1 & ;;
	gunicorn) gunicorn --chdir "$tmp" -b "$a" --log-level warning "$@" testapp:app >"$out" 2>&1 & ;;
	uwsgi) uwsgi --plugin http,python3 --http "$a" --http-keepalive --chdir "$tmp" --wsgi-file testapp.py --callable app \
		--master --disable-logging --die-on-term "$@" >"$out" 2>&1 & ;;
	esac
	pid[$name]=$!
	pids+=("$!")
	addr[$name]=$a
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://$a/hello"; then return; fi
		sleep 0.1
	done
	echo "daemon: $name did not start:" >&2
	cat "$out" >&2
	exit 1
}

stop() { kill -TERM "${pid[$1]}" 2>/dev/null || true; wait "${pid[$1]}" 2>/dev/null || true; }

# ticks NAME prints the CPU time used so far by the server NAME's processes (the main one and its
# descendants, threads counted in their process), in clock ticks.
ticks() {
	local t=0 p
	for p in $(pstree -pT "${pid[$1]}" 2>/dev/null | grep -o '([0-9]*)' | tr -d '()' || echo "${pid[$1]}"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# measure NAME URLPATH: one round of the load on NAME; prints "rps cpu_us_per_request".
measure() {
	local a b
	settle
	a=$(ticks "$1")
	"$tmp/load" -c "$CONNS" -d "$DURATION" -json "http://${addr[$1]}$2" >"$tmp/round.json"
	b=$(ticks "$1")
	awk -v r="$(json_num rps "$tmp/round.json")" -v n="$(json_num requests "$tmp/round.json")" -v t=$((b - a)) \
		'BEGIN { printf "%.0f %.0f\n", r, t * 10000 / n }'
}

# compare PATH NAMES...: rounds of the load on each server in turn; prints a line per server: name, median
# rate, median CPU per request.
compare() {
	local path=$1 name r
	shift
	for name in "$@"; do "$tmp/load" -c "$CONNS" -d 1s "http://${addr[$name]}$path" >/dev/null; done
	for r in $(seq "$ROUNDS"); do
		for name in "$@"; do echo "$name $(measure "$name" "$path")" >>"$tmp/rounds.$r"; done
	done
	for name in "$@"; do
		echo "$name $(cat "$tmp"/rounds.* | awk -v n="$name" '$1 == n { print $2 }' | median)" \
			"$(cat "$tmp"/rounds.* | awk -v n="$name" '$1 == n { print $3 }' | median)"
	done
	rm -f "$tmp"/rounds.*
}

label() {
	case $1 in
	ours) echo "our front end + daemon.py, 2x4" ;;
	modwsgi) echo "Apache $(apache2 -v | sed -n 's/.*Apache\/\([0-9.]*\).*/\1/p') mod_wsgi daemon mode, 2x4" ;;
	gunicorn) echo "gunicorn $(gunicorn --version 2>&1 | grep -o '[0-9][0-9.]*') gthread, 2x4" ;;
	uwsgi) echo "uWSGI $(uwsgi --version) http router, 2x4 (closes)" ;;
	threaded) echo "chapter 2, app in process, -workers 8" ;;
	goone) echo "front end + 1 Go daemon, -threads 8" ;;
	esac
}

echo "daemon: the Python test app, GET /hello, $CONNS keep-alive connections, $ROUNDS rounds of $DURATION per server" >&2
servers=(ours)
start ours ours -daemon python -python "$python" -processes 2 -threads 4 -idle-timeout 300s
if want MODWSGI; then
	start modwsgi modwsgi processes=2 threads=4
	servers+=(modwsgi)
fi
if want GUNICORN; then
	start gunicorn gunicorn -k gthread -w 2 --threads 4 --keep-alive 300
	servers+=(gunicorn)
fi
if want UWSGI; then
	start uwsgi uwsgi --processes 2 --threads 4
	servers+=(uwsgi)
fi
printf '%-48s %10s %14s %12s\n' "Python WSGI app, 2 processes x 4 threads" "req/s" "CPU us/req" "ours vs it"
compare /hello "${servers[@]}" >"$tmp/python"
ours_rps=$(awk '$1 == "ours" { print $2 }' "$tmp/python")
while read -r name rps cpu; do
	awk -v n="$(label "$name")" -v r="$rps" -v c="$cpu" -v o="$ours_rps" \
		'BEGIN { printf "%-48s %10.0f %14.0f %12.2f\n", n, r, c, o / r }'
done <"$tmp/python"
for s in "${servers[@]}"; do stop "$s"; done

echo
start threaded threaded -workers 8 -queue 256 -idle-timeout 300s
start goone ours -daemon go -processes 1 -threads 8 -idle-timeout 300s
printf '%-48s %10s %14s %12s\n' "the hop, with Go daemons" "req/s" "CPU us/req" "p50, 1 conn"
compare /hello threaded goone >"$tmp/hop"
declare -A hop_cpu
while read -r name rps cpu; do
	"$tmp/load" -c 1 -d 2s -json "http://${addr[$name]}/hello" >"$tmp/one.json"
	p50=$(sed -n 's/.*"p50": *\([0-9.]*\).*/\1/p' "$tmp/one.json" | head -1)
	hop_cpu[$name]=$cpu
	awk -v n="$(label "$name")" -v r="$rps" -v c="$cpu" -v p="$p50" \
		'BEGIN { printf "%-48s %10.0f %14.0f %10.0fus\n", n, r, c, p * 1000 }'
done <"$tmp/hop"
echo "the hop costs $((hop_cpu[goone] - hop_cpu[threaded])) us of CPU per request (front end and daemon together)"
stop threaded
stop goone

# faults NAME: the three faults on server NAME, one daemon of one thread; prints a line for each.
faults() {
	local a=${addr[$1]} t0 out before after
	# A request that waits 1.6s behind another, with a queue timeout of 1s: its status, when, and whether the
	# app ran (the counter moved by 1 over it and the next).
	before=$(curl -s "http://$a/counter")
	curl -s -o /dev/null "http://$a/sleep?ms=1800" &
	sleep 0.2
	out=$(curl -s -o /dev/null -w '%{http_code} after %{time_total}s' "http://$a/counter")
	wait $!
	after=$(curl -s "http://$a/counter")
	printf '  %-26s %s, the app %s\n' "queue timeout (1s)" "$out" "$([ $((after - before)) -eq 1 ] && echo "not run" || echo ran)"
	# A request that runs for ever, with a request timeout of 2s: its status, when, and the daemon after.
	before=$(curl -s "http://$a/pid" | grep -o '"pid":[0-9]*')
	out=$(curl -s -o /dev/null --max-time 30 -w '%{http_code} after %{time_total}s' "http://$a/sleep?ms=60000" || true)
	sleep 1
	after=$(curl -s "http://$a/pid" | grep -o '"pid":[0-9]*')
	printf '  %-26s %s, the daemon %s\n' "request timeout (2s)" "$out" "$([ "$before" != "$after" ] && echo restarted || echo "not restarted")"
	# A daemon that exits mid-request: the status, and how long until a new daemon answers.
	out=$(curl -s -o /dev/null -w '%{http_code} after %{time_total}s' "http://$a/crash")
	t0=$(date +%s%N)
	until curl -s -f -o /dev/null --max-time 5 "http://$a/pid"; do sleep 0.01; done
	printf '  %-26s %s, a new daemon answers %d ms later\n' "GET /crash" "$out" $((($(date +%s%N) - t0) / 1000000))
}

echo
echo "the same faults, one daemon of one thread"
start ours1 ours -daemon python -python "$python" -processes 1 -threads 1 -queue-timeout 1s -request-timeout 2s
echo "our front end + daemon.py:"
faults ours1
stop ours1
if want MODWSGI; then
	start modwsgi1 modwsgi processes=1 threads=1 queue-timeout=1 request-timeout=2
	echo "Apache mod_wsgi daemon mode:"
	faults modwsgi1
	stop modwsgi1
fi
