/*
 * ledger.h — the credit ledger: one append-only chain of signed entries per
 * account (block lattice), stored in LMDB. docs/ledger.md is the full rule
 * book (encoding, validity, forks, state hash); this header is the manual of
 * the C API.
 *
 * Invariants (checked by tests/unit/ledger and `aria ledger verify`):
 *  - The state (balances, live chains, state hash) is a function of the SET
 *    of entries known, never of their arrival order.
 *  - Total supply is constant: live balances + live sends not yet live-received
 *    + unclaimed genesis allocations == the genesis total. No balance is negative.
 *  - Every send is received at most once per chain; a fork (two entries signed
 *    by one account for the same seq, whatever their content) freezes the
 *    account at that seq and voids every entry that depends on a forked one.
 *    An entry rejected at its chain's next position is kept as a witness, so
 *    the order "rejected, then another" also counts as a fork.
 *  - An apply call changes the database atomically: all of a batch's accepted
 *    entries are committed together, or nothing is (ARIA_EFULL, ARIA_EIO).
 *  - LMDB runs in its default durable mode; an LMDB file received from a peer
 *    is never opened (sync is by entries).
 *
 * Threads: a `ledger` handle belongs to one thread at a time (the node loop).
 * Entry encoding/decoding and the genesis parser are pure and thread safe.
 */
#ifndef ARIA_LEDGER_H
#define ARIA_LEDGER_H
#include "base.h"
#include "wallet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version string of the storage engine (for `aria version`). */
const char *ledger_backend_version(void);

/* ------------------------------------------------------------------ */
/* Limits                                                               */
/* ------------------------------------------------------------------ */

#define LEDGER_ID_BYTES           32                  /* entry id, account id, network id */
#define LEDGER_ENTRY_MAX_BYTES    1024                /* a signed entry's encoding */
#define LEDGER_MAX_SOURCES        16                  /* sends referenced by one receive */
#define LEDGER_MODEL_ID_MAX       128                 /* bytes of a receipt's model id */
#define LEDGER_SUPPLY_MAX         ((uint64_t)1 << 62) /* genesis total cap */
#define LEDGER_GENESIS_MAX_BYTES  (1u << 20)
#define LEDGER_GENESIS_MAX_ALLOCS 10000
#define LEDGER_SEQ_NONE           UINT64_MAX

/* ------------------------------------------------------------------ */
/* Entries (ledger/entry.proto; canonical encoding in docs/ledger.md)   */
/* ------------------------------------------------------------------ */

typedef enum ledger_kind {
    LEDGER_KIND_GENESIS = 1, /* claims the account's genesis allocation; seq 0 */
    LEDGER_KIND_SEND = 2,    /* moves amount to `to`; may carry a job receipt */
    LEDGER_KIND_RECEIVE = 3, /* credits the sends listed in `sources` */
} ledger_kind;

/* A job receipt inside the send that settles a job. The provider is the
 * send's recipient; provider_sig is its signature (purpose "receipt") over
 * ledger_receipt_sign_bytes(). */
typedef struct ledger_receipt {
    uint8_t job_id[32];
    char model_id[LEDGER_MODEL_ID_MAX + 1]; /* NUL-terminated, 1..128 printable ASCII */
    uint64_t tokens_in;
    uint64_t tokens_out;
    uint64_t price_micro; /* per output token: the job cost is tokens_out * price_micro */
    uint8_t output_hash[32];
    uint8_t provider_sig[WALLET_SIG_BYTES];
} ledger_receipt;

/* A decoded entry: a plain value (about 900 bytes), no pointers. */
typedef struct ledger_entry {
    uint8_t network[32];
    uint8_t account[32];
    uint64_t seq;
    uint8_t prev[32]; /* all zero for seq 0 */
    uint64_t created_ms;
    ledger_kind kind;
    uint64_t amount;    /* genesis, send */
    uint8_t to[32];     /* send */
    uint32_t n_sources; /* receive: 1..LEDGER_MAX_SOURCES, strictly ascending */
    uint8_t sources[LEDGER_MAX_SOURCES][32];
    bool has_receipt; /* send */
    ledger_receipt receipt;
    uint8_t signature[WALLET_SIG_BYTES];
} ledger_entry;

/* Encode `e` canonically into `out` (appended). With `with_sig` false the
 * signature field is left out: those are the signed bytes, whose BLAKE2b-256
 * is the entry id. Checks field limits (ARIA_EINVAL naming the field). */
int ledger_entry_encode(const ledger_entry *e, bool with_sig, aria_buf *out) ARIA_MUST_CHECK;

