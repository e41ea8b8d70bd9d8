/*
 * test_codec.c — entry encoding: round trip, the id is the hash of the
 * signed prefix, canonical form enforced, field limits.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ledger_int.h"
#include "ledger_testlib.h"

static tl_world w;

static void
setup(void)
{
    tl_world_init(&w, 3, 2, 1000);
}

static void
teardown(void)
{
    tl_world_fini(&w);
}

TestSuite(ledger_codec, .init = setup, .fini = teardown);

Test(ledger_codec, round_trips_a_send_with_receipt)
{
    uint8_t prev[32];
    memset(prev, 7, 32);
    tl_bytes b = tl_send(&w, 0, 3, prev, 1, 42, true, 99);
    ledger_entry e;
    uint8_t id[32];
    cr_assert_eq(ledger_entry_decode(b.p, b.n, &e, id), 0, "%s", aria_err_msg());
    cr_assert_eq(memcmp(id, b.id, 32), 0);
    cr_assert_eq(e.kind, LEDGER_KIND_SEND);
    cr_assert_eq(e.seq, 3);
    cr_assert_eq(e.amount, 42);
    cr_assert(e.has_receipt);
    cr_assert_str_eq(e.receipt.model_id, "bitnet-b1.58-2B-4T");
    cr_assert_eq(memcmp(e.to, w.id[1], 32), 0);
    cr_assert_eq(ledger_entry_verify_sigs(&e), 0, "%s", aria_err_msg());
    /* id = BLAKE2b-256 of the bytes without the 66-byte signature field */
    uint8_t h[32];
    wallet_hash(h, b.p, b.n - 66);
    cr_assert_eq(memcmp(h, id, 32), 0);
    cr_assert_eq(b.p[b.n - 66], 0x7a);
    /* re-encoding gives the same bytes */
    aria_buf out;
    aria_buf_init(&out, 0);
    cr_assert_eq(ledger_entry_encode(&e, true, &out), 0);
    cr_assert_eq(out.len, b.n);
    cr_assert_eq(memcmp(out.data, b.p, b.n), 0);
    aria_buf_fini(&out);
    aria_free(b.p);
}

Test(ledger_codec, rejects_unknown_fields_and_trailing_bytes)
{
    tl_bytes b = tl_genesis_entry(&w, 0, 1000);
    uint8_t buf[LEDGER_ENTRY_MAX_BYTES + 8];
    ledger_entry e;
    /* unknown field 14 (varint) inserted before the signature */
    size_t pre = b.n - 66;
    memcpy(buf, b.p, pre);
    buf[pre] = (14 << 3) | 0;
    buf[pre + 1] = 1;
    memcpy(buf + pre + 2, b.p + pre, 66);
    cr_assert_eq(ledger_entry_decode(buf, b.n + 2, &e, NULL), ARIA_EPROTO);
    cr_assert_eq(ledger__last_decode_reason(), LEDGER_MALFORMED);
    /* trailing garbage */
    memcpy(buf, b.p, b.n);
    buf[b.n] = 0;
    cr_assert_neq(ledger_entry_decode(buf, b.n + 1, &e, NULL), 0);
    /* truncated */
    cr_assert_neq(ledger_entry_decode(b.p, b.n - 1, &e, NULL), 0);
    cr_assert_neq(ledger_entry_decode(b.p, 0, &e, NULL), 0);
    aria_free(b.p);
}

Test(ledger_codec, rejects_non_canonical_field_order_and_explicit_defaults)
{
    tl_bytes b = tl_genesis_entry(&w, 0, 1000);
    ledger_entry e;
    uint8_t buf[LEDGER_ENTRY_MAX_BYTES];
    /* The first field is version (08 01). Moving it after the network field
     * (12 20 <32>) gives the same message in another order. */
    cr_assert_eq(b.p[0], 0x08);
    cr_assert_eq(b.p[2], 0x12);
    memcpy(buf, b.p + 2, 34);
    memcpy(buf + 34, b.p, 2);
    memcpy(buf + 36, b.p + 36, b.n - 36);
    cr_assert_eq(ledger_entry_decode(buf, b.n, &e, NULL), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "non-canonical"), "%s", aria_err_msg());
    /* seq 0 written explicitly (field 4 = 0) after account */
    size_t at = 2 + 34 + 34; /* version, network, account */
    memcpy(buf, b.p, at);
    buf[at] = 0x20;
    buf[at + 1] = 0x00;
    memcpy(buf + at + 2, b.p + at, b.n - at);
    cr_assert_eq(ledger_entry_decode(buf, b.n + 2, &e, NULL), ARIA_EPROTO);
    /* non-minimal varint for version: 08 81 00 */
    buf[0] = 0x08;
    buf[1] = 0x81;
    buf[2] = 0x00;
    memcpy(buf + 3, b.p + 2, b.n - 2);
    cr_assert_eq(ledger_entry_decode(buf, b.n + 1, &e, NULL), ARIA_EPROTO);
    aria_free(b.p);
}

