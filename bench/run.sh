#!/bin/sh
# Runs the finalgc benchmarks and prints one table per benchmark.
#
#   run.sh [--dir DIR] [--large] [--runs R]
#
#   --dir DIR   where the binaries are (default ../build/release/bench)
#   --large     bigger workloads (gcbench depths 20/18/18 with a 2M-double
#               array, allocbench N x5) and R=10
#   --runs R    runs per variant (default 5, or 10 with --large)
#
# Every benchmark is built as <bench>-finalgc, -bdwgc, -malloc, -mimalloc;
# missing binaries are skipped.  The variants run interleaved (A B C D A B C
# D ...) so that drift in machine load affects them alike.  Each program
# times its own workload with CLOCK_MONOTONIC and reports its own peak RSS
# (getrusage ru_maxrss), so no external timing tool is needed.
#
# Exits non-zero if any run fails (crash, damaged data, or timeout).

set -u

dir=$(dirname "$0")/../build/release/bench
large=0
runs=""
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --large) large=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    --runs=*) runs=${1#--runs=}; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$large" -eq 1 ]; then
  gcbench_args="20 18 18"
  gcbench_desc="stretch depth 20, long-lived depth 18, trees up to depth 18, 2M doubles"
  alloc_n=100000000
  : "${runs:=10}"
else
  gcbench_args=""
  gcbench_desc="stretch depth 18, long-lived depth 16, trees up to depth 16, 500k doubles"
  alloc_n=20000000
  : "${runs:=5}"
fi
case $runs in
  ''|*[!0-9]*|0) echo "run.sh: bad --runs '$runs'" >&2; exit 2 ;;
esac

variants="finalgc bdwgc malloc mimalloc"
per_run_timeout=300
if command -v timeout >/dev/null 2>&1; then
  tmo="timeout $per_run_timeout"
else
  tmo=""
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/finalgc-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

status=0

# field KEY LINE: the value of KEY=value in a line of the programs' output.
field() {
  printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# stats FILE: "median min max" of the numbers in FILE, one a line.
stats() {
  sort -g "$1" | awk '{ a[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      print m, a[1], a[NR]
    }'
}

# run_bench NAME KEY UNIT DESC ARGS...
#   KEY is the figure to compare (time_ms or ns_per_obj), UNIT its label.
run_bench() {
  name=$1 key=$2 unit=$3 desc=$4
  shift 4
  present=""
  for v in $variants; do
    if [ -x "$dir/$name-$v" ]; then
      present="$present $v"
      : > "$tmp/$name.$v.val"
      : > "$tmp/$name.$v.gcs"
      : > "$tmp/$name.$v.rss"
      rm -f "$tmp/$name.$v.fail"
    else
      echo "($name-$v not built: skipped)"
    fi
  done
  if [ -z "$present" ]; then
    echo "$name: no binaries in $dir"
    status=1
    return
  fi

  printf '%s: %s; %s runs of each variant\n' "$name" "$desc" "$runs"
  printf '  running'
  r=1
  while [ "$r" -le "$runs" ]; do
    for v in $present; do
      [ -f "$tmp/$name.$v.fail" ] && continue
      out=$($tmo "$dir/$name-$v" "$@" 2> "$tmp/err")
      rc=$?
      if [ "$rc" -ne 0 ]; then
        what="exit $rc"
        [ "$rc" -eq 124 ] && [ -n "$tmo" ] && what="timed out after ${per_run_timeout}s"
        [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && what="killed by signal $((rc - 128))"
        echo "$what" > "$tmp/$name.$v.fail"
        printf '\n  %s-%s run %s FAILED (%s):\n' "$name" "$v" "$r" "$what"
        { printf '%s\n' "$out"; cat "$tmp/err"; } | sed '/^$/d; s/^/    /' | tail -n 20
        printf '  running'
        status=1
        continue
      fi
      val=$(field "$key" "$out")
      if [ -z "$val" ]; then
        echo "bad output" > "$tmp/$name.$v.fail"
        printf '\n  %s-%s: no %s= in output: %s\n  running' "$name" "$v" "$key" "$out"
        status=1
        continue
      fi
      echo "$val" >> "$tmp/$name.$v.val"
      field gcs "$out" >> "$tmp/$name.$v.gcs"
      field maxrss_kb "$out" >> "$tmp/$name.$v.rss"
      if [ "$v" = mimalloc ] && [ "$r" -eq 1 ] && [ "$(field allocator "$out")" != mimalloc ]; then
        printf '\n  warning: %s-mimalloc uses allocator "%s", not mimalloc\n  running' \
          "$name" "$(field allocator "$out")"
      fi
      printf '.'
    done
    r=$((r + 1))
  done
  printf '\n\n'

  base=""
  if [ -s "$tmp/$name.bdwgc.val" ] && [ ! -f "$tmp/$name.bdwgc.fail" ]; then
    base=$(stats "$tmp/$name.bdwgc.val" | cut -d' ' -f1)
  fi
  printf '  %-10s %12s %21s %14s %8s %9s\n' variant "median $unit" "min - max $unit" \
    "peak RSS MiB" GCs "vs bdwgc"
  for v in $present; do
    if [ -f "$tmp/$name.$v.fail" ]; then
      printf '  %-10s FAILED (%s)\n' "$v" "$(cat "$tmp/$name.$v.fail")"
      continue
    fi
    read -r med lo hi <<EOF
$(stats "$tmp/$name.$v.val")
EOF
    rss=$(stats "$tmp/$name.$v.rss" | cut -d' ' -f1)
    gcs=$(stats "$tmp/$name.$v.gcs" | cut -d' ' -f1)
    awk -v v="$v" -v med="$med" -v lo="$lo" -v hi="$hi" -v rss="$rss" -v gcs="$gcs" \
        -v base="$base" 'BEGIN {
      ratio = (base != "" && base > 0) ? sprintf("%.2fx", med / base) : "-"
      printf "  %-10s %12.2f %21s %14.1f %8g %9s\n",
             v, med, sprintf("%.2f - %.2f", lo, hi), rss / 1024, gcs, ratio
    }'
  done
  echo
}

# shellcheck disable=SC2086 # $gcbench_args is a list of arguments
run_bench gcbench time_ms ms "$gcbench_desc" $gcbench_args
run_bench allocbench ns_per_obj ns/obj \
  "$alloc_n objects of 16..64 bytes, each dropped at once (malloc: malloc+free)" "$alloc_n"

exit $status
