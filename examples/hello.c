/* A minute's read: allocate a lot, keep a little, let finalgc free the rest;
 * give objects finalizers and weak pointers, and watch them work. */
#include <finalgc.h>
#include <stdio.h>

struct node {
  struct node *next;
  long value;
};

/* A resource owner: its finalizer "closes" it once it is unreachable. */
struct file {
  int fd;
};

static int closed; /* finalizers run one at a time, on the finalizer thread */

static void close_file(struct file *f, void *arg) {
  (void)arg;
  closed++;
  f->fd = -1;
}

/* Out of line, so that no pointer to the files stays in main's frame. */
static __attribute__((noinline)) gc_weak *open_files(int n) {
  gc_weak *first = NULL;
  for (int i = 0; i < n; i++) {
    struct file *f = gc_alloc(sizeof *f);
    f->fd = 100 + i;
    GC_SET_FINALIZER(f, close_file, NULL);
    if (i == 0)
      first = gc_weak_make(f);
  }
  return first; /* every file is now unreachable */
}

int main(void) {
  gc_init();
  struct node *keep = NULL;
  for (long i = 0; i < 1000000; i++) {
    struct node *n = gc_alloc(sizeof *n); /* zeroed, never freed by hand */
    n->value = i;
    if (i % 1000 == 0) { /* keep one node in a thousand on a list */
      n->next = keep;
      keep = n;
    }
  }
  gc_collect();

  long sum = 0, count = 0;
  for (struct node *n = keep; n; n = n->next, count++)
    sum += n->value;
  printf("kept %ld nodes (sum %ld) of 1000000 allocated\n", count, sum);

  gc_weak *w = open_files(1000);
  gc_collect();         /* finds the files unreachable, queues finalizers */
  gc_wait_finalizers(); /* the finalizer thread has run them all */
  printf("closed %d of 1000 dropped files by finalizer; weak pointer to the "
         "first now reads %p\n",
         closed, gc_weak_value(w));

  gc_stats st;
  gc_read_stats(&st);
  printf("collections: %llu, live: %zu KiB, heap in use: %zu KiB, "
         "mapped: %zu KiB\n",
         (unsigned long long)st.num_gc, st.heap_live >> 10, st.heap_inuse >> 10,
         st.heap_mapped >> 10);
  printf("finalizers: %llu queued, %llu run\n",
         (unsigned long long)st.finalizers_queued,
         (unsigned long long)st.finalizers_run);
  printf("pauses: total %.3f ms, max %.3f ms\n", st.pause_total_ns / 1e6,
         st.pause_max_ns / 1e6);
  return 0;
}
