/*
 * wire.h — gossip overlay and direct service channel over nng.
 * (Skeleton: the wire issue fills this module in.)
 */
#ifndef ARIA_WIRE_H
#define ARIA_WIRE_H
#include "base.h"

/* Version string of the transport library (for `aria version`). */
const char *wire_backend_version(void);

#endif
