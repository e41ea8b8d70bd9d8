/*
 * kern_cpu.h — CPU feature detection and the ISA level used for dispatch.
 *
 * Detection runs once (thread safe) and reads CPUID plus XGETBV, so a
 * feature counts only when the OS also saves the register state it needs.
 * ARIA_ISA=scalar|avx2|avx512 in the environment caps the level chosen
 * (tests force every path this way); it never raises it above what the CPU has.
 */
#ifndef ARIA_KERN_CPU_H
#define ARIA_KERN_CPU_H
#include <stdbool.h>
#include <stddef.h>

typedef struct kern_cpu_features {
    bool sse42, avx2, fma, f16c, bmi2;
    bool avx512f, avx512bw, avx512vl, avx512vnni, avx512vbmi;
    bool avxvnni;
} kern_cpu_features;

typedef enum kern_isa {
    KERN_ISA_SCALAR = 0, /* plain C, the reference */
    KERN_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KERN_ISA_AVX512 = 2, /* AVX-512 F/BW/VL (+ VNNI when present) */
} kern_isa;

/* The features of this CPU (detected once, immutable afterwards). */
const kern_cpu_features *kern_cpu_get(void);
/* Write "sse4.2 avx2 fma ..." listing the detected features (the ones
 * `aria version` names) into buf; returns buf. */
char *kern_cpu_feature_string(char *buf, size_t size);
/* The best ISA level this CPU supports, capped by ARIA_ISA if set. */
kern_isa kern_isa_selected(void);
/* The best ISA level this CPU supports, ignoring ARIA_ISA. */
kern_isa kern_isa_best(void);
const char *kern_isa_name(kern_isa isa);
/* Parse "scalar", "avx2", "avx512"; returns -1 if unknown. */
int kern_isa_parse(const char *s);

#endif
