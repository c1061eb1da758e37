#!/bin/sh
# Runs the finalgc benchmarks and prints one table per benchmark.
#
#   run.sh [--dir DIR] [--large] [--runs R]
#
#   --dir DIR   where the binaries are (default ../build/release/bench)
#   --large     bigger workloads (gcbench depths 20/18/18 with a 2M-double
#               array, allocbench N x5, finbench run and weakbench
#               cleanup-run N x4, weakbench's weak-pointer N x10, mtalloc
#               50M allocations per thread, pause tree depth 24: 1 GiB) and
#               R=10 (pause: 3)
#   --runs R    runs per variant (default 5, or 10 with --large; but by
#               default finbench's "run", weakbench's "cleanup-run" and
#               mtalloc 7 (its speedup column is a ratio of two medians,
#               and the 2-thread runs are the noisiest), pause 2, or 3 with
#               --large)
#
# gcbench, allocbench and mtalloc are built as <bench>-finalgc,
# -finalgc-gch, -bdwgc, -malloc, -mimalloc; finbench (finalizers) as
# finbench-finalgc, -finalgc-gch, -bdwgc and -go (the Go port, go/finbench),
# and gives two tables: "pair" (set+clear, ns/pair) and "run" (finalizer
# throughput, ns per finalized object), with ratios to both bdwgc and Go;
# weakbench (cleanups and weak pointers) as weakbench-finalgc and -bdwgc,
# in four tables: cleanup add+stop pairs and cleanup throughput (each with
# finalgc's finalizer figure from finbench under it: there is no Go
# column, as runtime.AddCleanup and package weak need Go 1.24+), weak
# pointer creation and reads (one row per operation), against bdwgc's
# disappearing links; pause as pause-finalgc and -bdwgc; cpuskew-cpu, run
# before mtalloc and again before pause, times one thread pinned to each
# CPU in turn (a CPU slower than the other slows every 2-thread and
# 2-marker figure); cpuscale-cpu and
# memscale-mem, no allocator at all, give the machine's own 2-thread
# speedups just before mtalloc, to read its speedup column against: on
# pure arithmetic (a second CPU that is a hyperthread, or shared with
# another guest, gives well under 2x to any program), and on threads
# rewriting 2 MiB each in 8 KiB blocks interleaved with each other's, as
# threads allocating from one collected heap do (at times this virtual
# machine runs them at half speed each, or slower).  mtalloc runs
# each variant with 1 and 2 threads, pause with 1 and 2 markers: one row
# per variant and count, ratios to bdwgc with the same count, and the
# speedup of each row over the same variant's count of 1.  Missing
# binaries are skipped.  The variants run interleaved (A B C D A B C D ...)
# so that drift in machine load affects them alike.  Each program times its
# own workload with CLOCK_MONOTONIC and reports its own peak RSS (getrusage
# ru_maxrss), so no external timing tool is needed.
#
# The finalgc-gch binaries, labelled "finalgc(gc.h)", are the bdwgc
# variant's very <gc.h> code built against finalgc's bdwgc-compatible layer.
# Under each table that has them, "finalgc(gc.h)/bdwgc: time X, peak RSS Y"
# compares the two on the same source, and the run ends with a summary of
# those ratios against the target (both <= 1.00x).  Every table also has a
# "RSS vs bdwgc" column, peak RSS over bdwgc's, beside the time ratios.
#
# Exits non-zero if any run fails (crash, damaged data, unfinalized objects,
# or timeout).

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
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$large" -eq 1 ]; then
  gcbench_args="20 18 18"
  gcbench_desc="stretch depth 20, long-lived depth 18, trees up to depth 18, 2M doubles"
  alloc_n=100000000
  fin_n=4000000
  weak_n=3000000
  weak_read_n=10000000
  mt_n=50000000
  pause_depth=24
  fin_runs=${runs:-10}
  mt_runs=${runs:-10}
  pause_runs=${runs:-3}
  : "${runs:=10}"
else
  gcbench_args=""
  gcbench_desc="stretch depth 18, long-lived depth 16, trees up to depth 16, 500k doubles"
  alloc_n=20000000
  fin_n=1000000
  weak_n=300000
  weak_read_n=1000000
  mt_n=10000000
  pause_depth=22
  fin_runs=${runs:-3}
  mt_runs=${runs:-7}
  pause_runs=${runs:-2}
  : "${runs:=5}"
