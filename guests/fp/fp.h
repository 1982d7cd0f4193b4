/*
 * Common definitions of the floating-point and SIMD programs (guests/fp,
 * README.md), on top of the integer suite's bench.h (mix, xorshift32).
 *
 * Every program defines `u32 workload(u32 rounds)` like the integer suite,
 * but its checksum folds the exact bit patterns of floating-point results:
 * a result that differs in its last bit changes the checksum.  Besides, each
 * program records a few results of its last round in fp_out[] (fprt.c), as
 * raw bit patterns: the tests read them from guest memory and compare them,
 * printed in hex, with the native program's.
 *
 * No libm and no libgcc: square roots are fp_sqrt (one SQRTSD or FSQRT),
 * everything else is + - * / and
 * comparisons, so the same C gives the same bits natively and in the guest
 * when built with the same code-generation flags (-fexcess-precision=standard
 * makes the x87 builds round where the C says, not where registers spill).
 */
#ifndef PVEMU_FP_H
#define PVEMU_FP_H

#include "bench.h"

typedef unsigned long long u64;

#define FP_OUT_MAX 8

/* The last round's recorded results (raw bits) and how many there are. */
extern u64 fp_out[FP_OUT_MAX];
extern u32 fp_out_count;

static inline u64 double_bits(double d)
{
    union { double d; u64 u; } v;
    v.d = d;
    return v.u;
}

static inline u32 float_bits(float f)
{
    union { float f; u32 u; } v;
    v.f = f;
    return v.u;
}

/*
 * Square root without a libm call: SQRTSD with SSE math; with x87 math an
 * FSQRT on the extended value, rounded to double by the cast (gcc inlines
 * FSQRT only for long double when -fexcess-precision=standard).
 */
#ifdef __SSE2_MATH__
#define fp_sqrt(x) __builtin_sqrt(x)
#else
#define fp_sqrt(x) ((double)__builtin_sqrtl(x))
#endif

static inline u32 mix_double(u32 h, double d)
{
    u64 u = double_bits(d);
    return mix(mix(h, (u32)u), (u32)(u >> 32));
}

static inline u32 mix_float(u32 h, float f)
{
    return mix(h, float_bits(f));
}

/* Record result `i` of this round (the last round's stay in fp_out). */
static inline void fp_record(u32 i, u64 bits)
{
    fp_out[i] = bits;
    if (fp_out_count <= i)
        fp_out_count = i + 1;
}

/* A double in [-1, 1) from 32 random bits (exact: the integer fits). */
static inline double rand_unit(u32 *s)
{
    return (double)(int)xorshift32(s) * (1.0 / 2147483648.0);
}

/*
 * The FPU and SSE control state every run starts from: FNINIT (extended
 * precision, round to nearest, exceptions masked) and the default MXCSR, so
 * that the guest (whatever state its machine starts in) and the native
 * process compute in the same modes.
 */
static inline void fp_init(void)
{
    __asm__ volatile("fninit");
#ifdef __SSE__
    {
        u32 mxcsr = 0x1F80;
        __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    }
#endif
    fp_out_count = 0;
}

#endif
