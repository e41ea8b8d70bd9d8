/*
 * kern_perf.h — what `aria bench` needs from the engine to put a decode
 * speed next to its memory bound: the kernel table in use, and a memory read
 * bandwidth measurement made with the engine's own thread pool and the same
 * streaming pattern as the decode kernels.
 *
 * The bytes a decode step streams come from the loaded model
 * (kern_model_info.decode_bytes, kern_model.h).
 */
#ifndef ARIA_KERN_PERF_H
#define ARIA_KERN_PERF_H
#include <stddef.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the kernel table the engine runs ("scalar", "avx2", "avx512vnni"):
 * kern_isa_selected() refined by what the table needs (an AVX-512 CPU
 * without VNNI runs "avx2"). */
const char *kern_kernels_path(void);

#define KERN_MEMBW_READERS 4 /* with AVX-512F; 3 with AVX2; one reader without */

typedef struct kern_membw {
    double gbs;      /* median over the reps: bytes / wall-clock seconds / 1e9 */
    double cpu_gbs;  /* median bytes / (process CPU seconds / threads) / 1e9 */
    double best_gbs; /* the fastest pass of either reader */
    /* each reader's median, bytes / wall-clock seconds / 1e9: [0] the
     * hardware prefetchers alone, [1] a software prefetch of every line
     * 16 KiB ahead, [2] the decode kernels' page kick (one prefetch per
     * 4 KiB page), [3] the page kick with 512-bit loads, 256 bytes per
     * step (AVX-512F); 0 where a reader does not run (no AVX2: only [0];
     * no AVX-512F: not [3]); gbs is the largest */
    double reader_gbs[KERN_MEMBW_READERS];
    int n_readers; /* the readers that ran: reader_gbs[0 .. n_readers) */
} kern_membw;

/* Memory read bandwidth: n_threads threads (the engine's pool; the caller
 * is one of them) each stream a slice of a `bytes` buffer (2 MiB pages where
 * the OS allows), once to warm up, then `reps` timed passes of each
 * reader, interleaved: the hardware prefetchers alone, a software prefetch
 * of every line, and the decode kernels' page kick (x86-64 with AVX2; else
 * one plain reader), and the page kick with 512-bit loads (AVX-512F). The medians are those of the
 * reader with the shortest median time (membw.c says why). `bytes` should be far larger than the
 * last-level cache (>= 256 MiB). Errors: ARIA_EINVAL (n_threads outside
 * 1..256, bytes < 1 MiB, reps outside 1..1000), ARIA_ENOMEM. */
int kern_membw_measure(int n_threads, size_t bytes, int reps, kern_membw *out) ARIA_MUST_CHECK;

/* The same measurement with the buffer and threads kept between calls, so a
 * benchmark can measure the bandwidth right before each timed repetition
 * (on a shared machine it moves by 2x within a minute). The first run also
 * makes one untimed warm-up pass. Errors as kern_membw_measure. Not thread
 * safe: one caller at a time. */
typedef struct kern_membw_meter kern_membw_meter;
int kern_membw_meter_new(int n_threads, size_t bytes, kern_membw_meter **out) ARIA_MUST_CHECK;
int kern_membw_meter_run(kern_membw_meter *m, int reps, kern_membw *out) ARIA_MUST_CHECK;
void kern_membw_meter_free(kern_membw_meter *m);

#ifdef __cplusplus
}
#endif
#endif /* ARIA_KERN_PERF_H */
