#!/bin/sh
# Runs every test binary in $1 with the environment assignments in $2,
# prints one line per test and a summary, and fails if any test failed.
dir=$1
envs=$2
pass=0
fail=0
failed=""
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  start=$(date +%s.%N)
  if env $envs "$t" > "$t.log" 2>&1; then
    pass=$((pass + 1))
    printf 'PASS  %-28s %6.2fs\n' "$name" "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
  else
    fail=$((fail + 1))
    failed="$failed $name"
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$t.log" | tail -n 40
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
