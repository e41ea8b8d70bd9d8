/*
 * kern_gguf.h — GGUF v3 (and v2) reader by mmap and an atomic GGUF writer.
 *
 * Reader: kern_gguf_open maps the file read-only (MAP_PRIVATE) and validates
 * the whole header before anything looks at tensor data: magic, version,
 * counts against the bytes left, every string and array length, value
 * types, tensor types, n_dims <= 4, dimensions (products overflow-checked),
 * general.alignment (a power of two, default 32), each tensor's offset
 * (aligned, inside the data section) and byte size (inside the file), and
 * that tensor data ranges do not overlap. Any failure returns ARIA_EPROTO
 * (ARIA_ERANGE for a truncated file) with an aria_errf message naming the
 * field and its byte offset in the file. Duplicate keys or tensor names are
 * rejected. Nested arrays (arrays of arrays) are rejected: no model we
 * support uses them.
 * Version 2 has the same layout as 3 (64-bit counts) and is accepted;
 * version 1 (32-bit counts) is rejected.
 *
 * Ownership: every pointer returned by a getter (keys, strings, tensor
 * structs, data) is borrowed from the kern_gguf and valid until
 * kern_gguf_close. Scalar string values and names are NUL-terminated copies;
 * strings inside arrays point into the file and are NOT NUL-terminated (use
 * the returned length). A kern_gguf is immutable after open: any number of
 * threads may read it concurrently.
 *
 * Writer: collects metadata and tensor descriptions, then writes
 * header, kv pairs, tensor infos and aligned data to `<path>.tmp.<pid>`,
 * fsyncs and renames it over `path`, so a reader never sees a half file.
 */
#ifndef ARIA_KERN_GGUF_H
#define ARIA_KERN_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "kern_types.h"

#define KERN_GGUF_MAGIC             0x46554747u /* "GGUF" little endian */
#define KERN_GGUF_DEFAULT_ALIGNMENT 32u
#define KERN_GGUF_MAX_DIMS          4

/* Metadata value types, numbered as in the GGUF spec. */
typedef enum kern_gguf_vtype {
    KERN_GGUF_U8 = 0,
    KERN_GGUF_I8 = 1,
    KERN_GGUF_U16 = 2,
    KERN_GGUF_I16 = 3,
    KERN_GGUF_U32 = 4,
    KERN_GGUF_I32 = 5,
    KERN_GGUF_F32 = 6,
    KERN_GGUF_BOOL = 7,
    KERN_GGUF_STRING = 8,
    KERN_GGUF_ARRAY = 9,
    KERN_GGUF_U64 = 10,
    KERN_GGUF_I64 = 11,
    KERN_GGUF_F64 = 12,
} kern_gguf_vtype;

const char *kern_gguf_vtype_name(kern_gguf_vtype t);

typedef struct kern_gguf kern_gguf;

/* One tensor of the table. `offset` is relative to the data section,
 * `file_offset` absolute; `data` points into the mapping (aligned to the
 * file's alignment relative to the file start). ne[i] = 1 for i >= n_dims. */
typedef struct kern_gguf_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[KERN_GGUF_MAX_DIMS];
    kern_wtype type;
    uint64_t offset;
    uint64_t file_offset;
    uint64_t nbytes; /* kern_wtype_tensor_bytes(type, n_elems, ne[0]) */
    uint64_t n_elems;
    const void *data;
} kern_gguf_tensor;

/* A metadata entry as listed by kern_gguf_kv_at. */
typedef struct kern_gguf_kv {
    const char *key; /* NUL-terminated */
    kern_gguf_vtype type;
    kern_gguf_vtype arr_type; /* element type when type == ARRAY */
    uint64_t arr_len;         /* elements when type == ARRAY */
} kern_gguf_kv;

/* An array value: use the kern_gguf_arr_* accessors. */
typedef struct kern_gguf_arr {
    kern_gguf_vtype type; /* element type */
    uint64_t n;           /* elements */
    size_t kv_index;      /* internal */
} kern_gguf_arr;

/* Open and validate `path` (see above). On success *out owns the mapping. */
int kern_gguf_open(const char *path, kern_gguf **out) ARIA_MUST_CHECK;
/* Same on `len` borrowed bytes (no mmap): `data` must outlive the result. */
int kern_gguf_open_mem(const void *data, size_t len, kern_gguf **out) ARIA_MUST_CHECK;
/* Unmap and free; NULL is a no-op. */
void kern_gguf_close(kern_gguf *g);

