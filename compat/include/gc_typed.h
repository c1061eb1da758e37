/* bdwgc installs <gc_typed.h> as a forwarder to <gc/gc_typed.h>. */
#include "gc/gc_typed.h"
