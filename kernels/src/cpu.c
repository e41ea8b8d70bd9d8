/*
 * cpu.c — CPUID/XGETBV feature detection and ISA selection.
 */
#include "kernels.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kern_cpu_features feats;
static pthread_once_t feats_once = PTHREAD_ONCE_INIT;

static unsigned long long
read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void
detect(void)
{
    unsigned int a, b, c, d;
    memset(&feats, 0, sizeof feats);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = c & (1u << 27);
    feats.sse42 = c & (1u << 20);
    bool fma = c & (1u << 12);
    bool f16c = c & (1u << 29);
    bool avx = c & (1u << 28);
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool ymm_ok = (xcr0 & 0x6) == 0x6;             /* XMM + YMM state */
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM */
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    bool avx2 = b & (1u << 5);
    feats.bmi2 = b & (1u << 8);
    if (avx && ymm_ok) {
        feats.avx2 = avx2;
        feats.fma = fma;
        feats.f16c = f16c;
    }
    if (zmm_ok) {
        feats.avx512f = b & (1u << 16);
        feats.avx512bw = b & (1u << 30);
        feats.avx512vl = b & (1u << 31);
        feats.avx512vbmi = c & (1u << 1);
        feats.avx512vnni = c & (1u << 11);
    }
    __cpuid_count(7, 1, a, b, c, d);
    if (avx && ymm_ok)
        feats.avxvnni = a & (1u << 4);
}

const kern_cpu_features *
kern_cpu_get(void)
{
    pthread_once(&feats_once, detect);
    return &feats;
}

char *
kern_cpu_feature_string(char *buf, size_t size)
{
    const kern_cpu_features *f = kern_cpu_get();
    struct {
        bool on;
        const char *name;
    } list[] = {
        {f->sse42, "sse4.2"},
        {f->avx2, "avx2"},
        {f->fma, "fma"},
        {f->f16c, "f16c"},
        {f->avx512f, "avx512f"},
        {f->avx512bw, "avx512bw"},
        {f->avx512vl, "avx512vl"},
        {f->avx512vnni, "avx512vnni"},
        {f->avx512vbmi, "avx512vbmi"},
        {f->avxvnni, "avxvnni"},
    };
    size_t off = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on)
            continue;
        int n =
            snprintf(buf + off, size > off ? size - off : 0, "%s%s", off ? " " : "", list[i].name);
        if (n < 0 || (size_t)n >= size - off)
            break;
        off += (size_t)n;
    }
    return buf;
}

kern_isa
kern_isa_best(void)
{
    const kern_cpu_features *f = kern_cpu_get();
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx2 && f->fma && f->f16c)
        return KERN_ISA_AVX512;
    if (f->avx2 && f->fma && f->f16c)
        return KERN_ISA_AVX2;
    return KERN_ISA_SCALAR;
}

const char *
kern_isa_name(kern_isa isa)
{
    switch (isa) {
    case KERN_ISA_SCALAR: return "scalar";
    case KERN_ISA_AVX2: return "avx2";
    case KERN_ISA_AVX512: return "avx512";
    }
    return "?";
}

int
kern_isa_parse(const char *s)
{
    if (!strcmp(s, "scalar"))
        return KERN_ISA_SCALAR;
    if (!strcmp(s, "avx2"))
        return KERN_ISA_AVX2;
    if (!strcmp(s, "avx512"))
        return KERN_ISA_AVX512;
    return -1;
}

kern_isa
kern_isa_selected(void)
{
    kern_isa best = kern_isa_best();
    const char *env = getenv("ARIA_ISA");
    if (env && *env) {
        int want = kern_isa_parse(env);
        if (want >= 0 && (kern_isa)want < best)
            return (kern_isa)want;
    }
    return best;
}
