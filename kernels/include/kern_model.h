/*
 * kern_model.h — the inference engine: load a BitNet-family model from a
 * GGUF file, run the forward pass with a KV cache, sample, and generate.
 *
 * Architectures (general.architecture):
 *   "bitnet-b1.58" / "bitnet-25"  BitNet b1.58 2B-4T: ReLU² gated FFN,
 *                                 attention and FFN sub-norms, NEOX RoPE,
 *                                 GQA, tied (F16) embedding.
 *   "bitnet"                      1bitLLM b1.58: SiLU gated FFN, sub-norms,
 *                                 optional per-projection ".scale" tensors,
 *                                 tied embedding, NEOX RoPE.
 *   "llama"                       Llama with ternary (or float) projections,
 *                                 normal (adjacent-pair) RoPE, SiLU gated FFN,
 *                                 optional output.weight (else tied).
 *
 * Numerics (docs/inference.md has the details):
 *   - Ternary projections (I2_S, TQ1_0, TQ2_0) run as per-token absmax int8
 *     activations × ternary weights with exact int32 dot products, then one
 *     float multiply by (activation scale × weight scale).
 *   - Float weights (F32, F16, BF16, Q8_0) are computed in float with one
 *     fixed reduction order.
 *   - Norms, attention, softmax and RoPE tables use fixed reduction orders
 *     and the engine's own exp/log/sin/cos, so logits are bit-identical for
 *     every ISA path (ARIA_ISA=scalar|avx2|avx512) and every thread count.
 *
 * Threads: a kern_model is immutable after load and may be shared by any
 * number of contexts on any threads. A kern_ctx and a kern_sampler belong
 * to one thread at a time.
 */
#ifndef ARIA_KERN_MODEL_H
#define ARIA_KERN_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kern_model kern_model;
typedef struct kern_ctx kern_ctx;
typedef struct kern_sampler kern_sampler;
typedef struct kern_tok kern_tok;   /* kern_tok.h */
typedef struct kern_gguf kern_gguf; /* kern_gguf.h */

typedef enum kern_arch {
    KERN_ARCH_BITNET_B158 = 0, /* "bitnet-b1.58", alias "bitnet-25" */
    KERN_ARCH_BITNET = 1,      /* "bitnet" (1bitLLM) */
    KERN_ARCH_LLAMA = 2,       /* "llama" */
} kern_arch;

/* Name of an arch ("bitnet-b1.58", "bitnet", "llama"). */
const char *kern_arch_name(kern_arch a);

typedef struct kern_model_opts {
    /* Do not build the tokenizer (ids-only use; kern_model_tok() is NULL). */
    bool no_tokenizer;
    /* Run F32/F16 projections whose values are exactly s·{-1,0,+1} through the
     * int8 ternary path instead of the float path. Off by default: the float
     * path reproduces llama.cpp's results on float files. */
    bool ternarize_float;
    /* Run a float LM head (F32/F16/BF16/Q8_0, tied or not) as an int8 copy
     * made at load (per-row absmax scale, ops.h rules) with int8 activations:
     * half the bytes of an F16 head per decoded token. Off by default: the
     * float head is exact and reproduces llama.cpp's logits; the int8 head
     * changes logits (slightly) and is still bit-identical across ISA paths
     * and thread counts. */
    bool int8_head;
} kern_model_opts;

/* Hyperparameters and facts about a loaded model. Strings are owned by the
 * model and valid until kern_model_free. */
