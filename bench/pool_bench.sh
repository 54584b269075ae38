#!/bin/sh
# The IO pool benchmarks, in one go, with the server pinned to one CPU and
# the load generator to another:
#   - examples/echo_server on each backend, 1, 64 and 256 connections,
#     64-byte messages, one in flight per connection (bench/echo_bench);
#   - bench/raw_uring_echo (no pool) at 1 and 256 connections;
#   - wrk against examples/httpd on each backend;
#   - bench/file_bench: 4 KiB random reads of a cached file, queue depth 32,
#     through the pool against pread on as many threads.
# Each scenario runs RUNS times, the scenarios interleaved so that a noisy
# neighbour hits all of them alike; the table shows medians and the spread
# (min-max in % of the median), then the ratios against the goals.
#
# usage: sh bench/pool_bench.sh   (after make; needs wrk: mk/deps.sh bench)
# environment: BUILD=build RUNS=5 DURATION=5 WARMUP=1 SERVER_CPU=0 CLIENT_CPU=1
#              PORT=19000 SERVER_THREADS=1
set -eu

BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-19000}
SERVER_THREADS=${SERVER_THREADS:-1}

ECHO_SERVER=$BUILD/examples/echo_server
HTTPD=$BUILD/examples/httpd
RAW=$BUILD/bench/raw_uring_echo
CLIENT=$BUILD/bench/echo_bench
FILEB=$BUILD/bench/file_bench
for b in "$ECHO_SERVER" "$HTTPD" "$RAW" "$CLIENT" "$FILEB"; do
	[ -x "$b" ] || { echo "pool_bench: $b missing: run make first" >&2; exit 1; }
done
command -v wrk >/dev/null 2>&1 || { echo "pool_bench: wrk missing: sh mk/deps.sh bench" >&2; exit 1; }
command -v taskset >/dev/null 2>&1 || { echo "pool_bench: taskset missing (util-linux)" >&2; exit 1; }

out=$(mktemp -d /tmp/pool-bench.XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$out"
}
trap cleanup EXIT INT TERM

liburing=$(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null ||
	pkg-config --modversion liburing 2>/dev/null || echo unknown)
echo "== IO pool benchmarks"
echo "machine:  $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs," \
	"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:   $(uname -r)    liburing: $liburing"
echo "setup:    server on CPU $SERVER_CPU ($SERVER_THREADS pool thread), client on CPU $CLIENT_CPU;" \
	"$RUNS runs x ${DURATION}s (+${WARMUP}s warm-up)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"

# This machine may be shared: before each measurement wait (up to
# QUIET_WAIT seconds) until both CPUs are nearly idle, so that another
# program's load is not measured; a run that had to start anyway is counted
# and reported as noisy.
QUIET_WAIT=${QUIET_WAIT:-180}
noisy=0
cpu_busy() { # busy % of the busiest of the two CPUs over 0.3 s
	a=$(grep "^cpu$SERVER_CPU \|^cpu$CLIENT_CPU " /proc/stat)
	sleep 0.3
	b=$(grep "^cpu$SERVER_CPU \|^cpu$CLIENT_CPU " /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '
		{ t = 0; for (i = 2; i <= NF; i++) t += $i; idle = $5 + $6
		  if ($1 in T) { d = t - T[$1]; b = d > 0 ? 100 * (1 - (idle - I[$1]) / d) : 0
				 if (b > m) m = b }
		  T[$1] = t; I[$1] = idle }
		END { printf "%.0f\n", m }'
}
wait_quiet() {
	waited=0
	while [ "$(cpu_busy)" -gt 10 ]; do
		if [ $waited -ge "$QUIET_WAIT" ]; then
			noisy=$((noisy + 1))
			echo "  (other load on the CPUs: measuring anyway, counted as noisy)"
			return
		fi
		[ $waited -eq 0 ] && echo "  (waiting for other load on the CPUs to end)"
		sleep 2
		waited=$((waited + 2))
	done
}

# wait until something listens on $1
wait_port() {
	tries=0
	while ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; do
		tries=$((tries + 1))
		[ $tries -gt 250 ] && { echo "pool_bench: nothing listens on $1" >&2; return 1; }
		sleep 0.02
	done
}

start_server() { # port command...
	p=$1
	shift
	taskset -c "$SERVER_CPU" "$@" >/dev/null &
	server_pid=$!
	wait_port "$p"
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# scenario name -> file of "rps p50 p99 server-cpu-us client-cpu-us" lines
record() { echo "$2 $3 $4 ${5:-0} ${6:-0}" >>"$out/$1"; }

run_echo() { # name conns server-command...
	name=$1
	conns=$2
	shift 2
	PORT=$((PORT + 1))
	wait_quiet
	start_server "$PORT" "$@" --port "$PORT"
	line=$("$CLIENT" --port "$PORT" --conns "$conns" --size 64 --depth 1 \
		--duration "$DURATION" --warmup "$WARMUP" --cpu "$CLIENT_CPU" --server-pid "$server_pid")
	stop_server
	rps=$(echo "$line" | sed 's/.*rps=\([0-9.]*\).*/\1/')
	p50=$(echo "$line" | sed 's/.*p50_us=\([0-9.]*\).*/\1/')
	p99=$(echo "$line" | sed 's/.*p99_us=\([0-9.]*\).*/\1/')
	cpu=$(echo "$line" | sed 's/.*server_cpu_us=\([0-9.]*\).*/\1/')
	ccpu=$(echo "$line" | sed 's/.*client_cpu_us=\([0-9.]*\).*/\1/')
	record "$name" "$rps" "$p50" "$p99" "$cpu" "$ccpu"
	printf '  %-18s %8s req/s  p50 %7s us  p99 %8s us  CPU/req: server %5s us, client %5s us\n' \
		"$name" "$rps" "$p50" "$p99" "$cpu" "$ccpu"
}

# wrk's latency unit varies (us, ms, s): to microseconds
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
		else if (v ~ /s$/) print n * 1000000; else print n }'
}

