# SPDX-License-Identifier: MIT
# The @result protocol (bench/report.h, docs/performance.md) for benchmark
# scripts.  Source it, then print one line per figure:
#
#   . "$(dirname "$0")/report.sh"
#   bench_result BENCH SCENARIO UNIT BETTER "IOL RUNS" BASELINE "BASE RUNS" RATIO_IS GOAL
#
#   BETTER    lower | higher
#   IOL RUNS  iolayer's per-run figures, separated by spaces
#   BASELINE  the baseline's name ("" when there is none)
#   BASE RUNS its per-run figures
#   RATIO_IS  iolayer/baseline | baseline/iolayer (the ratio of the medians,
#             oriented so that the goal reads naturally)
#   GOAL      "" (none), or "<= 1.5" / ">= 1.2" on that ratio
#
# e.g. bench_result pool_bench "echo, 256 connections" "req/s" higher \
#          "$(runs echo-uring-256)" "epoll backend" "$(runs echo-epoll-256)" \
#          iolayer/baseline ">= 1.2"

bench_result() {
	awk -v bench="$1" -v scen="$2" -v unit="$3" -v better="$4" -v iv="$5" \
		-v base="$6" -v bv="$7" -v ris="$8" -v goal="$9" '
	function jstr(s) {
		gsub(/\\/, "\\\\", s)
		gsub(/"/, "\\\"", s)
		return "\"" s "\""
	}
	# median, min and max of the space-separated values of s into F
	function fig(s,    n, v, i, j, t) {
		n = split(s, v, " ")
		for (i = 2; i <= n; i++) {
			t = v[i] + 0
			for (j = i - 1; j >= 1 && v[j] + 0 > t; j--)
				v[j + 1] = v[j]
			v[j + 1] = t
		}
		F["n"] = n
		F["min"] = v[1] + 0
		F["max"] = v[n] + 0
		F["median"] = n % 2 ? v[(n + 1) / 2] + 0 : (v[n / 2] + v[n / 2 + 1]) / 2
		return sprintf("{\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"runs\":%d}",
			F["median"], F["min"], F["max"], n)
	}
	BEGIN {
		ij = fig(iv); im = F["median"]
		out = "@result {\"v\":1,\"bench\":" jstr(bench) ",\"scenario\":" jstr(scen) \
			",\"unit\":" jstr(unit) ",\"better\":" jstr(better) ",\"iolayer\":" ij
		if (base == "" || bv == "") {
			print out ",\"baseline\":null,\"baseline_value\":null,\"ratio\":null," \
				"\"ratio_is\":null,\"goal\":null,\"goal_met\":null}"
			exit
		}
		bj = fig(bv); bm = F["median"]
		r = ris == "baseline/iolayer" ? (im > 0 ? bm / im : 0) : (bm > 0 ? im / bm : 0)
		out = out ",\"baseline\":" jstr(base) ",\"baseline_value\":" bj \
			sprintf(",\"ratio\":%.6g,\"ratio_is\":", r) jstr(ris)
		if (goal == "") {
			print out ",\"goal\":null,\"goal_met\":null}"
			exit
		}
		split(goal, g, " ")
		met = g[1] == "<=" ? r <= g[2] + 0 : r >= g[2] + 0
		gt = g[2] + 0 >= 10 ? sprintf("%s %.0fx", g[1], g[2]) : sprintf("%s %.2fx", g[1], g[2])
		print out ",\"goal\":" jstr(gt) ",\"goal_met\":" (met ? "true" : "false") "}"
	}'
}