Test(ledger_codec, rejects_oversize_and_bad_fields)
{
    ledger_entry e;
    uint8_t big[LEDGER_ENTRY_MAX_BYTES + 1];
    memset(big, 0, sizeof big);
    cr_assert_eq(ledger_entry_decode(big, sizeof big, &e, NULL), ARIA_ERANGE);
    cr_assert_eq(ledger__last_decode_reason(), LEDGER_OVERSIZE);
    /* encoder refuses bad fields */
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_SEND;
    e.amount = 0;
    memcpy(e.to, w.id[1], 32);
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(ledger_entry_encode(&e, false, &b), ARIA_EINVAL);
    e.amount = 5;
    e.has_receipt = true;
    memset(e.receipt.model_id, 'm', LEDGER_MODEL_ID_MAX);
    e.receipt.model_id[LEDGER_MODEL_ID_MAX] = 0;
    cr_assert_eq(ledger_entry_encode(&e, false, &b), 0);
    e.receipt.model_id[3] = ' ';
    cr_assert_eq(ledger_entry_encode(&e, false, &b), ARIA_EINVAL);
    e.kind = LEDGER_KIND_RECEIVE;
    e.has_receipt = false;
    e.amount = 0;
    memset(e.to, 0, 32);
    e.n_sources = 2;
    memset(e.sources[0], 2, 32);
    memset(e.sources[1], 1, 32);
    cr_assert_eq(ledger_entry_encode(&e, false, &b), ARIA_EINVAL, "sources must ascend");
    aria_buf_fini(&b);
}

Test(ledger_codec, signature_and_receipt_signature_are_checked)
{
    uint8_t prev[32];
    memset(prev, 1, 32);
    tl_bytes b = tl_send(&w, 0, 1, prev, 1, 5, true, 7);
    ledger_entry e;
    cr_assert_eq(ledger_entry_decode(b.p, b.n, &e, NULL), 0);
    ledger_reason why;
    cr_assert_eq(ledger__verify_bytes(&e, b.p, b.n, &why), 0);
    e.receipt.tokens_out++;
    cr_assert_eq(ledger_entry_verify_sigs(&e), ARIA_ECRYPTO);
    e.receipt.tokens_out--;
    e.signature[10] ^= 1;
    cr_assert_eq(ledger_entry_verify_sigs(&e), ARIA_ECRYPTO);
    aria_free(b.p);
}

/* The ledger's parsed-key cache: verdicts equal the uncached path for keys
 * that share a cache slot (evicting each other), an account id that is not
 * a key, and signatures by the wrong key after the right one is cached. */
Test(ledger_codec, parsed_key_cache_gives_the_uncached_verdicts)
{
    /* Find two wallets whose ids map to one slot of the 1,024-slot cache. */
    enum { MAXW = 200 };
    wallet *ws[MAXW];
    uint8_t ids[MAXW][32];
    int a = -1, b = -1, nw = 0;
    for (; nw < MAXW && a < 0; nw++) {
        uint8_t seed[32];
        memset(seed, 0, sizeof seed);
        seed[0] = (uint8_t)nw;
        seed[1] = 0x5a;
        cr_assert_eq(wallet_from_seed(seed, &ws[nw]), 0);
        wallet_account_id(ws[nw], ids[nw]);
        for (int j = 0; j < nw; j++)
            if (((ids[j][0] | ids[j][1] << 8) % 1024) == ((ids[nw][0] | ids[nw][1] << 8) % 1024)) {
                a = j;
                b = nw;
            }
    }
    cr_assert(a >= 0, "no slot collision among %d wallets", nw);
    ledger_pk_cache *c = ledger__pk_cache_new();
    cr_assert_not_null(c);
    ledger_entry e[2];
    uint8_t buf[2][LEDGER_ENTRY_MAX_BYTES];
    size_t len[2];
    int who[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        memset(&e[k], 0, sizeof e[k]);
        e[k].kind = LEDGER_KIND_GENESIS;
        e[k].amount = 100 + (uint64_t)k;
        memcpy(e[k].network, w.g->network_id, 32);
        aria_buf ob;
        aria_buf_init(&ob, 0);
        cr_assert_eq(ledger_entry_sign(&e[k], ws[who[k]], &ob, NULL), 0);
        memcpy(buf[k], ob.data, ob.len);
        len[k] = ob.len;
        aria_buf_fini(&ob);
    }
    ledger_reason why;
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(ledger__verify_bytes_cached(c, &e[k], buf[k], len[k], &why), 0);
            /* claim the other (cached or evicted) account signed it */
            ledger_entry f = e[k];
            memcpy(f.account, ids[who[1 - k]], 32);
            cr_assert_eq(ledger__verify_bytes_cached(c, &f, buf[k], len[k], &why), ARIA_ECRYPTO);
            cr_assert_eq(why, LEDGER_BAD_SIGNATURE);
            cr_assert_eq(ledger__verify_bytes(&f, buf[k], len[k], &why), ARIA_ECRYPTO);
        }
    /* an account id that is not an x-only key */
    ledger_entry g = e[0];
    memset(g.account, 0xff, 32);
    cr_assert_eq(ledger__verify_bytes_cached(c, &g, buf[0], len[0], &why), ARIA_ECRYPTO);
    cr_assert_eq(why, LEDGER_BAD_SIGNATURE);
    cr_assert_eq(ledger__verify_bytes_cached(c, &e[0], buf[0], len[0], &why), 0);
    /* a receipt signed by someone other than the recipient, cached path */
    uint8_t prev[32];
    memset(prev, 3, 32);
    tl_bytes s = tl_send(&w, 0, 1, prev, 1, 5, true, 9);
    ledger_entry se;
    cr_assert_eq(ledger_entry_decode(s.p, s.n, &se, NULL), 0);
    cr_assert_eq(ledger__verify_bytes_cached(c, &se, s.p, s.n, &why), 0);
    se.receipt.provider_sig[3] ^= 4;
    cr_assert_eq(ledger__verify_bytes_cached(c, &se, s.p, s.n, &why), ARIA_ECRYPTO);
    cr_assert_eq(why, LEDGER_BAD_RECEIPT);
    aria_free(s.p);
    ledger__pk_cache_free(c);
    for (int i = 0; i < nw; i++)
        wallet_free(ws[i]);
}