run_wrk() { # name backend
	PORT=$((PORT + 1))
	wait_quiet
	start_server "$PORT" "$HTTPD" --backend "$2" --threads "$SERVER_THREADS" --port "$PORT"
	res=$(taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d"${DURATION}s" --latency \
		"http://127.0.0.1:$PORT/" 2>&1)
	stop_server
	rps=$(echo "$res" | awk '/Requests\/sec/ { print $2 }')
	p50=$(to_us "$(echo "$res" | awk '$1 == "50%" { print $2 }')")
	p99=$(to_us "$(echo "$res" | awk '$1 == "99%" { print $2 }')")
	if echo "$res" | grep -q "Non-2xx\|Socket errors"; then
		echo "$res" | grep "Non-2xx\|Socket errors" | sed 's/^/  wrk: /'
	fi
	record "$1" "$rps" "$p50" "$p99"
	printf '  %-18s %8s req/s  p50 %7s us  p99 %8s us\n' "$1" "$rps" "$p50" "$p99"
}

run_file() {
	wait_quiet
	res=$(taskset -c "$SERVER_CPU" "$FILEB" --threads 1 --qd 32 --duration "$DURATION")
	for m in "pread" "io_uring" "epoll"; do
		case $m in
		pread) v=$(echo "$res" | awk -F'iops=' '/mode=pread/ { print $2 }') ;;
		*) v=$(echo "$res" | awk -F'iops=' -v b="backend=$m" 'index($0, b) { print $2 }') ;;
		esac
		record "file-$m" "$v" 0 0
		printf '  %-18s %8s reads/s\n' "file-$m" "$v"
	done
}

S="--threads $SERVER_THREADS"
run=1
while [ $run -le "$RUNS" ]; do
	echo "-- run $run of $RUNS"
	for c in 1 64 256; do
		# shellcheck disable=SC2086
		run_echo "echo-uring-$c" "$c" "$ECHO_SERVER" --backend uring $S
		# shellcheck disable=SC2086
		run_echo "echo-epoll-$c" "$c" "$ECHO_SERVER" --backend epoll $S
	done
	run_echo "raw-uring-1" 1 "$RAW"
	run_echo "raw-uring-256" 256 "$RAW"
	run_wrk "httpd-uring" uring
	run_wrk "httpd-epoll" epoll
	run_file
	run=$((run + 1))
done

