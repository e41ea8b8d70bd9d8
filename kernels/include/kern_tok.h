/*
 * kern_tok.h — tokenizers of the inference engine: SentencePiece-style
 * (`tokenizer.ggml.model = "llama"`) and byte-level BPE (`"gpt2"`), special
 * tokens, detokenization with a streaming decoder that emits only complete
 * UTF-8, and chat templates for the supported model families.
 *
 * The algorithms follow llama.cpp's so that token ids match it exactly:
 *  - SPM: spaces become U+2581 "▁", a space is prepended to the first text
 *    fragment (add_space_prefix, default on), the text is split into UTF-8
 *    characters which are merged pairwise, highest vocabulary score first
 *    (ties: leftmost pair first), and a final symbol that is not a token is
 *    written as byte tokens <0xXX> (or the one-byte token, else unk).
 *  - BPE: the text is split by the pre-tokenizer (see kern_tok_pre), each
 *    piece is mapped byte→unicode as GPT-2 does, and merged by merge rank
 *    (lowest first, ties leftmost); llama-3 style vocabularies take a whole
 *    piece as one token when it is in the vocabulary (ignore_merges).
 *  - Special tokens (types CONTROL, USER_DEFINED, UNKNOWN) are split out of
 *    the text before either algorithm, longest first; CONTROL and UNKNOWN only
 *    when parsing specials is asked for, USER_DEFINED always.
 * Text that is not valid UTF-8 never fails: SPM keeps the bytes (byte
 * fallback), BPE classifies each stray byte like U+FFFD but keeps the byte.
 *
 * Ownership and threads: a kern_tok copies everything it needs from the
 * vocabulary or GGUF it was built from; it is immutable after construction
 * and any number of threads may encode/decode with it at once. A
 * kern_tok_stream belongs to one thread.
 */
#ifndef ARIA_KERN_TOK_H
#define ARIA_KERN_TOK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "kern_gguf.h"

typedef struct kern_tok kern_tok;

/* Tokenizer algorithm (tokenizer.ggml.model). */
typedef enum kern_tok_kind {
    KERN_TOK_SPM = 1, /* "llama" */
    KERN_TOK_BPE = 2, /* "gpt2" */
} kern_tok_kind;

/* BPE pre-tokenizer (tokenizer.ggml.pre). */
typedef enum kern_tok_pre {
    KERN_TOK_PRE_NONE = 0,   /* SPM: no pre-tokenizer */
    KERN_TOK_PRE_GPT2 = 1,   /* "default", "gpt-2", absent: GPT-2's regex */
    KERN_TOK_PRE_LLAMA3 = 2, /* "llama-bpe", "llama3", "falcon3", "dbrx", "smaug-bpe" */
} kern_tok_pre;

/* Token types as stored in tokenizer.ggml.token_type. */
typedef enum kern_tok_type {
    KERN_TOK_TYPE_UNDEFINED = 0,
    KERN_TOK_TYPE_NORMAL = 1,
    KERN_TOK_TYPE_UNKNOWN = 2,
    KERN_TOK_TYPE_CONTROL = 3,
    KERN_TOK_TYPE_USER_DEFINED = 4,
    KERN_TOK_TYPE_UNUSED = 5,
    KERN_TOK_TYPE_BYTE = 6,
} kern_tok_type;

/* Largest vocabulary accepted (ids are int32; real vocabularies are < 300k). */
#define KERN_TOK_MAX_VOCAB (1u << 24)

/* A vocabulary given as plain arrays (tests, synthetic models). Everything
 * is borrowed for the duration of kern_tok_new only (it is copied). */
typedef struct kern_tok_vocab {
    kern_tok_kind kind;
    kern_tok_pre pre;          /* ignored for SPM */
    size_t n_tokens;           /* 1 .. KERN_TOK_MAX_VOCAB */
    const char *const *tokens; /* token texts (UTF-8, ▁ for space in SPM) */
    const size_t *token_lens;  /* NULL: each token is NUL-terminated */
    const float *scores;       /* NULL: all 0 (SPM needs real scores) */
    const int32_t *types;      /* NULL: all NORMAL; values kern_tok_type */
    size_t n_merges;           /* BPE: "left right", rank = index */
    const char *const *merges;
    const size_t *merge_lens; /* NULL: NUL-terminated */
    int32_t bos_id;           /* -1 = none */
    int32_t eos_id;           /* -1 = none */
    int32_t eot_id;           /* -1 = none (end of turn, e.g. <|eot_id|>) */
    int32_t unk_id;           /* -1 = none */
    int32_t pad_id;           /* -1 = none */
    bool add_bos;             /* prepend BOS when encoding with add_special */
    bool add_eos;             /* append EOS when encoding with add_special */
    bool add_space_prefix;    /* SPM: prepend " " to the first text fragment */
} kern_tok_vocab;

