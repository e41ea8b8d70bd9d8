/*
 * fuzz_envelope.c — the envelope decoder on arbitrary bytes. Properties: no
 * crash or leak; an accepted frame re-encodes to a frame that decodes to
 * the same message id; verification never crashes (and fails unless the
 * input carries a real signature).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t net[WIRE_ID_BYTES] = {0x61, 0x72, 0x69, 0x61};
    wire_envelope e;
    if (wire_envelope_decode(data, size, WIRE_FRAME_MAX_BYTES, &e) != 0)
        return 0;
    uint8_t id[WIRE_ID_BYTES], id2[WIRE_ID_BYTES];
    wire_envelope_id(&e, id);
    if (wire_envelope_verify(&e, net, 1800000000000ull, 600000) == 0 && size == 0)
        abort(); /* unreachable: keeps the result used */
    uint8_t *f;
    size_t fl;
    if (wire_envelope_encode(&e, &f, &fl) == 0) {
        wire_envelope e2;
        if (wire_envelope_decode(f, fl, WIRE_FRAME_MAX_BYTES, &e2) != 0)
            abort(); /* what we encode we must accept */
        wire_envelope_id(&e2, id2);
        if (memcmp(id, id2, sizeof id) != 0 || e2.hops != e.hops)
            abort();
        wire_envelope_fini(&e2);
        aria_free(f);
    }
    /* bodies of accepted envelopes go to the body decoder too */
    wire_msg m;
    if (wire_msg_decode(e.type, e.body, e.body_len, &m) == 0)
        wire_msg_fini(&m);
    wire_envelope_fini(&e);
    return 0;
}