# median of column $2 of scenario $1
median() {
	sort -n -k"$2" "$out/$1" | awk -v k="$2" '{ v[NR] = $k }
		END { printf "%.0f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# the same with two decimals (CPU microseconds per request)
median2() {
	sort -n -k"$2" "$out/$1" | awk -v k="$2" '{ v[NR] = $k }
		END { printf "%.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# (max - min) / median of the throughput column, in %
spread() {
	sort -n -k1 "$out/$1" | awk '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.0f\n", (m > 0 ? 100 * (v[NR] - v[1]) / m : 0) }'
}

echo
echo "== results (medians of $RUNS runs; spread = (max - min) / median)"
printf '%-16s %9s %7s %8s %8s %14s %14s\n' scenario "req/s" spread "p50 us" "p99 us" \
	"server us/req" "client us/req"
for n in echo-uring-1 echo-epoll-1 echo-uring-64 echo-epoll-64 echo-uring-256 \
	echo-epoll-256 raw-uring-1 raw-uring-256; do
	printf '%-16s %9s %6s%% %8s %8s %14s %14s\n' "$n" "$(median "$n" 1)" "$(spread "$n")" \
		"$(median "$n" 2)" "$(median "$n" 3)" "$(median2 "$n" 4)" "$(median2 "$n" 5)"
done
for n in httpd-uring httpd-epoll; do
	printf '%-16s %9s %6s%% %8s %8s\n' "$n" "$(median "$n" 1)" "$(spread "$n")" \
		"$(median "$n" 2)" "$(median "$n" 3)"
done
for n in file-pread file-io_uring file-epoll; do
	printf '%-16s %9s %6s%%  reads/s\n' "$n" "$(median "$n" 1)" "$(spread "$n")"
done

echo
echo "== goals (ratios of medians from this run)"
printf '%-46s %7s %7s %s\n' ratio value goal met
goal() { # label numerator denominator goal
	awk -v l="$1" -v a="$(median "$2" 1)" -v b="$(median "$3" 1)" -v g="$4" 'BEGIN {
		r = b > 0 ? a / b : 0
		printf "%-46s %7.2f %7s %s\n", l, r, ">=" g, (r >= g ? "yes" : "NO") }'
}
ratio() { # label numerator denominator
	awk -v l="$1" -v a="$(median "$2" 1)" -v b="$(median "$3" 1)" 'BEGIN {
		printf "%-46s %7.2f\n", l, (b > 0 ? a / b : 0) }'
}
goal "echo io_uring / epoll, 256 connections" echo-uring-256 echo-epoll-256 1.2
goal "echo io_uring / epoll, 1 connection" echo-uring-1 echo-epoll-1 0.95
goal "echo pool (io_uring) / raw_uring_echo, 256 conn" echo-uring-256 raw-uring-256 0.90
echo "== other ratios (no goal)"
ratio "echo io_uring / epoll, 64 connections" echo-uring-64 echo-epoll-64
awk -v a="$(median2 echo-epoll-256 4)" -v b="$(median2 echo-uring-256 4)" 'BEGIN {
	printf "%-46s %7.2f\n", "server CPU per request epoll / io_uring, 256", (b > 0 ? a / b : 0) }'
ratio "echo pool (io_uring) / raw_uring_echo, 1 conn" echo-uring-1 raw-uring-1
ratio "httpd io_uring / epoll (wrk -c64)" httpd-uring httpd-epoll
ratio "file reads: pool io_uring / pread" file-io_uring file-pread
ratio "file reads: pool epoll / pread" file-epoll file-pread
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end;" \
	"$noisy measurement(s) started with other load on the CPUs"

# One @result line per figure, for `iolayer bench` (bench/report.sh,
# docs/performance.md "The result protocol"): the per-run values recorded
# above, iolayer's against its baseline, with the goals of issue 4.
. "$(dirname "$0")/report.sh"
runs() { # the per-run values of column $2 (default 1) of scenario $1
	cut -d' ' -f"${2:-1}" "$out/$1" | tr '\n' ' '
}
bench_result pool_bench "echo, 256 connections, 64 B" req/s higher "$(runs echo-uring-256)" \
	"epoll backend" "$(runs echo-epoll-256)" iolayer/baseline ">= 1.2"
bench_result pool_bench "echo, 1 connection, 64 B" req/s higher "$(runs echo-uring-1)" \
	"epoll backend" "$(runs echo-epoll-1)" iolayer/baseline ">= 0.95"
bench_result pool_bench "echo, 256 connections, the pool on io_uring" req/s higher \
	"$(runs echo-uring-256)" "raw_uring_echo (no pool)" "$(runs raw-uring-256)" \
	iolayer/baseline ">= 0.90"
bench_result pool_bench "echo, 64 connections, 64 B" req/s higher "$(runs echo-uring-64)" \
	"epoll backend" "$(runs echo-epoll-64)" iolayer/baseline ""
bench_result pool_bench "echo, 256 connections, server CPU per request" us lower \
	"$(runs echo-uring-256 4)" "epoll backend" "$(runs echo-epoll-256 4)" iolayer/baseline ""
bench_result pool_bench "echo, 1 connection, the pool on io_uring" req/s higher \
	"$(runs echo-uring-1)" "raw_uring_echo (no pool)" "$(runs raw-uring-1)" iolayer/baseline ""
bench_result pool_bench "httpd, wrk -t1 -c64" req/s higher "$(runs httpd-uring)" \
	"epoll backend" "$(runs httpd-epoll)" iolayer/baseline ""
bench_result pool_bench "4 KiB cached random reads, QD 32, 1 thread" reads/s higher \
	"$(runs file-io_uring)" "pread, 1 thread" "$(runs file-pread)" iolayer/baseline ""
bench_result pool_bench "4 KiB cached random reads, QD 32, epoll backend" reads/s higher \
	"$(runs file-epoll)" "pread, 1 thread" "$(runs file-pread)" iolayer/baseline ""
