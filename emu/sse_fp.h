/* SSE floating point, bit-exact: single and double precision arithmetic,
 * comparisons and conversions with the x86 rules for MXCSR (rounding
 * control, DAZ, FTZ, the six exception flags), NaNs (first NaN operand
 * quieted, default NaN = negative QNaN) and denormals.
 *
 * Portable C.  + - * / sqrt and the integer/float conversions run on the
 * host's IEEE float and double under the guest's rounding mode (fenv.h),
 * which makes them exact; operands and results go through volatile
 * variables so the compiler can neither fold nor move them across
 * fesetround.  Everything x86-specific is done by hand: NaN operands and
 * results, DAZ, the denormal flag (DE), tininess after rounding (UE), FTZ.
 * Overflow, inexact, invalid-operation and divide-by-zero come from the
 * host's exception flags.
 *
 * An instruction collects flags in a pv_fp: `pre` the pre-computation
 * exceptions (IE DE ZE), `post` the post-computation ones (OE UE PE); the
 * caller (sse_fp.pxi) decides from the masks whether the result is written.
 */
#ifndef PV_SSE_FP_H
#define PV_SSE_FP_H

#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define PV_IE 0x01u
#define PV_DE 0x02u
#define PV_ZE 0x04u
#define PV_OE 0x08u
#define PV_UE 0x10u
#define PV_PE 0x20u
#define PV_DAZ 0x40u
#define PV_FTZ 0x8000u

typedef struct {
    uint32_t mxcsr;      /* the guest's MXCSR (rounding, DAZ, FTZ, masks) */
    uint32_t pre, post;  /* flags raised so far */
    int host_rc;         /* the host rounding mode to restore */
    int fast;            /* the arithmetic's fast path may be taken (PV_FAST) */
} pv_fp;

/* Clearing and testing the host's exception flags.  Where the compiler's
 * float and double arithmetic is SSE (x86-64), the flags are MXCSR's, and
 * clearing them there is some 20 times quicker than feclearexcept, which
 * also rewrites the x87 environment; elsewhere, fenv.h. */
#if defined(__SSE2_MATH__)
#include <xmmintrin.h>
static inline void pv_clear(void) { _mm_setcsr(_mm_getcsr() & ~0x3Fu); }
static inline int pv_test(void)
{
    unsigned m = _mm_getcsr();
    return (m & 0x01 ? FE_INVALID : 0) | (m & 0x04 ? FE_DIVBYZERO : 0)
           | (m & 0x08 ? FE_OVERFLOW : 0) | (m & 0x10 ? FE_UNDERFLOW : 0)
           | (m & 0x20 ? FE_INEXACT : 0);
}
#else
static inline void pv_clear(void) { feclearexcept(FE_ALL_EXCEPT); }
static inline int pv_test(void) { return fetestexcept(FE_ALL_EXCEPT); }
#endif

static const int pv_rc_host[4] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};

/* The fast path of the arithmetic (pv_s_arith, pv_d_arith) is taken when
 * MXCSR masks every exception and has PE set already (PE is sticky, so an
 * inexact result changes nothing), the instruction rounds to nearest, the
 * operands are zeros or normals and the result is a normal above the
 * smallest one: then
 * no flag can be raised (no NaN or infinity in or out: no IE, ZE, OE; no
 * denormal: no DE, DAZ or FTZ; not tiny: no UE) and the host's result,
 * computed in the guest's rounding mode (pv_fp_begin), is the answer. */
#define PV_FAST 0x1FA0u          /* MXCSR: the six masks and PE */

/* Start an instruction under rounding control rc (0-3).  Where the host's
 * arithmetic is SSE, its rounding control is MXCSR's (same encoding as the
 * guest's): when it already is rc, nothing is changed (host_rc -1), which
 * saves the fegetround/fesetround pair of every instruction. */
static inline void pv_fp_begin(pv_fp *f, uint32_t mxcsr, uint32_t rc)
{
    f->mxcsr = mxcsr;
    f->pre = f->post = 0;
    f->fast = (mxcsr & PV_FAST) == PV_FAST && (rc & 3) == 0;
#if defined(__SSE2_MATH__)
    if (((_mm_getcsr() >> 13) & 3) == (rc & 3)) {
        f->host_rc = -1;
        return;
    }
#endif
    f->host_rc = fegetround();
    if (pv_rc_host[rc & 3] != f->host_rc) fesetround(pv_rc_host[rc & 3]);
}