/* Decode and structurally check signed entry bytes (no signature check, no
 * ledger state). ARIA_ERANGE if over LEDGER_ENTRY_MAX_BYTES; ARIA_EPROTO for
 * malformed, non-canonical or out-of-limit fields; the detail message names
 * the field. *id_out (may be NULL) receives the entry id. */
int ledger_entry_decode(const uint8_t *bytes, size_t len, ledger_entry *out,
                        uint8_t id_out[32]) ARIA_MUST_CHECK;

/* Set e->account to the wallet's id, sign, fill e->signature, and write the
 * signed encoding into `out` (appended) and the id into id_out (may be NULL). */
int ledger_entry_sign(ledger_entry *e, const wallet *w, aria_buf *out,
                      uint8_t id_out[32]) ARIA_MUST_CHECK;

/* Check the entry's signature and, for a send with a receipt, the provider's
 * receipt signature. 0, or ARIA_ECRYPTO naming which one failed. (Encodes
 * `e` again to get the signed bytes; ledger_entry_check avoids that.) */
int ledger_entry_verify_sigs(const ledger_entry *e) ARIA_MUST_CHECK;

/* ledger_entry_decode then the signature checks of ledger_entry_verify_sigs
 * over the given bytes (no re-encoding): everything apply checks before it
 * looks at the ledger state, except the network id. Errors as those two. */
int ledger_entry_check(const uint8_t *bytes, size_t len, ledger_entry *out,
                       uint8_t id_out[32]) ARIA_MUST_CHECK;

/* The bytes a provider signs for a receipt (purpose "receipt"):
 * network(32) job_id(32) output_hash(32) tokens_in(u64le) tokens_out(u64le)
 * price_micro(u64le) model_id_len(u8) model_id. `out` needs
 * LEDGER_RECEIPT_SIGN_MAX bytes; returns the length. */
#define LEDGER_RECEIPT_SIGN_MAX (32 * 3 + 24 + 1 + LEDGER_MODEL_ID_MAX)
size_t ledger_receipt_sign_bytes(const uint8_t network[32], const ledger_receipt *r,
                                 uint8_t out[LEDGER_RECEIPT_SIGN_MAX]);
/* The provider fills r->provider_sig. */
int ledger_receipt_sign(const uint8_t network[32], ledger_receipt *r,
                        const wallet *provider) ARIA_MUST_CHECK;

const char *ledger_kind_name(ledger_kind k);

/* ------------------------------------------------------------------ */
/* Genesis                                                              */
/* ------------------------------------------------------------------ */

/* The genesis file is a small fixed JSON subset parsed here (the ledger does
 * not link jansson), see docs/ledger.md:
 *   {"name": "aria-testnet", "timestamp_ms": 1764000000000,
 *    "allocations": [{"account": "<64 hex or bech32m address>", "amount": 1000}]}
 * The network id is BLAKE2b-256 of the file's exact bytes. */
typedef struct ledger_alloc {
    uint8_t account[32];
    uint64_t amount;
} ledger_alloc;

typedef struct ledger_genesis {
    char name[65];
    uint64_t timestamp_ms;
    size_t n_allocs;
    ledger_alloc *allocs; /* owned */
    uint64_t total;       /* sum of amounts, <= LEDGER_SUPPLY_MAX */
    uint8_t network_id[32];
    uint8_t *bytes; /* owned copy of the file */
    size_t len;
} ledger_genesis;

/* Parse genesis file bytes. *out is owned by the caller. ARIA_EPROTO with the
 * offset and the problem for malformed JSON, unknown keys, bad accounts,
 * duplicate accounts, zero amounts or a total over LEDGER_SUPPLY_MAX. */
int ledger_genesis_parse(const void *json, size_t len, ledger_genesis **out) ARIA_MUST_CHECK;
int ledger_genesis_load(const char *path, ledger_genesis **out) ARIA_MUST_CHECK;
void ledger_genesis_free(ledger_genesis *g);

/* ------------------------------------------------------------------ */
/* Opening                                                              */
/* ------------------------------------------------------------------ */

typedef struct ledger ledger;

typedef struct ledger_options {
    size_t map_size_bytes;   /* LMDB map size; default 256 MiB */
    uint64_t settle_ms;      /* received credits are pending this long; default 60000 */
    size_t hold_max;         /* entries held out of order; default 4096 */
    uint64_t hold_ttl_ms;    /* a held entry expires after this; default 600000 */
    const aria_clock *clock; /* NULL = system clock; borrowed for the ledger's life */
} ledger_options;

void ledger_options_default(ledger_options *o);

/* Open the ledger in directory `dir` (created with its parents if missing). A new ledger needs
 * `genesis`; an existing one checks that `genesis` (if given) has the stored
 * network id (ARIA_EINVAL otherwise). Runs mdb_reader_check (clears slots of
 * dead readers). `o` NULL = defaults. *out owned by the caller. */