typedef struct kern_model_info {
    kern_arch arch;
    const char *arch_name;   /* as written in the file */
    const char *name;        /* general.name or "" */
    uint32_t n_layer;        /* {arch}.block_count */
    uint32_t n_embd;         /* {arch}.embedding_length */
    uint32_t n_ff;           /* {arch}.feed_forward_length */
    uint32_t n_head;         /* {arch}.attention.head_count */
    uint32_t n_head_kv;      /* {arch}.attention.head_count_kv (default n_head) */
    uint32_t head_dim;       /* n_embd / n_head */
    uint32_t n_rot;          /* {arch}.rope.dimension_count (default head_dim) */
    uint32_t n_vocab;        /* rows of token_embd.weight */
    uint32_t n_ctx_train;    /* {arch}.context_length */
    float rope_theta;        /* {arch}.rope.freq_base (default 10000) */
    float rope_freq_scale;   /* 1 / {arch}.rope.scaling.factor for linear scaling */
    float norm_eps;          /* {arch}.attention.layer_norm_rms_epsilon */
    bool rope_neox;          /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool tied_output;        /* logits use token_embd.weight */
    int proj_type;           /* kern_wtype of the attention/FFN projections */
    int32_t bos_id, eos_id;  /* -1 if the file names none */
    int32_t eot_id;          /* end-of-turn id or -1 */
    uint64_t n_params;       /* number of weights */
    uint64_t file_bytes;     /* size of the GGUF file */
    uint64_t resident_bytes; /* heap the engine allocated for repacked weights */
    /* Bytes of weights one decode step streams in the engine's layouts: every
     * projection, the LM head as it runs (float or int8 copy), the norm
     * vectors and one embedding row. KV-cache reads are not included. */
    uint64_t decode_bytes;
} kern_model_info;

/* Open and map a GGUF file, validate the arch, hyperparameters and every
 * tensor's name, type and shape, build the engine's weight layouts and (unless
 * opts->no_tokenizer) the tokenizer. opts may be NULL (defaults).
 * Errors: ARIA_ENOTFOUND (no such file), ARIA_EIO (cannot read), ARIA_EPROTO (malformed file,
 * missing or invalid key or tensor, wrong shape — the message names it and both shapes),
 * ARIA_EUNSUPPORTED (arch or weight type), ARIA_ENOMEM. */
int kern_model_load(const char *path, const kern_model_opts *opts,
                    kern_model **out) ARIA_MUST_CHECK;
void kern_model_free(kern_model *m); /* NULL is a no-op */

const kern_model_info *kern_model_get_info(const kern_model *m);
/* The model's tokenizer, or NULL when loaded with no_tokenizer or when the
 * file has no tokenizer. Borrowed: valid until kern_model_free. */
const kern_tok *kern_model_tok(const kern_model *m);

/* The GGUF file the model was loaded from (metadata such as
 * tokenizer.chat_template). Borrowed: valid until kern_model_free. */
const kern_gguf *kern_model_gguf(const kern_model *m);

/* ------------------------------------------------------------------ */
/* Contexts: KV cache + scratch for one sequence                        */
/* ------------------------------------------------------------------ */

typedef enum kern_kv_type {
    KERN_KV_F16 = 0, /* default; the reference vectors were made this way */
    KERN_KV_F32 = 1,
} kern_kv_type;

typedef struct kern_ctx_opts {
    uint32_t n_ctx;       /* positions in the KV cache; 0 = min(n_ctx_train, 4096) */
    int n_threads;        /* worker threads incl. the caller; <= 0 means 1 */
    kern_kv_type kv_type; /* KV cache element type */
    uint32_t n_batch;     /* tokens per forward chunk; 0 = 64 */
    /* KV heads per cache block: 1 = head-major (each head's rows one run),
     * G > 1 = blocks of G heads with a position's G rows side by side, so
     * that a thread attending to a block's heads reads one stream; it must
     * divide n_head_kv. 0 = chosen for the CPU and thread count. The layout
     * never changes a result (each head's arithmetic is the same). */
    uint32_t kv_group;
} kern_ctx_opts;

/* Bytes the KV cache of a context with these options will use. */
uint64_t kern_ctx_kv_bytes(const kern_model *m, const kern_ctx_opts *opts);

/* Create a context on a loaded model (m must outlive it). */
int kern_ctx_new(const kern_model *m, uint32_t n_ctx, int n_threads,
                 kern_ctx **out) ARIA_MUST_CHECK;
int kern_ctx_new_opts(const kern_model *m, const kern_ctx_opts *opts,
                      kern_ctx **out) ARIA_MUST_CHECK;
void kern_ctx_free(kern_ctx *c); /* NULL is a no-op */

/* Append n tokens at the current position (prompt in one call, or one token
 * per generation step) and, if logits_last is not NULL, write the n_vocab
 * logits of the last token there. Errors: ARIA_ERANGE when the tokens do not
 * fit in n_ctx (nothing is evaluated; the message gives the numbers),
 * ARIA_EINVAL for an id outside [0, n_vocab). */