/* Build a tokenizer from arrays. ARIA_EINVAL (message names the field) for
 * an empty or oversized vocabulary, ids out of range, an unknown kind, or a
 * merge without a space. Duplicate token texts: the later id wins (as in
 * llama.cpp). */
int kern_tok_new(const kern_tok_vocab *v, kern_tok **out) ARIA_MUST_CHECK;

/* Build a tokenizer from GGUF metadata: tokenizer.ggml.model ("llama" or
 * "gpt2"), .tokens, .scores, .token_type, .merges, .pre, .bos_token_id,
 * .eos_token_id, .eot_token_id, .unknown_token_id, .padding_token_id,
 * .add_bos_token, .add_eos_token, .add_space_prefix. Missing optional keys
 * get llama.cpp's defaults (SPM: bos 1, eos 2, unk 0, add_bos and
 * add_space_prefix true; BPE: bos 11, eos 11, add_bos true only for the
 * Llama-3-style pre-tokenizers; without an eot key the EOT is the token
 * <|eot_id|>, <|im_end|>, <|end|> or <end_of_turn> if present). Special ids
 * past the vocabulary are dropped (-1) with a warning. ARIA_ENOTFOUND if the file has no tokenizer,
 * ARIA_EUNSUPPORTED for another model kind (message names it), ARIA_EPROTO
 * for malformed arrays (message names the key and index). */
int kern_tok_from_gguf(const kern_gguf *g, kern_tok **out) ARIA_MUST_CHECK;

/* Free; NULL is a no-op. */
void kern_tok_free(kern_tok *t);

/* Accessors. Ids are -1 when the model has none. */
kern_tok_kind kern_tok_kind_of(const kern_tok *t);
kern_tok_pre kern_tok_pre_of(const kern_tok *t);
size_t kern_tok_n_vocab(const kern_tok *t);
int32_t kern_tok_bos(const kern_tok *t);
int32_t kern_tok_eos(const kern_tok *t);
int32_t kern_tok_eot(const kern_tok *t);
int32_t kern_tok_unk(const kern_tok *t);
int32_t kern_tok_pad(const kern_tok *t);
bool kern_tok_adds_bos(const kern_tok *t);
/* True for the EOS and EOT ids: generation stops on these. */
bool kern_tok_is_eog(const kern_tok *t, int32_t id);
/* Token type of id (UNDEFINED if out of range). */
kern_tok_type kern_tok_type_of(const kern_tok *t, int32_t id);
/* The raw vocabulary text of id (not NUL-terminated; *len bytes), or NULL
 * when id is out of range. Borrowed from t. */
const char *kern_tok_text(const kern_tok *t, int32_t id, size_t *len);
/* Score of id (0 for BPE, out of range). */
float kern_tok_score(const kern_tok *t, int32_t id);
/* Id of an exact token text, or -1. */
int32_t kern_tok_find(const kern_tok *t, const char *text, size_t len);

/* Encoding flags. */
enum {
    KERN_TOK_ADD_SPECIAL = 1u << 0,   /* BOS/EOS as the model says (add_bos/add_eos) */
    KERN_TOK_PARSE_SPECIAL = 1u << 1, /* match CONTROL tokens like <|eot_id|> in text */
};

/* Tokenize `len` bytes of `text` (any bytes; need not be NUL-terminated).
 * Writes up to `max` ids to `ids` and always sets *n to the number of ids
 * the text needs. Returns 0, or ARIA_ERANGE when max < *n (ids then holds
 * the first max), or ARIA_ENOMEM. */
int kern_tok_encode_ex(const kern_tok *t, const char *text, size_t len, unsigned flags,
                       int32_t *ids, size_t max, size_t *n) ARIA_MUST_CHECK;

/* The engine's usual call: kern_tok_encode_ex with PARSE_SPECIAL, plus
 * ADD_SPECIAL when `add_special` is true (BOS is then added only if the model
 * adds it: see kern_tok_adds_bos). */
int kern_tok_encode(const kern_tok *t, const char *text, size_t len, bool add_special, int32_t *ids,
                    size_t max, size_t *n) ARIA_MUST_CHECK;

/* The bytes one token stands for (its "piece"): SPM ▁ → space, <0xXX> →
 * that byte, unknown → U+2585; BPE: the byte-level mapping undone. CONTROL
 * tokens give "" unless `special` is set (then their text). UNUSED: "".
 * Writes at most `cap` bytes into `out`, returns the piece length (which may
 * exceed cap: call again with a bigger buffer), or ARIA_EINVAL for an id out
 * of range. Never more than KERN_TOK_MAX_PIECE bytes. */
