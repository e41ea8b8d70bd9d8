/* fuzz_jobwire.c — the bytes of a paid job that come from a peer: the job
 * request a provider unseals (first byte 0), the chunk output a requester
 * unseals (1), the receipt info of a last chunk (2) and a gossiped fork
 * proof (3). Any bytes give a value or a clear ARIA_EPROTO; decoded values
 * keep their limits; never a crash, leak or over-read. */
#include <stdint.h>
#include <string.h>

#include "jobwire.h"

static int
walk(void *ctx, int32_t id, const char *text, size_t len)
{
    size_t *total = ctx;
    if (id < -1 || (len && !text))
        __builtin_trap();
    *total += len;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        jobwire_request r;
        if (jobwire_request_decode(p, n, &r) == 0) {
            if (r.req.max_tokens < 1 || r.n_resume >= (size_t)r.req.max_tokens ||
                (!r.req.prompt && r.req.n_messages == 0))
                __builtin_trap();
            jobwire_request_fini(&r);
        }
        break;
    }
    case 1: {
        size_t total = 0;
        uint32_t k = 0;
        if (jobwire_output_walk(p, n, walk, &total, &k) == 0 && (total > n || k > n / 6))
            __builtin_trap();
        break;
    }
    case 2: {
        jobwire_receipt r;
        if (jobwire_receipt_decode(p, n, &r) == 0 && n != JOBWIRE_RECEIPT_LEN)
            __builtin_trap();
        break;
    }
    default: {
        const uint8_t *a, *b;
        size_t al, bl;
        if (jobwire_fork_proof_decode(p, n, &a, &al, &b, &bl) == 0 &&
            (al + bl + 8 != n || a < p || b + bl > p + n))
            __builtin_trap();
        break;
    }
    }
    return 0;
}