static inline void pv_fp_end(pv_fp *f)
{
    if (f->host_rc >= 0 && fegetround() != f->host_rc) fesetround(f->host_rc);
}

/* ---- bit patterns ---- */

static inline float pv_f32(uint32_t v) { float f; memcpy(&f, &v, 4); return f; }
static inline uint32_t pv_b32(float f) { uint32_t v; memcpy(&v, &f, 4); return v; }
static inline double pv_f64(uint64_t v) { double f; memcpy(&f, &v, 8); return f; }
static inline uint64_t pv_b64(double f) { uint64_t v; memcpy(&v, &f, 8); return v; }

#define S_SIGN 0x80000000u
#define S_EXP 0x7F800000u
#define S_FRAC 0x007FFFFFu
#define S_QUIET 0x00400000u
#define S_DEFNAN 0xFFC00000u
#define D_SIGN 0x8000000000000000ull
#define D_EXP 0x7FF0000000000000ull
#define D_FRAC 0x000FFFFFFFFFFFFFull
#define D_QUIET 0x0008000000000000ull
#define D_DEFNAN 0xFFF8000000000000ull
#define S_MIN 0x00800000u                /* the smallest normals */
#define D_MIN 0x0010000000000000ull

/* ---- the operations of one format, written once: PV_FORMAT(s, S, ...)
 * defines s_nan, s_in, pv_s_arith, pv_s_minmax, pv_s_cmp, pv_s_round ...
 * for singles, PV_FORMAT(d, D, ...) the same for doubles. ---- */

enum { PV_ADD = 0, PV_SUB = 1, PV_MUL = 2, PV_DIV = 3, PV_SQRT = 4 };

/* PE of a result that overflows or underflows with that exception unmasked:
 * x86 then reports whether the result rounded to the format's precision
 * (`bits`: 24 or 53) with an unbounded exponent is inexact.  op -1: a
 * conversion of x.  (A tiny sum or difference is always exact.) */
static inline int pv_wide_inexact(int op, double x, double y, int bits, int tiny)
{
    int ea, eb, e;
    double ma = frexp(x, &ea), mb = frexp(y, &eb);
    volatile double m, va, vb, vm;     /* volatile: no contraction into an fma */
    switch (op) {
    case PV_MUL:
        m = ma * mb;
        if (fma(ma, mb, -m) != 0) return 1;
        break;
    case PV_DIV:
        m = ma / mb;
        if (fma(m, mb, -ma) != 0) return 1;
        break;
    case PV_ADD:
    case PV_SUB:
        if (tiny) return 0;
        pv_clear();
        va = x * 0.5;
        vb = y * 0.5;
        vm = op == PV_ADD ? va + vb : va - vb;
        if (pv_test() & FE_INEXACT) return 1;
        m = vm;
        break;
    default:
        m = x;
    }
    double t = ldexp(frexp(m, &e), bits);
    return t != floor(t);
}

/* Collect the host's flags of one operation (IE ZE OE PE; UE is decided
 * by hand from tininess after rounding). */
static inline void pv_host_flags(pv_fp *f, int ex)
{
    if (ex & FE_INVALID) f->pre |= PV_IE;
    if (ex & FE_DIVBYZERO) f->pre |= PV_ZE;
    if (ex & FE_OVERFLOW) f->post |= PV_OE;
    if (ex & FE_INEXACT) f->post |= PV_PE;
}

/* CMPPS predicate 0-7 (EQ LT LE UNORD NEQ NLT NLE ORD); LT LE NLT NLE
 * signal IE on any NaN, the others only on an SNaN. */
static inline int pv_pred(int p, int c)
{
    switch (p & 7) {
    case 0: return c == 0;
    case 1: return c == -1;
    case 2: return c == -1 || c == 0;
    case 3: return c == 2;
    case 4: return c != 0;
    case 5: return c != -1;
    case 6: return c == 1 || c == 2;
    default: return c != 2;
    }
}

