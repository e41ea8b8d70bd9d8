/*
 * kernels.h — the inference worker's public API (umbrella header).
 * Parts: kern_cpu.h (CPU features and ISA dispatch).
 */
#ifndef ARIA_KERNELS_H
#define ARIA_KERNELS_H
#include "base.h"
#include "kern_cpu.h"
#include "kern_types.h" /* weight types, fp16/bf16, dequantize, pack (kern-gguf) */
#include "kern_gguf.h"  /* GGUF reader and writer (kern-gguf) */
#include "kern_tok.h"   /* tokenizers, detokenizer, chat templates (kern-tok) */
#include "kern_model.h" /* model loading, forward pass, sampling, generation (kern-engine) */
#include "kern_perf.h"  /* kernel path name, memory bandwidth (aria bench) */
#endif
