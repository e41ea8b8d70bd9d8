/*
 * fuzz_wiremsg.c — every body decoder: the first input byte picks the
 * message type (wire_type), the rest is the body. Properties: no crash or
 * leak; a decoded body re-encodes, and the re-encoding decodes again.
 */
#include <stdint.h>
#include <stdlib.h>

#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t net[WIRE_ID_BYTES] = {0x61, 0x72, 0x69, 0x61};
    if (size < 1)
        return 0;
    uint32_t type = data[0] % 16; /* includes 0, 14, 15: unknown types */
    wire_msg m;
    if (wire_msg_decode(type, data + 1, size - 1, &m) != 0)
        return 0;
    int verified = 0;
    if (type == WIRE_T_PEER_RECORD)
        verified += wire_peer_record_verify(&m.u.peer, net) == 0;
    if (type == WIRE_T_PEERS_REPLY)
        for (size_t i = 0; i < m.u.peers.n; i++)
            verified += wire_peer_record_verify(&m.u.peers.records[i], net) == 0;
    (void)verified;
    uint8_t *b;
    size_t bl;
    if (wire_msg_encode(&m, &b, &bl) != 0)
        abort(); /* what we decode we must be able to encode */
    wire_msg m2;
    if (wire_msg_decode(type, b, bl, &m2) != 0)
        abort();
    wire_msg_fini(&m2);
    aria_free(b);
    wire_msg_fini(&m);
    return 0;
}