static inline int pv_pred_signals(int p) { p &= 3; return p == 1 || p == 2; }

#define PV_FORMAT(p, P, UT, FT, TOF, TOB, BITS, SQRT, RINT) \
static inline int p##_nan(UT a) { return (a & P##_EXP) == P##_EXP && (a & P##_FRAC); }         \
static inline int p##_snan(UT a) { return p##_nan(a) && !(a & P##_QUIET); }                    \
static inline int p##_denorm(UT a) { return !(a & P##_EXP) && (a & P##_FRAC); }                \
                                                                                               \
/* A source operand: DAZ turns denormals into zeros, else they raise DE. */                    \
static inline UT p##_in(pv_fp *f, UT a)                                                        \
{                                                                                              \
    if (p##_denorm(a)) {                                                                       \
        if (f->mxcsr & PV_DAZ) return a & P##_SIGN;                                            \
        f->pre |= PV_DE;                                                                       \
    }                                                                                          \
    return a;                                                                                  \
}                                                                                              \
                                                                                               \
/* DAZ only (instructions that do not report DE). */                                           \
static inline UT p##_daz(pv_fp *f, UT a)                                                       \
{                                                                                              \
    return (p##_denorm(a) && (f->mxcsr & PV_DAZ)) ? (a & P##_SIGN) : a;                        \
}                                                                                              \
                                                                                               \
/* The NaN result of an operation with a NaN operand: the first NaN,                           \
 * quieted; IE if either is signalling. */                                                     \
static inline UT p##_nan_result(pv_fp *f, UT a, UT b)                                          \
{                                                                                              \
    if (p##_snan(a) || p##_snan(b)) f->pre |= PV_IE;                                           \
    return (p##_nan(a) ? a : b) | P##_QUIET;                                                   \
}                                                                                              \
                                                                                               \
static inline FT p##_host(int op, FT x, FT y)                                                  \
{                                                                                              \
    volatile FT a = x, b = y, r;                                                               \
    switch (op) {                                                                              \
    case PV_ADD: r = a + b; break;                                                             \
    case PV_SUB: r = a - b; break;                                                             \
    case PV_MUL: r = a * b; break;                                                             \
    case PV_DIV: r = a / b; break;                                                             \
    default: r = SQRT(a); break;                                                               \
    }                                                                                          \
    return r;                                                                                  \
}                                                                                              \
                                                                                               \
/* Is a result that rounded to +-the smallest normal tiny?  x86 detects     \
 * tininess after rounding (SDM Vol. 1 4.9.1.5, 11.5.2.5): the result       \
 * rounded to the format's precision with an unbounded exponent is below     \
 * the smallest normal.  The operation on the operands' significands        \
 * (frexp: exact; the result in the normal range) rounds in the current     \
 * mode as that would.  A sum or difference is never tiny here: an exact    \
 * one below the smallest normal is a representable denormal. */             \
static inline int p##_tiny_after(int op, FT a, FT b)                                           \
{                                                                                              \
    int ea, eb, e, emin;                                                                       \
    volatile FT ma = (FT)frexp(a, &ea), mb = (FT)frexp(b, &eb), m;                             \
    if (op == PV_MUL) { m = ma * mb; e = ea + eb; }                                            \
    else if (op == PV_DIV) { m = ma / mb; e = ea - eb; }                                       \
    else return 0;                                                                             \
    frexp(TOF(P##_MIN), &emin);                                                                \
    frexp(m, &ea);                                                                             \
    return ea + e < emin;                                                                      \
}                                                                                              \
                                                                                               \
/* Tiny results: underflow (a denormal or inexact zero result, or one that                     \
 * rounded to the smallest normal but is tiny after rounding), FTZ.                            \
 * pe_other: the PE of the other lanes. */                                                     \
static inline UT p##_tiny(pv_fp *f, int op, FT a, FT b, UT r, int inexact, uint32_t pe_other)  \
{                                                                                              \
    if ((r & P##_EXP) ? !p##_tiny_after(op, a, b) : (!inexact && !(r & ~P##_SIGN)))            \
        return r;                                  /* not tiny (or exactly zero) */            \
    if (f->mxcsr & (PV_UE << 7)) {                 /* masked underflow */                      \
        if (f->mxcsr & PV_FTZ) {                                                               \
            f->post |= PV_UE | PV_PE;                                                          \
            return r & P##_SIGN;                                                               \
        }                                                                                      \
        if (inexact) f->post |= PV_UE;                                                         \
    } else {                                                                                   \
        f->post = (f->post & ~PV_PE) | PV_UE | pe_other                                        \
                  | (pv_wide_inexact(op, a, b, BITS, 1) ? PV_PE : 0);                          \
    }                                                                                          \
    return r;                                                                                  \
}                                                                                              \
                                                                                               \
/* A zero or a normal (not a denormal, infinity or NaN). */                                    \
static inline int p##_plain(UT a)                                                              \
{                                                                                              \
    UT e = a & P##_EXP;                                                                        \
    return e != P##_EXP && (e || !(a & P##_FRAC));                                             \
}                                                                                              \
                                                                                               \
/* a op b (b ignored by sqrt).  A denormal operand raises DE unless the                        \
 * operation is invalid or divides by zero. */                                                 \
static __attribute__((noinline)) UT p##_arith_full(pv_fp *f, int op, UT a, UT b)               \
{                                                                                              \
    pv_fp g = *f;                                                                              \
    uint32_t pe_before = f->post & PV_PE;          /* other lanes' PE */                       \
    if (op == PV_SQRT) a = b;                      /* SQRTSS/PS: the source operand */         \
    if (p##_nan(a) || (op != PV_SQRT && p##_nan(b)))                                           \
        return op == PV_SQRT ? p##_nan_result(f, a, a) : p##_nan_result(f, a, b);              \
    g.pre = 0;                                                                                 \
    a = p##_in(&g, a);                                                                         \
    if (op != PV_SQRT) b = p##_in(&g, b);                                                      \
    pv_clear();                                                                                \
    FT x = TOF(a), y = TOF(b);                                                                 \
    UT r = TOB(p##_host(op, x, y));                                                            \
    int ex = pv_test();                                                                         \
    if (!(ex & (FE_INVALID | FE_DIVBYZERO))) f->pre |= g.pre;                                  \
    if ((ex & FE_OVERFLOW) && !(f->mxcsr & (PV_OE << 7))) {                                    \
        ex &= ~FE_INEXACT;                                                                     \
        if (pv_wide_inexact(op, x, y, BITS, 0)) f->post |= PV_PE;                              \
    }                                                                                          \
    pv_host_flags(f, ex);                                                                      \
    if (p##_nan(r)) return P##_DEFNAN;             /* an invalid operation */                  \
    /* maybe tiny: a denormal or zero result, or the smallest normal */                        \
    if (((r & P##_EXP) == 0 || (r & ~P##_SIGN) == P##_MIN) && !(ex & FE_DIVBYZERO))            \
        r = p##_tiny(f, op, x, y, r, (ex & FE_INEXACT) != 0, pe_before);                       \
    return r;                                                                                  \
}                                                                                              \
                                                                                               \
/* The same, trying the fast path (see PV_FAST) first: small enough to be                       \
 * inlined into the handlers, where the full function's frame would cost                       \
 * more than the operation. */                                                                 \
static inline UT pv_##p##_arith(pv_fp *f, int op, UT a, UT b)                                  \
{                                                                                              \
    if (f->fast && p##_plain(b) && (op == PV_SQRT || p##_plain(a))) {                          \
        UT r = TOB(p##_host(op, TOF(op == PV_SQRT ? b : a), TOF(b)));                          \
        UT e = r & P##_EXP;                                                                    \
        if (e && e != P##_EXP && (r & ~P##_SIGN) != P##_MIN) return r;                         \
    }                                                                                          \
    return p##_arith_full(f, op, a, b);                                                        \
}                                                                                              \
                                                                                               \
/* -1 a < b, 0 equal, 1 a > b, 2 unordered (zeros are equal). */                               \
static inline int p##_cmp(UT a, UT b)                                                          \
{                                                                                              \
    if (p##_nan(a) || p##_nan(b)) return 2;                                                    \
    FT x = TOF(a), y = TOF(b);                                                                 \
    return x < y ? -1 : (x > y ? 1 : 0);                                                       \
}                                                                                              \
                                                                                               \
/* MIN/MAX: DAZ first; then the second operand when either is a NaN (IE)                       \
 * or both are zero. */                                                                        \
static inline UT pv_##p##_minmax(pv_fp *f, int max, UT a, UT b)                                \
{                                                                                              \
    a = p##_daz(f, a);                                                                         \
    b = p##_daz(f, b);                                                                         \
    if (p##_nan(a) || p##_nan(b)) { f->pre |= PV_IE; return b; }                               \
    a = p##_in(f, a);                                                                          \
    b = p##_in(f, b);                                                                          \
    int c = p##_cmp(a, b);                                                                     \
    return (max ? c > 0 : c < 0) ? a : b;                                                      \
}                                                                                              \
                                                                                               \
/* The relation of a and b (as p_cmp): IE on an SNaN, or on any NaN when                       \
 * `signal`; DE (or DAZ) for denormal operands of an ordered pair. */                          \
static inline int pv_##p##_rel(pv_fp *f, int signal, UT a, UT b)                               \
{                                                                                              \
    if (p##_snan(a) || p##_snan(b) || (signal && (p##_nan(a) || p##_nan(b)))) f->pre |= PV_IE; \
    if (p##_nan(a) || p##_nan(b)) return 2;                                                    \
    a = p##_in(f, a);                                                                          \
    b = p##_in(f, b);                                                                          \
    return p##_cmp(a, b);                                                                      \
}                                                                                              \
                                                                                               \
static inline int pv_##p##_cmp(pv_fp *f, int pred, UT a, UT b)                                 \
{                                                                                              \
    return pv_pred(pred, pv_##p##_rel(f, pv_pred_signals(pred), a, b));                        \
}                                                                                              \
                                                                                               \
/* ROUNDSS/SD/PS/PD: to an integral value in the current mode; SNaN -> IE                      \
 * (quieted); PE unless suppressed. */                                                         \
static inline UT pv_##p##_round(pv_fp *f, UT a, int no_pe)                                     \
{                                                                                              \
    if (p##_nan(a)) return p##_nan_result(f, a, a);                                            \
    a = p##_daz(f, a);                                                                         \
    volatile FT x = TOF(a), r;                                                                 \
    r = RINT(x);                                                                               \
    if (r != x && !no_pe) f->post |= PV_PE;                                                    \
    return TOB(r) | (a & P##_SIGN);                /* -0.4 -> -0 */                            \
}                                                                                              \

PV_FORMAT(s, S, uint32_t, float, pv_f32, pv_b32, 24, sqrtf, nearbyintf)
PV_FORMAT(d, D, uint64_t, double, pv_f64, pv_b64, 53, sqrt, nearbyint)

/* ---- the fast path of the specialized handlers (sse_fast.pxi) ----
 * pv_fast_ok: the guest's MXCSR allows the fast path (PV_FAST, round to
 * nearest) and the host computes in round to nearest without DAZ or FTZ
 * (as it does between instructions: pv_fp_end restores its mode).
 * pv_fast_arith: d = d op s in the lanes of `shape` (0 PS, 1 PD, 2 SS, 3 SD;
 * scalar shapes keep d's other lanes and read only s's low lane) when no
 * operand lane is a denormal and every result lane is a normal above the
 * smallest or an exact zero (a sum or difference, a product with a zero
 * factor, a zero dividend, the root of a zero): see PV_FAST, then no flag
 * can be raised and the host's result is exact.  Else 0, d unchanged, and
 * the caller runs the full instruction.  An infinite or NaN operand needs
 * no test of its own: no such lane has a normal result, nor an exact zero
 * one but 0 / inf, which raises nothing.  The tests are the host's packed
 * compares: NaNs compare false, denormals below the smallest normal (no
 * host DAZ). */
#if defined(__SSE2_MATH__)
#include <emmintrin.h>
#include <float.h>

static inline int pv_fast_ok(uint32_t mxcsr)
{
    return (mxcsr & (PV_FAST | 0x6000u)) == PV_FAST && (_mm_getcsr() & 0xE040u) == 0;
}

#define PV_FAST_SHAPE(T, V, CAST, ABS, MIN, MAX, LOAD, LOADS, STORE, STORES)                 \
static inline int pv_fast_##T(int op, int scalar, void *d, const void *s, int lanes)       \
{                                                                                          \
    V x = scalar ? LOADS(d) : LOAD(d), y = scalar ? LOADS(s) : LOAD(s), z;                 \
    const V abs = CAST(ABS), mn = MIN, mx = MAX, zero = _mm_setzero_##T();                 \
    switch (op) {                                                                          \
    case PV_ADD: z = _mm_add_##T(x, y); break;                                             \
    case PV_SUB: z = _mm_sub_##T(x, y); break;                                             \
    case PV_MUL: z = _mm_mul_##T(x, y); break;                                             \
    case PV_DIV: z = _mm_div_##T(x, y); break;                                             \
    default: z = _mm_sqrt_##T(y); break;                                                   \
    }                                                                                      \
    V ax = _mm_and_##T(x, abs), ay = _mm_and_##T(y, abs), az = _mm_and_##T(z, abs);        \
    /* operands: no denormal (an infinity or NaN gives no normal result) */               \
    V opok = _mm_or_##T(_mm_cmpge_##T(ay, mn), _mm_cmpeq_##T(ay, zero)), exact0;           \
    if (op != PV_SQRT)                                                                     \
        opok = _mm_and_##T(opok, _mm_or_##T(_mm_cmpge_##T(ax, mn), _mm_cmpeq_##T(ax, zero))); \
    V res = _mm_and_##T(_mm_cmpgt_##T(az, mn), _mm_cmple_##T(az, mx));                     \
    if ((_mm_movemask_##T(_mm_and_##T(res, opok)) & lanes) != lanes) {                     \
        switch (op) {              /* the lanes whose zero result is exact (no UE, PE) */  \
        case PV_ADD: case PV_SUB: exact0 = _mm_cmpeq_##T(zero, zero); break;               \
        case PV_MUL: exact0 = _mm_or_##T(_mm_cmpeq_##T(ax, zero), _mm_cmpeq_##T(ay, zero)); break; \
        case PV_DIV: exact0 = _mm_cmpeq_##T(ax, zero); break;                             \
        default: exact0 = _mm_cmpeq_##T(ay, zero); break;                                 \
        }                                                                                  \
        res = _mm_or_##T(res, _mm_and_##T(_mm_cmpeq_##T(az, zero), exact0));               \
        if ((_mm_movemask_##T(_mm_and_##T(res, opok)) & lanes) != lanes) return 0;         \
    }                                                                                      \
    if (scalar) STORES(d, z); else STORE(d, z);                                            \
    return 1;                                                                              \
}

static inline __m128 pv_ld_ss(const void *p) { float f; memcpy(&f, p, 4); return _mm_set_ss(f); }
static inline __m128d pv_ld_sd(const void *p) { double f; memcpy(&f, p, 8); return _mm_set_sd(f); }
static inline __m128 pv_ld_ps(const void *p) { return _mm_loadu_ps((const float *)p); }
static inline __m128d pv_ld_pd(const void *p) { return _mm_loadu_pd((const double *)p); }
static inline void pv_st_ss(void *p, __m128 v) { float f = _mm_cvtss_f32(v); memcpy(p, &f, 4); }
static inline void pv_st_sd(void *p, __m128d v) { double f = _mm_cvtsd_f64(v); memcpy(p, &f, 8); }
static inline void pv_st_ps(void *p, __m128 v) { _mm_storeu_ps((float *)p, v); }
static inline void pv_st_pd(void *p, __m128d v) { _mm_storeu_pd((double *)p, v); }

PV_FAST_SHAPE(ps, __m128, _mm_castsi128_ps, _mm_set1_epi32(0x7FFFFFFF), _mm_set1_ps(FLT_MIN),
              _mm_set1_ps(FLT_MAX), pv_ld_ps, pv_ld_ss, pv_st_ps, pv_st_ss)
PV_FAST_SHAPE(pd, __m128d, _mm_castsi128_pd, _mm_set1_epi64x(0x7FFFFFFFFFFFFFFFll),
              _mm_set1_pd(DBL_MIN), _mm_set1_pd(DBL_MAX), pv_ld_pd, pv_ld_sd, pv_st_pd, pv_st_sd)

static inline int pv_fast_arith(int op, int shape, void *d, const void *s)
{
    switch (shape) {
    case 0: return pv_fast_ps(op, 0, d, s, 0xF);
    case 1: return pv_fast_pd(op, 0, d, s, 0x3);
    case 2: return pv_fast_ps(op, 1, d, s, 0x1);
    default: return pv_fast_pd(op, 1, d, s, 0x1);
    }
}

/* CVTSD2SS (to_single) / CVTSS2SD of the low lane of s into d's low lane
 * when the source is a zero or a normal and, narrowing, the result a normal
 * above the smallest single (then exact but for PE, which the fast path has
 * set already; widening is always exact).  Else 0, d unchanged. */
static inline int pv_fast_cvt(int to_single, void *d, const void *s)
{
    if (to_single) {
        double x;
        memcpy(&x, s, 8);
        float r = (float)x, ar = fabsf(r);
        double ax = fabs(x);
        if (!(ax == 0 || (ax >= DBL_MIN && ar > FLT_MIN && ar <= FLT_MAX))) return 0;
        memcpy(d, &r, 4);
    } else {
        float x;
        memcpy(&x, s, 4);
        float ax = fabsf(x);
        if (!(ax == 0 || (ax >= FLT_MIN && ax <= FLT_MAX))) return 0;
        double r = x;
        memcpy(d, &r, 8);
    }
    return 1;
}

/* CVTSI2SS/SD of an integer: the host's conversion, exact in the guest's
 * rounding to nearest (an int32 to a double is always exact). */
static inline void pv_fast_i2f(int dbl, int64_t x, void *d)
{
    if (dbl) { double r = (double)x; memcpy(d, &r, 8); }
    else { float r = (float)x; memcpy(d, &r, 4); }
}
#else
static inline int pv_fast_ok(uint32_t mxcsr) { (void)mxcsr; return 0; }   /* x87 host: full path */
static inline int pv_fast_arith(int op, int shape, void *d, const void *s)
{
    (void)op; (void)shape; (void)d; (void)s;
    return 0;
}
static inline int pv_fast_cvt(int to_single, void *d, const void *s)
{
    (void)to_single; (void)d; (void)s;
    return 0;
}
static inline void pv_fast_i2f(int dbl, int64_t x, void *d) { (void)dbl; (void)x; (void)d; }
#endif

/* ---- conversions ---- */

static inline uint64_t pv_s_to_d(pv_fp *f, uint32_t a)
{
    if (s_nan(a)) {
        if (s_snan(a)) f->pre |= PV_IE;
        return ((uint64_t)(a & S_SIGN) << 32) | D_EXP | D_QUIET | ((uint64_t)(a & S_FRAC) << 29);
    }
    a = s_in(f, a);
    return pv_b64((double)pv_f32(a));
}

/* A single widened for a conversion to an integer: exact, NaNs stay NaNs
 * (the conversion reports IE), DAZ applies, no DE. */
static inline uint64_t pv_s_widen(pv_fp *f, uint32_t a)
{
    if (s_nan(a)) return D_EXP | 1;
    a = s_daz(f, a);
    return pv_b64((double)pv_f32(a));
}

static inline uint32_t pv_d_to_s(pv_fp *f, uint64_t a)
{
    if (d_nan(a)) {
        if (d_snan(a)) f->pre |= PV_IE;
        return (uint32_t)((a & D_SIGN) >> 32) | S_EXP | S_QUIET | (uint32_t)((a & D_FRAC) >> 29);
    }
    a = d_in(f, a);
    pv_clear();
    volatile double x = pv_f64(a);
    volatile float r = (float)x;
    int ex = pv_test();
    uint32_t pe_before = f->post & PV_PE;
    if ((ex & FE_OVERFLOW) && !(f->mxcsr & (PV_OE << 7))) {
        ex &= ~FE_INEXACT;
        if (pv_wide_inexact(-1, x, 0, 24, 0)) f->post |= PV_PE;
    }
    pv_host_flags(f, ex);
    uint32_t v = pv_b32(r);
    /* tiny after rounding (see s_tiny_after): a denormal or zero result of
     * a nonzero x, or the smallest normal when x's significand rounded to
     * 24 bits leaves x below it */
    int tiny = x != 0 && (v & S_EXP) == 0;
    if ((v & ~S_SIGN) == S_MIN) {
        int e, em, emin;
        volatile float m = (float)frexp(x, &e);
        frexp(pv_f32(S_MIN), &emin);
        frexp(m, &em);
        tiny = em + e < emin;
    }
    if (tiny) {
        if (f->mxcsr & (PV_UE << 7)) {
            if (f->mxcsr & PV_FTZ) { f->post |= PV_UE | PV_PE; return v & S_SIGN; }
            if (ex & FE_INEXACT) f->post |= PV_UE;
        } else {
            f->post = (f->post & ~PV_PE) | pe_before | PV_UE
                      | (pv_wide_inexact(-1, x, 0, 24, 1) ? PV_PE : 0);
        }
    }
    return v;
}

/* A signed integer to a single (dbl 0) or a double (dbl 1), as bits. */
static inline uint64_t pv_i_to_f(pv_fp *f, int64_t a, int dbl)
{
    volatile int64_t x = a;
    volatile float rs;
    volatile double rd;
    pv_clear();
    if (dbl) rd = (double)x;
    else rs = (float)x;
    pv_host_flags(f, pv_test());
    return dbl ? pv_b64(rd) : pv_b32(rs);
}

/* A double to a signed integer of `bits` (32 or 64), rounded by the
 * current mode or truncated; NaN or out of range: the integer indefinite
 * and IE.  (Singles are widened first: exact.) */
static inline int64_t pv_d_to_i(pv_fp *f, uint64_t a, int bits, int trunc)
{
    int64_t indef = (int64_t)((uint64_t)1 << (bits - 1));
    if (bits == 32) indef = (int64_t)(int32_t)0x80000000u;
    if (d_nan(a)) { f->pre |= PV_IE; return indef; }
    a = d_daz(f, a);
    volatile double x = pv_f64(a), r;
    r = trunc ? (double)(x < 0 ? ceil(x) : floor(x)) : nearbyint(x);
    double lim = bits == 32 ? 0x1p31 : 0x1p63;
    if (!(r >= -lim && r < lim)) { f->pre |= PV_IE; return indef; }
    if (r != x) f->post |= PV_PE;
    return (int64_t)r;
}

/* RCPSS/RSQRTSS: an approximation with relative error <= 1.5 * 2^-12, as
 * the SDM allows: the exact reciprocal (square root) rounded to 12 bits of
 * significand.  Denormal inputs count as zeros, tiny results flush to zero,
 * no flags, a NaN input returns it quieted. */
static inline uint32_t pv_s_rcp(uint32_t a, int rsqrt)
{
    if (s_nan(a)) return a | S_QUIET;
    if (s_denorm(a)) a &= S_SIGN;
    if (!(a & ~S_SIGN)) return (a & S_SIGN) | S_EXP;            /* 1/±0 = ±inf */
    if (rsqrt && (a & S_SIGN)) return S_DEFNAN;
    if ((a & ~S_SIGN) == S_EXP) return a & S_SIGN;              /* 1/±inf = ±0 */
    /* RCP of |x| >= 2^126: the SDM guarantees a tiny result, flushed to
     * zero, from 1.0 * 2^126 up (1/x <= 2^-126 whose rounding could give
     * the smallest normal) */
    if (!rsqrt && (a & ~S_SIGN) >= 0x7E800000u) return a & S_SIGN;
    double x = pv_f32(a);
    double r = rsqrt ? 1.0 / sqrt(x) : 1.0 / x;
    uint64_t b = pv_b64(r);
    b = (b + (1ull << 40)) & ~((1ull << 41) - 1);                /* 11 fraction bits */
    uint32_t v = pv_b32((float)pv_f64(b));
    if (!(v & S_EXP)) v &= S_SIGN;
    return v;
}

#endif
