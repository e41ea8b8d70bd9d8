/* sched.c — skeleton; see scheduler.h. */
#include "scheduler.h"