fi
case $runs in
  ''|*[!0-9]*|0) echo "run.sh: bad --runs '$runs'" >&2; exit 2 ;;
esac

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

# field KEY LINE: the value of the first KEY=value word (words being
# separated by white space) in the programs' output.  No pipeline: it runs
# some 700 times, and a fork+exec can cost milliseconds.
field() {
  _v=" $2"
  _w=${_v#*[[:space:]]"$1="}
  if [ "$_w" != "$_v" ]; then
    printf '%s\n' "${_w%%[[:space:]]*}"
  fi
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

# run_bench TAG PROG KEY UNIT TITLE DESC ARGS...
#   Runs $dir/PROG-<variant> ARGS for each of $variants, $runs times,
#   interleaved, and prints a table headed TITLE.  KEY is the figure to
#   compare (time_ms, ns_per_obj...), UNIT its label; TAG names the table's
#   temporary files.  Settings, as shell variables:
#     variants   the variants to run, in order
#     bases      the variants that get a ratio column ("vs bdwgc"...)
#     extra      more columns, "key:label:printf-format" each: the median of
#                key's values ('_' in a label prints as a space; no ':',
#                '=' nor spaces in a format)
#     params     empty, or a list of values (thread or marker counts): each
#                variant then runs once per value, given as its first
#                argument (before ARGS), and gets one row per value,
#                labelled "<variant> $pname=<value>"; its ratio columns
#                compare with the base variant at the same value, and a
#                "speedup" column gives the median at the first value over
#                the row's (KEY being a time: how many times faster),
#                unless speedup=no
#     pname      the label of the parameter ("T", "m"...)
#     compare    empty, or "A B": two variants whose time and peak RSS ratios
#                (A over B, at each parameter value) are printed under the
#                table and kept for the closing summary
#   The first of $bases also gets a peak RSS ratio column ("RSS vs ...").
run_bench() {
  tag=$1 prog=$2 key=$3 unit=$4 title=$5 desc=$6
  shift 6
  # A configuration is a variant, or "variant_value" with $params.
  present="" width=10
  for v in $variants; do
    if [ -x "$dir/$prog-$v" ]; then
      for c in ${params:-$v}; do
        [ -n "$params" ] && c=${v}_$c
        present="$present $c"
        for f in val gcs rss; do : > "$tmp/$tag.$c.$f"; done
        for e in $extra; do : > "$tmp/$tag.$c.x.${e%%:*}"; done
        rm -f "$tmp/$tag.$c.fail"
        label=$(cfg_label "$c")
        [ "${#label}" -gt "$width" ] && width=${#label}
      done
    else
      echo "($prog-$v not built: skipped)"
    fi
  done
  if [ -z "$present" ]; then
    echo "$title: no $prog binaries in $dir"
    status=1
    return
  fi

  printf '%s: %s; %s runs of each %s\n' "$title" "$desc" "$runs" \
    "$([ -n "$params" ] && echo configuration || echo variant)"
  printf '  running'
  r=1
  while [ "$r" -le "$runs" ]; do
    for c in $present; do
      [ -f "$tmp/$tag.$c.fail" ] && continue
      v=${c%%_*}
      p=""
      [ "$c" != "$v" ] && p=${c#*_}
      out=$($tmo "$dir/$prog-$v" ${p:+"$p"} "$@" 2> "$tmp/err")
      rc=$?
      if [ "$rc" -ne 0 ]; then
        what="exit $rc"
        [ "$rc" -eq 124 ] && [ -n "$tmo" ] && what="timed out after ${per_run_timeout}s"
        [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && what="killed by signal $((rc - 128))"
        echo "$what" > "$tmp/$tag.$c.fail"
        printf '\n  %s-%s%s run %s FAILED (%s):\n' "$prog" "$v" "${p:+ $p}" "$r" "$what"
        { printf '%s\n' "$out"; cat "$tmp/err"; } | sed '/^$/d; s/^/    /' | tail -n 20
        printf '  running'
        status=1
        continue
      fi
      val=$(field "$key" "$out")
      if [ -z "$val" ]; then
        echo "bad output" > "$tmp/$tag.$c.fail"
        printf '\n  %s-%s: no %s= in output: %s\n  running' "$prog" "$v" "$key" "$out"
        status=1
        continue
      fi
      echo "$val" >> "$tmp/$tag.$c.val"
      field gcs "$out" >> "$tmp/$tag.$c.gcs"
      field maxrss_kb "$out" >> "$tmp/$tag.$c.rss"
      for e in $extra; do
        field "${e%%:*}" "$out" >> "$tmp/$tag.$c.x.${e%%:*}"
      done
      if [ "$v" = mimalloc ] && [ "$r" -eq 1 ] && [ "$(field allocator "$out")" != mimalloc ]; then
        printf '\n  warning: %s-mimalloc uses allocator "%s", not mimalloc\n  running' \
          "$prog" "$(field allocator "$out")"
      fi
      printf '.'
    done
    r=$((r + 1))
  done
  printf '\n\n'

  printf "  %-${width}s %12s %21s" variant "median $unit" "min - max $unit"
  for e in $extra; do
    label=${e#*:}
    label=${label%%:*}
    w=${#label}
    [ "$w" -lt 8 ] && w=8
    printf " %${w}s" "$(printf '%s' "$label" | tr _ ' ')"
  done
  printf ' %14s %8s' "peak RSS MiB" GCs
  for b in $bases; do printf ' %9s' "vs $b"; done
  [ -n "$bases" ] && printf ' %12s' "RSS vs ${bases%% *}"
  [ -n "$params" ] && [ "$speedup" = yes ] && printf ' %9s' speedup
  printf '\n'

  for c in $present; do
    if [ -f "$tmp/$tag.$c.fail" ]; then
      printf "  %-${width}s FAILED (%s)\n" "$(cfg_label "$c")" "$(cat "$tmp/$tag.$c.fail")"
      continue
    fi
    v=${c%%_*}
    p=""
    [ "$c" != "$v" ] && p=${c#*_}
    read -r med lo hi <<EOF
$(stats "$tmp/$tag.$c.val")
EOF
    rss=$(stats "$tmp/$tag.$c.rss" | cut -d' ' -f1)
    gcs=$(stats "$tmp/$tag.$c.gcs" | cut -d' ' -f1)
    # The extra columns, as "width:format=median" each.
    xcols=""
    for e in $extra; do
      label=${e#*:}
      fmt=${label#*:}
      label=${label%%:*}
      w=${#label}
      [ "$w" -lt 8 ] && w=8
      xcols="$xcols $w:$fmt=$(stats "$tmp/$tag.$c.x.${e%%:*}" | cut -d' ' -f1)"
    done
    # The medians to divide by, as "name=median ..." ("-": none): each
    # ratio base at this row's parameter, then this variant at the first
    # parameter (the speedup's).
    basevals=""
    for b in $bases; do
      basevals="$basevals $b=$(cfg_median "$tag" "$b${p:+_$p}")"
    done
    if [ -n "$bases" ]; then
      basevals="$basevals rss=$(cfg_median "$tag" "${bases%% *}${p:+_$p}" rss)"
    fi
    if [ -n "$params" ] && [ "$speedup" = yes ]; then
      basevals="$basevals speedup=$(cfg_median "$tag" "${v}_${params%% *}")"
    fi
    awk -v v="$(cfg_label "$c")" -v width="$width" -v med="$med" -v lo="$lo" -v hi="$hi" \
        -v rss="$rss" -v gcs="$gcs" -v xcols="$xcols" -v basevals="$basevals" 'BEGIN {
      line = sprintf("  %-" width "s %12.2f %21s", v, med, sprintf("%.2f - %.2f", lo, hi))
      n = split(xcols, xs, " ")
      for (i = 1; i <= n; i++) {
        c = index(xs[i], ":")
        eq = index(xs[i], "=")
        w = substr(xs[i], 1, c - 1)
        f = substr(xs[i], c + 1, eq - c - 1)
        x = substr(xs[i], eq + 1)
        line = line sprintf(" %" w "s", x == "-" ? "-" : sprintf(f, x))
      }
      line = line sprintf(" %14.1f %8g", rss / 1024, gcs)
      n = split(basevals, bs, " ")
      for (i = 1; i <= n; i++) {
        name = substr(bs[i], 1, index(bs[i], "=") - 1)
        base = substr(bs[i], index(bs[i], "=") + 1)
        if (base == "-" || base <= 0 || med <= 0 || (name == "rss" && rss <= 0))
          cell = "-"
        else if (name == "speedup")
          cell = sprintf("%.2fx", base / med)
        else if (name == "rss")
          cell = sprintf("%.2fx", rss / base)
        else
          cell = sprintf("%.2fx", med / base)
        line = line sprintf(" %" (name == "rss" ? 12 : 9) "s", cell)
      }
      print line
    }'
  done

  # The same source on two collectors: A/B for the time and the peak RSS.
  if [ -n "$compare" ]; then
    a=${compare%% *} b=${compare#* }
    for p in ${params:--}; do
      [ "$p" = - ] && p=""
      ta=$(cfg_median "$tag" "$a${p:+_$p}") tb=$(cfg_median "$tag" "$b${p:+_$p}")
      ra=$(cfg_median "$tag" "$a${p:+_$p}" rss) rb=$(cfg_median "$tag" "$b${p:+_$p}" rss)
      awk -v name="$(cfg_label "$a")/$(cfg_label "$b")${p:+ $pname=$p}" -v what="$tag${p:+ $pname=$p}" \
          -v ta="$ta" -v tb="$tb" -v ra="$ra" -v rb="$rb" -v sum="$tmp/summary" 'BEGIN {
        t = (ta == "-" || tb == "-" || tb <= 0) ? "-" : sprintf("%.2fx", ta / tb)
        r = (ra == "-" || rb == "-" || rb <= 0) ? "-" : sprintf("%.2fx", ra / rb)
        printf "  %s: time %s, peak RSS %s\n", name, t, r
        printf "%s\t%s\t%s\n", what, t, r >> sum
      }'
    done
  fi
  echo
}

# var_label VARIANT: how a variant is shown ("finalgc(gc.h)" for finalgc-gch).
var_label() {
  case $1 in
    finalgc-gch) printf 'finalgc(gc.h)' ;;
    *) printf '%s' "$1" ;;
  esac
}

# cfg_label CONFIG: "variant", or "variant $pname=value" for "variant_value".
cfg_label() {
  case $1 in
    *_*) printf '%s %s=%s' "$(var_label "${1%%_*}")" "$pname" "${1#*_}" ;;
    *) var_label "$1" ;;
  esac
}

# cfg_median TAG CONFIG [WHAT]: the median of CONFIG's figures (WHAT: val,
# the default, or rss) in table TAG, or "-" if it has none (not built, or
# failed).
cfg_median() {
  if [ -s "$tmp/$1.$2.${3:-val}" ] && [ ! -f "$tmp/$1.$2.fail" ]; then
    stats "$tmp/$1.$2.${3:-val}" | cut -d' ' -f1
  else
    echo -
  fi
}

variants="finalgc finalgc-gch bdwgc malloc mimalloc"
bases="bdwgc"
extra=""
params=""
pname=""
speedup=yes
compare="finalgc-gch bdwgc"
# shellcheck disable=SC2086 # $gcbench_args is a list of arguments
run_bench gcbench gcbench time_ms ms gcbench "$gcbench_desc" $gcbench_args
run_bench allocbench allocbench ns_per_obj ns/obj allocbench \
  "$alloc_n objects of 16..64 bytes, each dropped at once (malloc: malloc+free)" "$alloc_n"

# finbench: finalgc's finalizers beside bdwgc's and Go's.
variants="finalgc finalgc-gch bdwgc go"
bases="bdwgc go"
run_bench finbench-pair finbench pair_ns ns/pair "finalizer set+clear pair (ns/pair)" \
  "1,000 live 24-byte objects, 1e6 pairs, median of 5 batches" pair
extra="fin_per_s_M:M_fin/s:%.2f gc_ms:collect_ms:%.1f rounds:rounds:%g alloc_ns:alloc+set_ns:%.1f"
all_runs=$runs
runs=$fin_runs
run_bench finbench-run finbench ns_per_fin ns/fin "finalizer throughput (ns per finalized object)" \
  "$fin_n finalizable objects of 16..64 bytes dropped at once, time until all finalizers ran" \
  run "$fin_n"

# versus WHAT TAG_A CFG_A TAG_B CFG_B UNIT: prints "WHAT: a vs b UNIT =
# a/b", the medians of CFG_A in table TAG_A and CFG_B in TAG_B.
versus() {
  awk -v what="$1" -v a="$(cfg_median "$2" "$3")" -v b="$(cfg_median "$4" "$5")" \
      -v unit="$6" 'BEGIN {
    r = (a == "-" || b == "-" || b <= 0) ? "-" : sprintf("%.2fx", a / b)
    printf "  %s: %s vs %s %s = %s\n\n", what, a, b, unit, r
  }'
}

# weakbench: cleanups (Go's runtime.AddCleanup) and weak pointers (Go's
# package weak), both Go 1.24+: no Go port, so cleanups are set beside
# finalgc's own finalizers (finbench, above) and bdwgc's unordered
# finalizers, weak pointers beside bdwgc's disappearing links.
if command -v go >/dev/null 2>&1; then
  go_here=$(go version 2>/dev/null | awk '{ print $3 }')
else
  go_here="no Go"
fi
echo "weakbench: no Go column: runtime.AddCleanup and package weak need Go 1.24+ (here: ${go_here:-unknown}),"
echo "and weakbench has no Go port; cleanups are compared with finalgc's own finalizers (finbench),"
echo "weak pointers with bdwgc's disappearing links."
echo
runs=$all_runs
variants="finalgc bdwgc"
bases="bdwgc"
compare=""
extra=""
run_bench cleanup-pair weakbench pair_ns ns/pair \
  "cleanup add+stop pair (ns/pair; bdwgc has no cleanups: GC_REGISTER_FINALIZER_NO_ORDER set+clear)" \
  "1,000 live 24-byte objects, 1e6 pairs, median of 5 batches" cleanup-pair
versus "finalgc cleanup add+stop vs finalgc finalizer set+clear (finbench pair)" \
  cleanup-pair finalgc finbench-pair finalgc ns/pair
runs=$fin_runs
extra="per_s_M:M_cleanups/s:%.2f gc_ms:collect_ms:%.1f rounds:rounds:%g alloc_ns:alloc+add_ns:%.1f"
run_bench cleanup-run weakbench ns_per_cleanup ns/cleanup \
  "cleanup throughput (ns per cleanup run; bdwgc: GC_REGISTER_FINALIZER_NO_ORDER finalizers)" \
  "$fin_n objects of 16..64 bytes with a cleanup, dropped at once, time until all cleanups ran (finalgc: gc_collect + gc_wait_cleanups)" \
  cleanup-run "$fin_n"
versus "finalgc cleanups vs finalgc finalizers (finbench run)" \
  cleanup-run finalgc finbench-run finalgc "ns per object"
runs=$all_runs
params="weak-make-distinct weak-make-same"
pname="op"
speedup=no
extra=""
run_bench weak-make weakbench op_ns ns/op \
  "weak pointer creation (ns/op; bdwgc: GC_general_register_disappearing_link)" \
  "distinct: $weak_n live 24-byte objects, one new handle (link) each, mean over the run; same: $weak_n makes on one object, median of 5 batches (bdwgc: the same link again, GC_DUPLICATE)" \
  "$weak_n"
params="weak-value-live weak-value-dead"
extra="kept:kept_alive:%g"
run_bench weak-value weakbench op_ns ns/op \
  "weak pointer read (ns/op; bdwgc: GC_call_with_alloc_lock + GC_REVEAL_POINTER)" \
  "$weak_read_n reads, in turn, of the handles (links) of 1,000 24-byte objects, live or dropped and collected (kept alive: dropped but still reachable to the conservative scan, not read), median of 5 batches" \
  "$weak_read_n"
speedup=yes
compare="finalgc-gch bdwgc"

# cpuskew: the same one-thread loop of branches and arithmetic, pinned to
# each CPU this process may use (at most 8) in turn.  When one CPU runs it
# slower than the others (on this project's virtual machine, a vCPU whose
# physical core is shared with a busy guest), a run that gives two threads
# or two markers the same work ends when that CPU does: read the 2-thread
# and 2-marker speedups below against it.
cpus=$(awk '/^Cpus_allowed_list/ {
  n = split($2, r, ",")
  for (i = 1; i <= n && k < 8; i++) {
    m = split(r[i], b, "-"); if (m == 1) b[2] = b[1]
    for (c = b[1]; c <= b[2] && k < 8; c++) { printf "%d ", c; k++ }
  }}' /proc/self/status)
skew_probe() {
  runs=$mt_runs
  variants="cpu"
  bases=""
  compare=""
  params=${cpus:-0}
  pname="cpu"
  extra=""
  speedup=no
  run_bench "cpuskew$1" cpuskew ns_per_iter ns/iter \
    "cpuskew (one thread pinned to each CPU in turn: the same loop of learnable branches and additions, no memory)" \
    "100M iterations per run; a CPU slower than the others slows every 2-thread and 2-marker figure${2:+ $2}" \
    100000000
  speedup=yes
}
skew_probe "" "of the next tables"

# cpuscale and memscale: how much faster 2 threads of pure arithmetic, and
# of memory writes interleaved like two threads' spans, go than 1 on this
# machine right now, to read mtalloc's speedup column against.
runs=$mt_runs
variants="cpu"
bases=""
compare=""
params="1 2"
pname="T"
extra=""
run_bench cpuscale cpuscale ns_per_iter ns/iter \
  "cpuscale (the machine's ceiling for a 2-thread speedup: pure arithmetic, no allocator)" \
  "T threads x 200M xorshift steps, no memory traffic; speedup = throughput over T=1" \
  200000000
variants="mem"
run_bench memscale memscale ns_per_iter ns/block \
  "memscale (the machine's 2-thread speedup for threads rewriting memory in interleaved blocks, no allocator)" \
  "T threads x 300 passes over 2 MiB each of 8 KiB blocks, thread i clearing blocks i, i+T, ... of one shared buffer; speedup = throughput over T=1" \
  300
compare="finalgc-gch bdwgc"

# mtalloc: 1 and 2 threads allocating at once.
runs=$mt_runs
variants="finalgc finalgc-gch bdwgc malloc mimalloc"
bases="bdwgc"
params="1 2"
pname="T"
extra="mallocs_per_s_M:Mallocs/s:%.1f"
run_bench mtalloc mtalloc ns_per_alloc ns/alloc \
  "mtalloc (multi-threaded allocation, ns of wall time per allocation)" \
  "T threads x $mt_n objects of 16..64 bytes, last 1,000 of each thread kept in a ring on its stack (malloc: freed on leaving it); speedup = throughput over T=1" \
  "$mt_n"

# pause: full collections of a big live tree with 1 and 2 markers.
# (No finalgc-gch variant: see the Makefile.)
skew_probe -pause "of the pause table, run next"
runs=$pause_runs
variants="finalgc bdwgc"
compare=""
params="1 2"
pname="m"
extra="collect_ms:collect_ms:%.1f pause_ms:STW_ms:%.1f ms_per_gib:ms/GiB:%.0f heap_mib:live_MiB:%.0f"
run_bench pause pause cmp_ms ms \
  "pause (full collection of a live binary tree; finalgc: stop-the-world pause, bdwgc: GC_gcollect time)" \
  "depth $pause_depth ($(( (1 << (pause_depth + 1)) - 1 )) nodes of 24 bytes), median of 5 collections per run; m markers; speedup = m=1 time over this row's" \
  "$pause_depth"
runs=$all_runs

# The target of issue 5: on the same <gc.h> source, finalgc no slower than
# bdwgc and no bigger at its peak.
if [ -s "$tmp/summary" ]; then
  echo "finalgc(gc.h)/bdwgc: the same <gc.h> source on both (target: time and peak RSS <= 1.00x)"
  awk -F '\t' 'BEGIN { printf "  %-20s %8s %9s  %s\n", "benchmark", "time", "peak RSS", "target" }
    function over(x) { return x != "-" && substr(x, 1, length(x) - 1) + 0 > 1.0 }
    {
      if ($2 == "-" || $3 == "-")
        verdict = "-"
      else if (over($2) && over($3))
        verdict = "missed: time and peak RSS"
      else if (over($2))
        verdict = "missed: time"
      else if (over($3))
        verdict = "missed: peak RSS"
      else
        verdict = "met"
      printf "  %-20s %8s %9s  %s\n", $1, $2, $3, verdict
    }' "$tmp/summary"
  echo
fi

exit $status
