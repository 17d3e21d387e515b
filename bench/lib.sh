# lib.sh: what the bench scripts share. Source it: . bench/lib.sh

# busy_ticks prints the time all the cores have spent busy, in clock ticks
# (nothing without /proc/stat).
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat 2>/dev/null || true
}

# settle waits, for 10s at most, until the machine's other work leaves the
# cores 95% idle for half a second, so that no measured run starts in the
# middle of someone else's build. Every run waits alike.
settle() {
	local a b
	for _ in $(seq 20); do
		a=$(busy_ticks)
		sleep 0.5
		b=$(busy_ticks)
		if [ -z "$a" ] || [ -z "$b" ] || [ $((b - a)) -le $(($(nproc) * 5 / 2)) ]; then
			return
		fi
	done
}

# median prints the median of the numbers it reads, one per line.
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cpu_ticks PID prints the CPU time (user and system, in clock ticks of 10 ms) used so far by process PID and
# its children: nginx serves from the workers its master started.
cpu_ticks() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# install_debian WHO PACKAGE installs PACKAGE with apt-get (through sudo unless root), saying so as WHO.
# Debian starts the services it installs: a policy-rc.d says no while it installs (one already there, as in
# a container, is left alone), since the bench starts what it measures itself.
install_debian() {
	local sudo="" policy=""
	echo "$1: installing $2 from Debian" >&2
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
	$sudo apt-get update -qq
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod +x "$policy"
	fi
	$sudo apt-get install -y -qq "$2" >/dev/null
	if [ -n "$policy" ]; then $sudo rm -f "$policy"; fi
}

# wait_addr OUT WHO waits, 10 s at most, for a server to write "listening on 127.0.0.1:PORT" into the file
# OUT, and prints the address. If none comes, it says that WHO did not start, shows what it wrote, and fails.
wait_addr() {
	local addr
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$1" | head -1)
		if [ -n "$addr" ]; then
			echo "$addr"
			return 0
		fi
		sleep 0.1
	done
	echo "$2 did not start:" >&2
	cat "$1" >&2
	return 1
}

# json_num KEY [FILE] prints the number that follows "KEY": in FILE (or standard input), the -json output of
# the load generator or of the idle tool.
json_num() {
	sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" ${2:+"$2"} | head -1
}

# freeport prints a loopback port that no socket uses (for a server that cannot report the port 0 gave it),
# below the range the kernel picks clients' ports from, which the load generator's connections occupy.
freeport() {
	local low port
	low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for port in $(shuf -i 10000-$((low - 1)) -n 50); do
		if [ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
			echo "$port"
			return
		fi
	done
	echo "no free port found" >&2
	exit 1
}
