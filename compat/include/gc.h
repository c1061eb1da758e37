/* bdwgc installs <gc.h> as a forwarder to <gc/gc.h>; so does finalgc. */
#include "gc/gc.h"
