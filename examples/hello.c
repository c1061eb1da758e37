/* A minute's read: allocate a lot, keep a little, let finalgc free the rest. */
#include <finalgc.h>
#include <stdio.h>

struct node {
  struct node *next;
  long value;
};

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

  gc_stats st;
  gc_read_stats(&st);
  printf("kept %ld nodes (sum %ld) of 1000000 allocated\n", count, sum);
  printf("collections: %llu, live: %zu KiB, heap in use: %zu KiB, "
         "mapped: %zu KiB\n",
         (unsigned long long)st.num_gc, st.heap_live >> 10, st.heap_inuse >> 10,
         st.heap_mapped >> 10);
  printf("pauses: total %.3f ms, max %.3f ms\n", st.pause_total_ns / 1e6,
         st.pause_max_ns / 1e6);
  return 0;
}