int kern_ctx_eval(kern_ctx *c, const int32_t *ids, size_t n, float *logits_last) ARIA_MUST_CHECK;
/* Tokens in the cache. */
uint32_t kern_ctx_pos(const kern_ctx *c);
uint32_t kern_ctx_n_ctx(const kern_ctx *c);
/* Drop the cache back to `pos` tokens (pos <= kern_ctx_pos). */
void kern_ctx_truncate(kern_ctx *c, uint32_t pos);
const kern_model *kern_ctx_model(const kern_ctx *c);

/* ------------------------------------------------------------------ */
/* Sampling                                                             */
/* ------------------------------------------------------------------ */

/* Order (as llama.cpp's default chain): repetition penalty over the last
 * repeat_last_n accepted ids; then if temp <= 0 argmax (lowest id on ties);
 * else top-k, top-p, min-p (on probabilities at temperature 1), temperature,
 * softmax, and one draw from the sampler's own PRNG (xoshiro256** seeded from
 * `seed` by splitmix64). Same params + seed + logits => same ids everywhere. */
typedef struct kern_sample_params {
    float temp;             /* <= 0: greedy */
    uint32_t top_k;         /* 0 = off */
    float top_p;            /* >= 1 = off */
    float min_p;            /* <= 0 = off */
    float repeat_penalty;   /* 1 = off; logit l -> l>0 ? l/r : l*r */
    uint32_t repeat_last_n; /* history window for the penalty */
    uint64_t seed;
} kern_sample_params;

/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, last_n 64, seed 0. */
void kern_sample_params_default(kern_sample_params *p);
/* Check ranges; ARIA_EINVAL names the bad field. */
int kern_sample_params_check(const kern_sample_params *p) ARIA_MUST_CHECK;

int kern_sampler_new(const kern_sample_params *p, uint32_t n_vocab,
                     kern_sampler **out) ARIA_MUST_CHECK;
void kern_sampler_free(kern_sampler *s);
/* Record an id in the penalty history (prompt ids and generated ids). */
void kern_sampler_accept(kern_sampler *s, int32_t id);
/* Pick the next id from n_vocab logits (not modified). Never fails. */
int32_t kern_sampler_sample(kern_sampler *s, const float *logits);

/* ------------------------------------------------------------------ */
/* Generation                                                           */
/* ------------------------------------------------------------------ */

typedef enum kern_stop_reason {
    KERN_STOP_LENGTH = 0,   /* n_predict tokens generated */
    KERN_STOP_EOS = 1,      /* an EOS/EOT id was sampled (not emitted) */
    KERN_STOP_STRING = 2,   /* a stop string appeared (text before it emitted) */
    KERN_STOP_CALLBACK = 3, /* the callback asked to stop */
    KERN_STOP_CONTEXT = 4,  /* the context is full */
} kern_stop_reason;

typedef struct kern_gen_params {
    uint32_t n_predict; /* maximum new tokens */
    kern_sample_params sample;
    const char *const *stop; /* stop strings (borrowed), may be NULL */
    size_t n_stop;
    bool ignore_eos; /* keep going through EOS/EOT ids */
} kern_gen_params;

/* Called once per generated token with its id, the logits it was sampled
 * from (n_vocab floats, valid during the call) and the text now safe to print
 * (complete UTF-8, held back while it could still be the start of a stop
 * string; may be empty; not NUL-terminated; NULL/0 when the model has no
 * tokenizer). Return non-zero to stop. After the last token, text still held
 * back (not part of a stop string) comes in one extra call with id -1 and
 * logits NULL (its return value is ignored). */
typedef int (*kern_gen_fn)(void *ud, int32_t id, const float *logits, const char *text,
                           size_t text_len);

typedef struct kern_gen_result {
    uint32_t n_prompt;
    uint32_t n_generated;
    kern_stop_reason reason;
    uint64_t prompt_ns, gen_ns;
} kern_gen_result;

/* Evaluate the prompt (appended to whatever the context holds), then sample
 * and evaluate up to n_predict tokens, calling fn per token. Errors:
 * ARIA_ERANGE if the prompt does not fit in the context, errors of
 * kern_ctx_eval, ARIA_EINVAL for bad params. */
int kern_generate(kern_ctx *c, const int32_t *prompt, size_t n_prompt, const kern_gen_params *p,
                  kern_gen_fn fn, void *ud, kern_gen_result *res) ARIA_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif /* ARIA_KERN_MODEL_H */
