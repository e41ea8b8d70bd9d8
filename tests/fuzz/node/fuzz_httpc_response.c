/* fuzz_httpc_response.c — HTTP responses as the CLI's client to the local
 * node (httpc.c) parses them: any bytes give a status and body or a clear
 * ARIA_EPROTO, never a crash or an over-read. */
#include <stdint.h>

#include "httpc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aria_buf body;
    aria_buf_init(&body, 1u << 20);
    int status = 0;
    if (node_httpc_parse_response(data, size, "fuzz", &status, &body) == 0 &&
        (status < 100 || status > 599 || body.data[body.len] != 0))
        __builtin_trap();
    aria_buf_fini(&body);
    return 0;
}