int ledger_open(const char *dir, const ledger_genesis *genesis, const ledger_options *o,
                ledger **out) ARIA_MUST_CHECK;
void ledger_close(ledger *l); /* NULL ok */

/* Raise (or lower, not below the data) the map size; no transaction may be
 * open (there never is between calls). */
int ledger_set_map_size(ledger *l, size_t bytes) ARIA_MUST_CHECK;
void ledger_network_id(const ledger *l, uint8_t out[32]);

/* ------------------------------------------------------------------ */
/* Applying entries                                                     */
/* ------------------------------------------------------------------ */

/* Why an entry was or was not applied. */
typedef enum ledger_reason {
    LEDGER_APPLIED = 0,    /* in its chain now */
    LEDGER_HELD,           /* predecessor or a referenced send is missing: held */
    LEDGER_DUPLICATE,      /* already known (replay) */
    LEDGER_FORK,           /* a second signed entry for a known position: fork proof stored */
    LEDGER_FROZEN,         /* account frozen by a fork at or below this seq: ignored */
    LEDGER_MALFORMED,      /* does not decode, or non-canonical bytes */
    LEDGER_OVERSIZE,       /* too long, or a field over its limit */
    LEDGER_BAD_FIELD,      /* field length/value invalid for the kind */
    LEDGER_WRONG_NETWORK,  /* network id differs from this ledger's */
    LEDGER_BAD_SIGNATURE,  /* entry signature invalid */
    LEDGER_BAD_RECEIPT,    /* receipt signature invalid */
    LEDGER_BAD_PREV,       /* prev hash is not the entry at seq-1 */
    LEDGER_NO_ALLOCATION,  /* genesis entry not matching the genesis file */
    LEDGER_OVERSPEND,      /* send amount over the balance */
    LEDGER_NOT_RECIPIENT,  /* receive of a send to another account */
    LEDGER_DOUBLE_RECEIVE, /* send already received in this chain */
    LEDGER_NOT_A_SEND,     /* a source is not a send */
    LEDGER_HOLD_FULL,      /* would be held but the hold is full */
} ledger_reason;

const char *ledger_reason_name(ledger_reason r);
/* The ARIA_E* code apply returns for a reason (0 for APPLIED and HELD). */
int ledger_reason_error(ledger_reason r);

typedef struct ledger_result {
    ledger_reason reason;
    uint8_t id[32]; /* entry id if it decoded, else zero */
} ledger_result;

/* Validate (signatures included) and apply one signed entry; entries held
 * for it are applied too. Returns ledger_reason_error(res->reason) with an
 * aria_errf() message, or ARIA_EFULL / ARIA_EIO / ARIA_ENOMEM if the database
 * write failed (then nothing changed). res may be NULL. */
int ledger_apply(ledger *l, const uint8_t *bytes, size_t len, ledger_result *res) ARIA_MUST_CHECK;

/* Apply n entries in one LMDB transaction. res[i] gets each entry's reason.
 * An entry byte-identical to a stored one is DUPLICATE without a signature
 * check (its signatures were checked when it was stored); the signatures of
 * the others are checked before any entry of the batch is applied.
 * Returns 0 when the transaction committed (whatever the reasons), or
 * ARIA_EFULL (map full: raise it with ledger_set_map_size) / ARIA_EIO /
 * ARIA_ENOMEM, in which case nothing of the batch was applied. */
int ledger_apply_batch(ledger *l, const uint8_t *const *bytes, const size_t *lens, size_t n,
                       ledger_result *res) ARIA_MUST_CHECK;

/* Drop held entries past their TTL (also done by every apply). */
void ledger_hold_expire(ledger *l);
size_t ledger_hold_count(const ledger *l);
/* Ids the held entries wait for (distinct), so peers can be asked for them.
 * Writes up to max ids; returns how many exist in total (>= written). */
size_t ledger_missing(const ledger *l, uint8_t (*ids)[32], size_t max);

/* ------------------------------------------------------------------ */
/* Queries                                                              */
/* ------------------------------------------------------------------ */

typedef struct ledger_account_info {
    uint8_t account[32];
    uint64_t chain_len; /* entries stored in the chain (valid, maybe void) */
    uint64_t live_len;  /* leading entries that are live (not void) */
    uint8_t head[32];   /* id of entry chain_len-1 (extend the chain from here) */
    uint8_t live_head[32];
    uint64_t balance; /* live balance = available + pending */
    uint64_t available;
    uint64_t pending;    /* live received credits younger than the settle delay */
    uint64_t frozen_seq; /* lowest forked seq, LEDGER_SEQ_NONE if none */
    uint64_t allocation; /* genesis allocation (0 if none) */
} ledger_account_info;

