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
