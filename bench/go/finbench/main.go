// finbench (Go): the Go port of ../../finbench.c, with the same modes and
// the same output fields, so that run.sh can set Go's finalizers beside
// finalgc's and bdwgc's.
//
//	finbench-go pair [ROUNDS]   runtime.SetFinalizer(o, fin) then
//	                            runtime.SetFinalizer(o, nil) on 1,000 live
//	                            24-byte objects, ROUNDS rounds (default 1,000)
//	                            timed in 5 batches; the median batch's ns/pair
//	finbench-go run [N]         N (default 1,000,000) finalizable objects of
//	                            16..64 bytes kept live in a slice, then
//	                            dropped; time from the drop until every
//	                            finalizer has run: runtime.GC(), then poll the
//	                            counter every 100 µs (at most 5 s); gc_ms is
//	                            the time in runtime.GC() (the finalizer
//	                            goroutine may already be running meanwhile)
//
// Differences from the C program: Go's collector is precise, so no stack
// scrubbing is needed; Go's finalizers run on one finalizer goroutine, and
// runtime.GC() returns only once the cycle has swept, so every unreachable
// object's finalizer is queued by then.  Single-threaded, unlike Go's own
// BenchmarkFinalizer (b.RunParallel).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	pairObjs   = 1000
	pairWarmup = 50
	batches    = 5
	maxWait    = 5 * time.Second
)

type obj struct {
	p    *obj
	a, b int64
}

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

func maxRSSKB() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss
}

// ---- pair -------------------------------------------------------------------

var pairObjsArr [pairObjs]*obj // a global: a root

func pairFin(o *obj) {}

func pairRounds(rounds int) {
	for r := 0; r < rounds; r++ {
		for i := range pairObjsArr {
			runtime.SetFinalizer(pairObjsArr[i], pairFin)
		}
		for i := range pairObjsArr {
			runtime.SetFinalizer(pairObjsArr[i], nil)
		}
	}
}

func modePair(rounds int) {
	for i := range pairObjsArr {
		pairObjsArr[i] = new(obj)
	}
	pairRounds(pairWarmup)

	perBatch := (rounds + batches - 1) / batches
	ns := make([]float64, batches)
	gc0 := numGC()
	for b := range ns {
		t0 := time.Now()
		pairRounds(perBatch)
		ns[b] = float64(time.Since(t0).Nanoseconds()) / float64(perBatch*pairObjs)
	}
	gcs := numGC() - gc0

	list := make([]string, batches)
	for b, v := range ns {
		list[b] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	sort.Float64s(ns)
	fmt.Printf("pair_ns=%.2f batches_ns=%s pairs=%d gcs=%d maxrss_kb=%d allocator=go go=%s\n",
		ns[batches/2], strings.Join(list, ","), perBatch*batches*pairObjs, gcs,
		maxRSSKB(), runtime.Version())
}

// ---- run --------------------------------------------------------------------

// Objects of 16, 24, ..., 64 bytes, each starting with a pointer, like the
// C program's (which are scanned conservatively in full).
type sized[T any] struct {
	p   *obj
	pad T
}

var (
	runObjs  []unsafe.Pointer // the live objects
	runCount int64            // finalizers run
)

func runFin[T any](o *sized[T]) { atomic.AddInt64(&runCount, 1) }

func newFinalizable[T any](k int) unsafe.Pointer {
	o := new(sized[T])
	*(*int64)(unsafe.Pointer(&o.pad)) = int64(k)
	runtime.SetFinalizer(o, runFin[T])
	return unsafe.Pointer(o)
}

//go:noinline
func runPopulate(n int) {
	runObjs = make([]unsafe.Pointer, n)
	for k := 0; k < n; k++ {
		var o unsafe.Pointer
		switch k % 7 {
		case 0:
			o = newFinalizable[[1]int64](k)
		case 1:
			o = newFinalizable[[2]int64](k)
		case 2:
			o = newFinalizable[[3]int64](k)
		case 3:
			o = newFinalizable[[4]int64](k)
		case 4:
			o = newFinalizable[[5]int64](k)
		case 5:
			o = newFinalizable[[6]int64](k)
		default:
			o = newFinalizable[[7]int64](k)
		}
		runObjs[k] = o
	}
}

//go:noinline
func runDrop() {
	for k := range runObjs {
		runObjs[k] = nil
	}
}

func modeRun(n int) int {
	gcStart := numGC()
	t0 := time.Now()
	runPopulate(n)
	t1 := time.Now()

	runDrop()

	t2 := time.Now()
	runtime.GC()
	gcNS := float64(time.Since(t2).Nanoseconds())
	rounds := 1
	for atomic.LoadInt64(&runCount) < int64(n) && time.Since(t2) < maxWait {
		time.Sleep(100 * time.Microsecond)
	}
	finNS := float64(time.Since(t2).Nanoseconds())
	done := atomic.LoadInt64(&runCount)
	gcs := numGC() - gcStart

	perS, perFin := 0.0, 0.0
	if done > 0 {
		perS = float64(done) / finNS * 1e3
		perFin = finNS / float64(done)
	}
	fmt.Printf("finalized=%d fin_ms=%.2f fin_per_s_M=%.3f ns_per_fin=%.2f gc_ms=%.2f rounds=%d alloc_ns=%.2f gcs=%d maxrss_kb=%d allocator=go go=%s\n",
		done, finNS/1e6, perS, perFin, gcNS/1e6, rounds,
		float64(t1.Sub(t0).Nanoseconds())/float64(n), gcs, maxRSSKB(),
		runtime.Version())
	runtime.KeepAlive(runObjs)
	if done != int64(n) {
		fmt.Fprintf(os.Stderr, "finbench: only %d of %d finalizers ran within %v\n",
			done, n, maxWait)
		return 1
	}
	return 0
}

func parseCount(s, what string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "finbench: bad %s '%s'\n", what, s)
		os.Exit(2)
	}
	return n
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 || (os.Args[1] != "pair" && os.Args[1] != "run") {
		fmt.Fprintln(os.Stderr, "usage: finbench pair [ROUNDS] | finbench run [N]")
		os.Exit(2)
	}
	if os.Args[1] == "pair" {
		rounds := 1000
		if len(os.Args) > 2 {
			rounds = parseCount(os.Args[2], "round count")
		}
		modePair(rounds)
		return
	}
	n := 1000000
	if len(os.Args) > 2 {
		n = parseCount(os.Args[2], "object count")
	}
	os.Exit(modeRun(n))
}