/* ARIA_ENOTFOUND-free: an unknown account gives zeros (chain_len 0). */
int ledger_account(ledger *l, const uint8_t account[32], ledger_account_info *out) ARIA_MUST_CHECK;

typedef struct ledger_entry_info {
    uint8_t id[32];
    bool in_chain; /* false: stored only as a fork-proof branch */
    bool live;
    uint64_t applied_ms; /* local wall clock when it was stored */
    uint64_t balance_after;
    const uint8_t *bytes; /* signed encoding; valid during the callback only */
    size_t len;
} ledger_entry_info;

/* Callbacks return 0 to continue, nonzero to stop (that value is returned). */
typedef int (*ledger_entry_fn)(void *ctx, const ledger_entry *e, const ledger_entry_info *info);
typedef int (*ledger_account_fn)(void *ctx, const ledger_account_info *a);

/* One stored entry (chain or fork branch); info may be NULL; info->bytes is
 * NULL here (use the callbacks or export for bytes). ARIA_ENOTFOUND. */
int ledger_entry_get(ledger *l, const uint8_t id[32], ledger_entry *e,
                     ledger_entry_info *info) ARIA_MUST_CHECK;
/* An account's chain from from_seq, up to max entries (0 = all). */
int ledger_history(ledger *l, const uint8_t account[32], uint64_t from_seq, size_t max,
                   ledger_entry_fn fn, void *ctx) ARIA_MUST_CHECK;
int ledger_accounts(ledger *l, ledger_account_fn fn, void *ctx) ARIA_MUST_CHECK;

typedef enum ledger_receipt_by {
    LEDGER_RECEIPTS_ALL = 0,
    LEDGER_RECEIPTS_BY_JOB,       /* key = job id */
    LEDGER_RECEIPTS_BY_PROVIDER,  /* key = provider account (the send's recipient) */
    LEDGER_RECEIPTS_BY_REQUESTER, /* key = requester account (the sender) */
} ledger_receipt_by;
int ledger_receipts(ledger *l, ledger_receipt_by by, const uint8_t key[32], ledger_entry_fn fn,
                    void *ctx) ARIA_MUST_CHECK;

typedef struct ledger_supply {
    uint64_t genesis_total;
    uint64_t balances;  /* sum of live balances */
    uint64_t in_flight; /* live sends not received by a live receive */
    uint64_t unclaimed; /* allocations without a live genesis entry */
} ledger_supply;
/* Scans the whole state; supply is conserved iff balances + in_flight +
 * unclaimed == genesis_total. */
int ledger_supply_get(ledger *l, ledger_supply *out) ARIA_MUST_CHECK;

/* BLAKE2b-256 over the live state (docs/ledger.md "State hash"). */
int ledger_state_hash(ledger *l, uint8_t out[32]) ARIA_MUST_CHECK;

typedef struct ledger_stats {
    uint64_t accounts, entries, chain_entries, live_entries, forks;
    size_t held, map_size_bytes, used_bytes;
} ledger_stats;
int ledger_stats_get(ledger *l, ledger_stats *out) ARIA_MUST_CHECK;

/* Fork proofs: each callback gets the two conflicting entries (signed bytes). */
typedef int (*ledger_fork_fn)(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a,
                              size_t a_len, const uint8_t *b, size_t b_len);
int ledger_forks(ledger *l, ledger_fork_fn fn, void *ctx) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Verify, export, import                                              */
/* ------------------------------------------------------------------ */

typedef struct ledger_verify_report {
    uint64_t entries;    /* stored entries re-applied */
    uint64_t rejected;   /* stored entries the rules reject now (must be 0) */
    uint64_t mismatched; /* accounts whose stored state differs (must be 0) */
    bool hash_equal;
    bool supply_ok;
    uint8_t state_hash[32];
    ledger_supply supply;
} ledger_verify_report;

/* Re-validate the whole database from its entries: every stored entry is
 * decoded, signature-checked and re-applied in chain order into a scratch
 * ledger in a temporary directory; accounts, state hash and supply are
 * compared. 0 if everything holds; ARIA_EPROTO naming the first problem. */
int ledger_verify(ledger *l, ledger_verify_report *rep) ARIA_MUST_CHECK;

/* Export file: "ARIALDG1" then per entry u32le length + signed bytes, chain
 * entries in (account, seq) order, then fork-proof branches. */
int ledger_export_file(ledger *l, const char *path, uint64_t *n_out) ARIA_MUST_CHECK;
typedef struct ledger_import_stats {
    uint64_t total, applied, held, duplicate, fork, rejected;
} ledger_import_stats;
int ledger_import_file(ledger *l, const char *path, ledger_import_stats *st) ARIA_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif /* ARIA_LEDGER_H */
