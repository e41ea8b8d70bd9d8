/*
 * ledger_int.h — private to the ledger module (unit tests may include it):
 * signature purposes and helpers shared by entry.c, genesis.c and ledger.c.
 */
#ifndef ARIA_LEDGER_INT_H
#define ARIA_LEDGER_INT_H
#include "ledger.h"

#define LEDGER_SIG_PURPOSE_ENTRY   "entry"   /* tag "aria/entry/v1" */
#define LEDGER_SIG_PURPOSE_RECEIPT "receipt" /* tag "aria/receipt/v1" */

/* Check the entry signature over the signed prefix of its canonical bytes
 * (`bytes` as accepted by ledger_entry_decode) and the receipt signature.
 * 0, or ARIA_ECRYPTO with *why = LEDGER_BAD_SIGNATURE / LEDGER_BAD_RECEIPT. */
int ledger__verify_bytes(const ledger_entry *e, const uint8_t *bytes, size_t len,
                         ledger_reason *why) ARIA_MUST_CHECK;

/* The same with parsed public keys kept in `c` (NULL: wallet_verify's own
 * small per-thread cache). The cache is owned by one ledger handle. */
typedef struct ledger_pk_cache ledger_pk_cache;
ledger_pk_cache *ledger__pk_cache_new(void);
void ledger__pk_cache_free(ledger_pk_cache *c); /* NULL ok */
int ledger__verify_bytes_cached(ledger_pk_cache *c, const ledger_entry *e, const uint8_t *bytes,
                                size_t len, ledger_reason *why) ARIA_MUST_CHECK;

/* The signature checks of every entry i < n with check[i], in one
 * wallet_verify_batch call: maybe_bad[i] = 0 if all of entry i's
 * signatures verify (then ledger__verify_bytes_cached would return 0),
 * else 1, and the caller runs ledger__verify_bytes_cached on that entry for
 * the exact reason and message (so verdicts and messages are those of the
 * one-by-one path). Keys are parsed through `c` (not NULL). */
void ledger__verify_many(ledger_pk_cache *c, size_t n, const ledger_entry *es,
                         const uint8_t *const *bytes, const size_t *lens, const bool *check,
                         uint8_t *maybe_bad);

/* Decode bytes the ledger stored itself (they passed ledger_entry_decode
 * before being stored): the field checks without the canonical re-encoding
 * and without the id. 0 or ARIA_EPROTO (a damaged database). */
int ledger__decode_stored(const uint8_t *bytes, size_t len, ledger_entry *out) ARIA_MUST_CHECK;

/* Reason for the last failed ledger_entry_decode on this thread. */
ledger_reason ledger__last_decode_reason(void);

/* For verify and export (ledger.c): every stored fork-branch entry; the
 * stored genesis; the options the ledger runs with. */
int ledger__fork_branches(ledger *l, ledger_entry_fn fn, void *ctx) ARIA_MUST_CHECK;
/* Every kept fork witness (an entry rejected at its chain's next position). */
int ledger__witnesses(ledger *l, int (*fn)(void *ctx, const uint8_t *p, size_t n),
                      void *ctx) ARIA_MUST_CHECK;
const ledger_genesis *ledger__genesis(const ledger *l);
const ledger_options *ledger__options(const ledger *l);

#endif