#define KERN_TOK_MAX_PIECE 1024
int kern_tok_piece(const kern_tok *t, int32_t id, bool special, char *out,
                   size_t cap) ARIA_MUST_CHECK;

/* Decode flags. */
enum {
    KERN_TOK_DECODE_SPECIAL = 1u << 0,     /* render CONTROL tokens as their text */
    KERN_TOK_DECODE_STRIP_SPACE = 1u << 1, /* SPM with add_space_prefix: drop one
                                              leading space of the first piece */
    KERN_TOK_DECODE_SKIP_BOS = 1u << 2,    /* skip a leading BOS id */
};

/* Detokenize ids into `out` (appended). The bytes are exactly the pieces
 * concatenated; they are NOT checked for UTF-8 (use a kern_tok_stream for
 * display). ARIA_EINVAL names the first id out of range. */
int kern_tok_decode(const kern_tok *t, const int32_t *ids, size_t n, unsigned flags,
                    aria_buf *out) ARIA_MUST_CHECK;

/* Streaming detokenizer: feed ids one at a time; it appends to `out` only
 * complete, valid UTF-8. A sequence that may still complete is held back
 * (at most 3 bytes); bytes that can never be valid UTF-8 (a stray
 * continuation byte, an overlong or surrogate form, a lead byte followed by
 * a non-continuation) are replaced by U+FFFD, one per maximal invalid
 * subpart as in Unicode's "substitution of maximal subparts". */
typedef struct kern_tok_stream {
    const kern_tok *tok; /* borrowed */
    unsigned flags;      /* KERN_TOK_DECODE_* */
    uint8_t pend[4];     /* held bytes of an incomplete sequence */
    size_t n_pend;
    size_t n_tokens; /* tokens fed so far (STRIP_SPACE/SKIP_BOS apply to the first) */
} kern_tok_stream;

void kern_tok_stream_init(kern_tok_stream *s, const kern_tok *t, unsigned flags);
/* Append the complete UTF-8 that token `id` finishes. ARIA_EINVAL for an
 * id out of range (nothing appended, state unchanged); the buffer's sticky
 * error otherwise. */
int kern_tok_stream_push(kern_tok_stream *s, int32_t id, aria_buf *out) ARIA_MUST_CHECK;
/* End of stream: a held incomplete sequence becomes U+FFFD. */
int kern_tok_stream_flush(kern_tok_stream *s, aria_buf *out) ARIA_MUST_CHECK;
/* Feed raw bytes (used by push; exposed for tests and the fuzzer). */
int kern_tok_stream_bytes(kern_tok_stream *s, const void *p, size_t n,
                          aria_buf *out) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Chat templates                                                       */
/* ------------------------------------------------------------------ */

typedef enum kern_chat_tmpl {
    KERN_CHAT_UNKNOWN = 0,
    KERN_CHAT_LLAMA2 = 1, /* "[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST]" (BOS by tokenizer) */
    KERN_CHAT_LLAMA3 = 2, /* "<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>" */
    KERN_CHAT_BITNET = 3, /* BitNet b1.58 2B-4T: "User: …<|eot_id|>Assistant: " */
} kern_chat_tmpl;

typedef struct kern_chat_msg {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} kern_chat_msg;

/* Choose the template for a model: from tokenizer.chat_template when present
 * (llama-3 markers <|start_header_id|>; "[INST]" → llama-2; "'Assistant: '"
 * or "Assistant: " with <|eot_id|> → bitnet), else from the architecture
 * (bitnet-b1.58 / bitnet-25 → bitnet; a BPE vocabulary with
 * <|start_header_id|> → llama-3; an SPM vocabulary → llama-2). `chat_template`
 * and `arch` may be NULL. */
kern_chat_tmpl kern_chat_detect(const char *chat_template, const char *arch, const kern_tok *t);
/* Same, reading tokenizer.chat_template and general.architecture. */
kern_chat_tmpl kern_chat_detect_gguf(const kern_gguf *g, const kern_tok *t);
/* "llama2", "llama3", "bitnet", "unknown". */
const char *kern_chat_tmpl_name(kern_chat_tmpl k);
/* Parse a name as above (ARIA_EINVAL otherwise). */
int kern_chat_tmpl_parse(const char *name, kern_chat_tmpl *out) ARIA_MUST_CHECK;

/* Format `n` messages into `out` (appended, NUL not included), ending with
 * the assistant prefix when add_assistant is set. The BOS token is not
 * written: the tokenizer adds it (encode with add_special and parse the
 * special tokens). ARIA_EINVAL for an unknown template or role. */
int kern_chat_format(kern_chat_tmpl k, const kern_chat_msg *msgs, size_t n, bool add_assistant,
                     aria_buf *out) ARIA_MUST_CHECK;

#endif
