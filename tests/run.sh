#!/bin/sh
# Runs every test binary in $1 with the environment assignments in $2,
# prints one line per test and a summary, and fails if any test failed.
# A test that runs for more than TEST_TIMEOUT seconds (default 600; the
# slowest takes seconds, tens under ThreadSanitizer) has hung: a damaged
# heap can send a list walk round a cycle, and CI must fail, not wait.
dir=$1
envs=$2
pass=0
fail=0
failed=""
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  start=$(date +%s.%N)
  timeout "${TEST_TIMEOUT:-600}" env $envs "$t" > "$t.log" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then
    pass=$((pass + 1))
    printf 'PASS  %-28s %6.2fs\n' "$name" "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
  else
    fail=$((fail + 1))
    failed="$failed $name"
    printf 'FAIL  %s%s\n' "$name" \
      "$([ "$status" -eq 124 ] && echo " (timed out after ${TEST_TIMEOUT:-600} s)")"
    sed 's/^/      /' "$t.log" | tail -n 40
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
