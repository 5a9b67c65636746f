#!/usr/bin/env bash
# Runs the sidecar's libFuzzer harnesses (sidecar/fuzz/) for a bounded time and fails on the
# first crash, hang, leak or broken promise. Needs clang with libFuzzer
# (Debian: apt-get install clang libclang-rt-14-dev, or the clang version your release has).
#
#   npm run fuzz                       # FUZZ_SECONDS=60 in all, split between the harnesses
#   FUZZ_SECONDS=3600 npm run fuzz     # the longer run, before a release
#   FUZZ_JOBS=4 FUZZ_SECONDS=3600 npm run fuzz   # parallel workers per harness
#
#   FUZZ_COVERAGE=1 npm run fuzz       # then line/branch coverage of the corpus (llvm-cov)
#
# The growing corpus is kept in dist/fuzz/corpus-<harness> between runs; the checked-in
# frame vectors (test/vectors/frames, from scripts/fuzz-seeds.ts, also replayed by the
# TypeScript tests) are the seeds: read, never written (libFuzzer writes to the first folder
# only). A crash leaves its input in dist/fuzz/crash-*; replay it with dist/fuzz/<harness> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
harnesses=(fuzz_wire fuzz_dispatch)
seeds=test/vectors/frames
per=$(( seconds / ${#harnesses[@]} ))
(( per >= 1 )) || per=1

make -s -C sidecar fuzz

status=0
for h in "${harnesses[@]}"; do
	corpus=dist/fuzz/corpus-$h
	mkdir -p "$corpus"
	log=dist/fuzz/$h.log
	echo "== $h: ${per}s, ${jobs} job(s)"
	args=(-max_total_time="$per" -max_len=65536 -timeout=10 -rss_limit_mb=2048
		-dict=sidecar/fuzz/wire.dict -artifact_prefix=dist/fuzz/ -print_final_stats=1)
	if (( jobs > 1 )); then
		args+=(-fork="$jobs" -ignore_crashes=0)
	fi
	if ! "dist/fuzz/$h" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1; then
		status=1
		tail -n 40 "$log"
		echo "$h: FAILED (input saved under dist/fuzz/)"
		continue
	fi
	# The last status line has the coverage (cov: edges, ft: features); final stats the executions.
	grep -E '^#[0-9]+' "$log" | tail -n 1 || true
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
	echo "corpus: $(find "$corpus" -type f | wc -l) inputs"
done

if [[ ${FUZZ_COVERAGE:-} == 1 ]]; then
	make -s -C sidecar fuzz-cov
	for h in "${harnesses[@]}"; do
		echo "== coverage of $h's corpus"
		LLVM_PROFILE_FILE=dist/fuzz/$h.profraw "dist/fuzz/cov_$h" -runs=0 \
			"dist/fuzz/corpus-$h" "$seeds" >/dev/null 2>&1
		llvm-profdata merge -sparse "dist/fuzz/$h.profraw" -o "dist/fuzz/$h.profdata"
		llvm-cov report "dist/fuzz/cov_$h" -instr-profile="dist/fuzz/$h.profdata" \
			sidecar/wire.c sidecar/sidecar.c sidecar/spawn.c sidecar/stdio.c sidecar/opened.c sidecar/relay.c | sed "s|$PWD/||"
	done
fi
exit "$status"
