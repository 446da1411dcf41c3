#!/bin/sh
# Run every test: the Check unit suites, then the integration suite
# against real local SMTP servers; end with one line for the whole run.
set -u
cd "$(dirname "$0")/.." || exit 1

out=$(mktemp)
trap 'rm -f "$out"' EXIT

unit=${UNIT:-./tests/unit}
echo "== unit tests (Check): $unit"
CK_FORK=${CK_FORK:-yes} "$unit" 2>&1 | tee "$out"
# Check: "100%: Checks: 42, Failures: 0, Errors: 0"
line=$(grep -E 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$out" |
    tail -n 1)
u_total=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
u_fail=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/')
u_fail=$(( $u_fail ))
[ -n "$line" ] || { u_total=0; u_fail=1; echo "unit tests did not run"; }

echo "== integration tests: ${RELAYMAIL:=./relaymail}"
export RELAYMAIL
/usr/bin/python3 tests/itest.py 2>&1 | tee "$out"
line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
i_pass=$(echo "$line" | sed -E 's/^integration: ([0-9]+) passed.*/\1/')
i_fail=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
[ -n "$line" ] || { i_pass=0; i_fail=1; echo "integration tests did not run"; }

passed=$((u_total - u_fail + i_pass))
failed=$((u_fail + i_fail))
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