uint32_t kern_gguf_version(const kern_gguf *g);
uint32_t kern_gguf_alignment(const kern_gguf *g);
/* Absolute file offset of the tensor data section; total file size. */
uint64_t kern_gguf_data_offset(const kern_gguf *g);
uint64_t kern_gguf_file_size(const kern_gguf *g);
/* The whole mapped file (for madvise/mlock by the loader). */
const void *kern_gguf_base(const kern_gguf *g);
/* general.architecture, or NULL if absent. */
const char *kern_gguf_arch(const kern_gguf *g);

/* Metadata. */
size_t kern_gguf_n_kv(const kern_gguf *g);
void kern_gguf_kv_at(const kern_gguf *g, size_t i, kern_gguf_kv *out); /* i < n_kv (asserts) */
/* Index of `key`, or -1. */
long kern_gguf_find_key(const kern_gguf *g, const char *key);

/* Typed getters. Return 0, ARIA_ENOTFOUND if the key is absent, or
 * ARIA_EPROTO (message names the key) if its type does not convert: the
 * integer getters accept any integer type (and bool) whose value fits in the
 * target; get_f32/f64 accept F32, F64 and integers; get_bool accepts BOOL
 * and integers 0/1; get_str accepts STRING only. */
int kern_gguf_get_u32(const kern_gguf *g, const char *key, uint32_t *out) ARIA_MUST_CHECK;
int kern_gguf_get_u64(const kern_gguf *g, const char *key, uint64_t *out) ARIA_MUST_CHECK;
int kern_gguf_get_i32(const kern_gguf *g, const char *key, int32_t *out) ARIA_MUST_CHECK;
int kern_gguf_get_i64(const kern_gguf *g, const char *key, int64_t *out) ARIA_MUST_CHECK;
int kern_gguf_get_f32(const kern_gguf *g, const char *key, float *out) ARIA_MUST_CHECK;
int kern_gguf_get_f64(const kern_gguf *g, const char *key, double *out) ARIA_MUST_CHECK;
int kern_gguf_get_bool(const kern_gguf *g, const char *key, bool *out) ARIA_MUST_CHECK;
/* *out NUL-terminated (the value may itself contain NUL bytes: see *len). */
int kern_gguf_get_str(const kern_gguf *g, const char *key, const char **out,
                      size_t *len) ARIA_MUST_CHECK;
/* ARIA_EPROTO if the value is not an array. */
int kern_gguf_get_arr(const kern_gguf *g, const char *key, kern_gguf_arr *out) ARIA_MUST_CHECK;

/* Array elements (i < a->n, else ARIA_ERANGE). Same conversion rules as the
 * scalar getters. String elements are not NUL-terminated. */
int kern_gguf_arr_i64(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i,
                      int64_t *out) ARIA_MUST_CHECK;
int kern_gguf_arr_u64(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i,
                      uint64_t *out) ARIA_MUST_CHECK;
int kern_gguf_arr_f32(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i,
                      float *out) ARIA_MUST_CHECK;
int kern_gguf_arr_str(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, const char **s,
                      size_t *len) ARIA_MUST_CHECK;
/* Raw little-endian element bytes of a numeric array (may be unaligned). */
const void *kern_gguf_arr_raw(const kern_gguf *g, const kern_gguf_arr *a);

/* Tensors. */
size_t kern_gguf_n_tensors(const kern_gguf *g);
const kern_gguf_tensor *kern_gguf_tensor_at(const kern_gguf *g, size_t i); /* asserts i < n */
/* NULL if there is no tensor with that name. */
const kern_gguf_tensor *kern_gguf_tensor_find(const kern_gguf *g, const char *name);

/* ------------------------------------------------------------------ */
/* Writer                                                               */
/* ------------------------------------------------------------------ */

typedef struct kern_gguf_writer kern_gguf_writer;

int kern_gguf_writer_new(kern_gguf_writer **out) ARIA_MUST_CHECK;
/* Frees; if a streamed write was opened and not committed, removes the
 * temporary file. NULL is a no-op. */
void kern_gguf_writer_free(kern_gguf_writer *w);

/* Metadata, written in the order added. Keys must be unique (ARIA_EEXIST).
 * Adding "general.alignment" (u32, a power of two) sets the data alignment. */
