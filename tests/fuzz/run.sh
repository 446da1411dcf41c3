#!/bin/sh
# make fuzz-run: run one libFuzzer harness for N seconds on its seed
# corpus plus what earlier runs found.  make starts one per harness,
# FUZZ_JOBS at a time (a core each), so the output of each goes to
# .fuzz/NAME.log and only its final figures, or on a finding the log's
# tail, reach the terminal, unmixed.
# usage: tests/fuzz/run.sh .fuzz/NAME SECONDS
set -eu
bin=$1
secs=$2
n=${bin#.fuzz/}
mkdir -p ".fuzz/corpus/$n" "tests/fuzz/corpus/$n"
log=".fuzz/$n.log"
if "$bin" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix=".fuzz/$n-" ".fuzz/corpus/$n" \
    "tests/fuzz/corpus/$n" >"$log" 2>&1; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "== $n: $secs s, ${runs:-?} runs, no finding"
else
	echo "== $n: FINDING (log: $log)"
	tail -n 60 "$log"
	exit 1
fi
