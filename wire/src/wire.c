/* wire.c — skeleton; see wire.h. */
#include "wire.h"

#include <nng/nng.h>

const char *
wire_backend_version(void)
{
    return nng_version();
}
