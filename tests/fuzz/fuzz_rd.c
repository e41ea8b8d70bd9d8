/*
 * fuzz_rd.c — drives the byte reader with a little instruction stream taken
 * from the input itself: each opcode byte picks a read, the rest is data.
 * Checks the reader's contract: on failure the offset does not move; on
 * success it moves by exactly what was read; it never reads past the end.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t nops = data[0] % 16 + 1;
    if (nops > size - 1)
        nops = size - 1;
    const uint8_t *ops = data + 1;
    aria_rd r;
    aria_rd_init(&r, data + 1 + nops, size - 1 - nops);
    for (size_t i = 0; i < nops; i++) {
        size_t before = r.off;
        int rc = 0;
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        const uint8_t *p;
        size_t n;
        switch (ops[i] % 8) {
        case 0: rc = aria_rd_u8(&r, &u8); break;
        case 1: rc = aria_rd_u16le(&r, &u16); break;
        case 2: rc = aria_rd_u32le(&r, &u32); break;
        case 3: rc = aria_rd_u64le(&r, &u64); break;
        case 4: rc = aria_rd_varint(&r, &u64); break;
        case 5:
            rc = aria_rd_lenbytes(&r, ops[i], &p, &n);
            if (!rc && n)
                u8 = p[n - 1]; /* touch the last byte */
            break;
        case 6: rc = aria_rd_skip(&r, ops[i] >> 3); break;
        default: rc = aria_rd_bytes(&r, ops[i] >> 4, &p); break;
        }
        if (rc != 0 && r.off != before)
            abort();
        if (r.off > r.len)
            abort();
    }
    return 0;
}