int kern_gguf_writer_add_u8(kern_gguf_writer *w, const char *key, uint8_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_i8(kern_gguf_writer *w, const char *key, int8_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_u16(kern_gguf_writer *w, const char *key, uint16_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_i16(kern_gguf_writer *w, const char *key, int16_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_u32(kern_gguf_writer *w, const char *key, uint32_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_i32(kern_gguf_writer *w, const char *key, int32_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_u64(kern_gguf_writer *w, const char *key, uint64_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_i64(kern_gguf_writer *w, const char *key, int64_t v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_f32(kern_gguf_writer *w, const char *key, float v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_f64(kern_gguf_writer *w, const char *key, double v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_bool(kern_gguf_writer *w, const char *key, bool v) ARIA_MUST_CHECK;
int kern_gguf_writer_add_str(kern_gguf_writer *w, const char *key, const char *v) ARIA_MUST_CHECK;
/* A numeric (or bool) array: `elems` holds n values of the C type matching
 * elem_type (uint8_t, int8_t, ..., float, double; bool as uint8_t 0/1). */
int kern_gguf_writer_add_arr(kern_gguf_writer *w, const char *key, kern_gguf_vtype elem_type,
                             const void *elems, size_t n) ARIA_MUST_CHECK;
/* A string array; lens may be NULL (then strlen each). Copied. */
int kern_gguf_writer_add_arr_str(kern_gguf_writer *w, const char *key, const char *const *strs,
                                 const size_t *lens, size_t n) ARIA_MUST_CHECK;

/* Describe a tensor (ne[0] the row length, a multiple of the type's block).
 * `data` (kern_wtype_tensor_bytes bytes) is borrowed until the write ends;
 * NULL means the bytes will be streamed with kern_gguf_writer_put. Tensors
 * are laid out in the order added. Names must be unique. */
int kern_gguf_writer_add_tensor(kern_gguf_writer *w, const char *name, kern_wtype type,
                                uint32_t n_dims, const uint64_t *ne,
                                const void *data) ARIA_MUST_CHECK;

/* One-shot: write everything (every tensor must have data) atomically. */
int kern_gguf_writer_write(kern_gguf_writer *w, const char *path) ARIA_MUST_CHECK;

/* Streaming: begin writes the header and tensor infos to a temp file; then
 * put appends tensor bytes in tensor order (any chunking; tensors given
 * with data are written automatically when reached; padding is inserted
 * between tensors); commit checks every byte was given, fsyncs, renames. */
int kern_gguf_writer_begin(kern_gguf_writer *w, const char *path) ARIA_MUST_CHECK;
int kern_gguf_writer_put(kern_gguf_writer *w, const void *p, size_t n) ARIA_MUST_CHECK;
int kern_gguf_writer_commit(kern_gguf_writer *w) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Synthetic models (`aria model synth`)                                */
/* ------------------------------------------------------------------ */

/* A deterministic synthetic model: same options -> byte-identical file.
 * Every projection weight is s * T with T ternary (-1/0/+1, uniform) and one
 * scale s per tensor chosen so that s is exact in fp16 AND bf16; so for one
 * seed every weight type (f32 f16 bf16 q8_0 tq1_0 tq2_0 i2_s) dequantizes to
 * the SAME float model. Each tensor draws from its own xoshiro256** stream
 * seeded from (seed, tensor name), so values do not depend on tensor order.
 * Tensor names and metadata keys are llama.cpp's / bitnet.cpp's for the arch;
 * docs/inference.md lists them and the built-in vocabulary. */
typedef struct kern_synth_opts {
    const char *arch; /* "bitnet-b1.58", "bitnet-25", "bitnet", "llama" */
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab;
    kern_wtype wtype; /* projection weights */
    uint64_t seed;
    uint32_t n_ctx;        /* <arch>.context_length; 0 = 2048 */
    float rope_base;       /* 0 = arch default (bitnet 10000, others 500000) */
    const char *tokenizer; /* "llama" (SentencePiece + byte fallback) or "gpt2"
                              (byte-level BPE); NULL = arch default (bitnet:
                              llama, others: gpt2) */
    bool scales;           /* bitnet only: weights stored with s = 1 plus a
                              per-projection "<name>.scale" F32 [1] tensor */
} kern_synth_opts;

/* Check the options (ARIA_EINVAL naming the bad one): dims > 0, heads divide
 * n_embd into an even head size, n_head % n_head_kv == 0, n_embd and n_ff
 * multiples of the type's block, n_vocab >= 259 and < 2^31. */
int kern_synth_check(const kern_synth_opts *o) ARIA_MUST_CHECK;
/* Write the model to `path` atomically, streaming tensors (memory use is a
 * few MB whatever the model size). */
int kern_synth_write(const kern_synth_opts *o, const char *path) ARIA_MUST_CHECK;

#endif
