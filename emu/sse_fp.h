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
 * results, DAZ, the denormal flag (DE), tininess before rounding (UE), FTZ.
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
} pv_fp;

static const int pv_rc_host[4] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};

/* Start an instruction under rounding control rc (0-3). */
static inline void pv_fp_begin(pv_fp *f, uint32_t mxcsr, uint32_t rc)
{
    f->mxcsr = mxcsr;
    f->pre = f->post = 0;
    f->host_rc = fegetround();
    if (pv_rc_host[rc & 3] != f->host_rc) fesetround(pv_rc_host[rc & 3]);
}

static inline void pv_fp_end(pv_fp *f)
{
    if (fegetround() != f->host_rc) fesetround(f->host_rc);
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

static inline int s_nan(uint32_t a) { return (a & S_EXP) == S_EXP && (a & S_FRAC); }
static inline int s_snan(uint32_t a) { return s_nan(a) && !(a & S_QUIET); }
static inline int s_denorm(uint32_t a) { return !(a & S_EXP) && (a & S_FRAC); }
static inline int d_nan(uint64_t a) { return (a & D_EXP) == D_EXP && (a & D_FRAC); }
static inline int d_snan(uint64_t a) { return d_nan(a) && !(a & D_QUIET); }
static inline int d_denorm(uint64_t a) { return !(a & D_EXP) && (a & D_FRAC); }

/* A source operand: DAZ turns denormals into zeros, else they raise DE. */
static inline uint32_t s_in(pv_fp *f, uint32_t a)
{
    if (s_denorm(a)) {
        if (f->mxcsr & PV_DAZ) return a & S_SIGN;
        f->pre |= PV_DE;
    }
    return a;
}

static inline uint64_t d_in(pv_fp *f, uint64_t a)
{
    if (d_denorm(a)) {
        if (f->mxcsr & PV_DAZ) return a & D_SIGN;
        f->pre |= PV_DE;
    }
    return a;
}

/* DAZ only (instructions that do not report DE). */
static inline uint32_t s_daz(pv_fp *f, uint32_t a)
{
    return (s_denorm(a) && (f->mxcsr & PV_DAZ)) ? (a & S_SIGN) : a;
}

static inline uint64_t d_daz(pv_fp *f, uint64_t a)
{
    return (d_denorm(a) && (f->mxcsr & PV_DAZ)) ? (a & D_SIGN) : a;
}

/* The NaN result of an operation with a NaN operand: the first NaN,
 * quieted; IE if either is signalling. */
static inline uint32_t s_nan_result(pv_fp *f, uint32_t a, uint32_t b)
{
    if (s_snan(a) || s_snan(b)) f->pre |= PV_IE;
    return (s_nan(a) ? a : b) | S_QUIET;
}

static inline uint64_t d_nan_result(pv_fp *f, uint64_t a, uint64_t b)
{
    if (d_snan(a) || d_snan(b)) f->pre |= PV_IE;
    return (d_nan(a) ? a : b) | D_QUIET;
}

enum { PV_ADD = 0, PV_SUB = 1, PV_MUL = 2, PV_DIV = 3, PV_SQRT = 4 };

static inline float s_host(int op, float x, float y)
{
    volatile float a = x, b = y, r;
    switch (op) {
    case PV_ADD: r = a + b; break;
    case PV_SUB: r = a - b; break;
    case PV_MUL: r = a * b; break;
    case PV_DIV: r = a / b; break;
    default: r = sqrtf(a); break;
    }
    return r;
}

static inline double d_host(int op, double x, double y)
{
    volatile double a = x, b = y, r;
    switch (op) {
    case PV_ADD: r = a + b; break;
    case PV_SUB: r = a - b; break;
    case PV_MUL: r = a * b; break;
    case PV_DIV: r = a / b; break;
    default: r = sqrt(a); break;
    }
    return r;
}

/* PE of a result that overflows or underflows with that exception unmasked:
 * x86 then reports whether the result rounded to the format's precision
 * (`bits`: 24 or 53) with an unbounded exponent is inexact.  op -1: a
 * conversion of x.  (A tiny sum or difference is always exact.) */
static inline int pv_wide_inexact(int op, double x, double y, int bits, int tiny)
{
    int ea, eb, e;
    double ma = frexp(x, &ea), mb = frexp(y, &eb), m;
    volatile double va, vb, vm;
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
        feclearexcept(FE_INEXACT);
        va = x * 0.5;
        vb = y * 0.5;
        vm = op == PV_ADD ? va + vb : va - vb;
        if (fetestexcept(FE_INEXACT)) return 1;
        m = vm;
        break;
    default:
        m = x;
    }
    double t = ldexp(frexp(m, &e), bits);
    return t != floor(t);
}

/* Collect the host's flags of one operation (IE ZE OE PE; UE is decided
 * by hand from tininess before rounding). */
static inline void pv_host_flags(pv_fp *f, int ex)
{
    if (ex & FE_INVALID) f->pre |= PV_IE;
    if (ex & FE_DIVBYZERO) f->pre |= PV_ZE;
    if (ex & FE_OVERFLOW) f->post |= PV_OE;
    if (ex & FE_INEXACT) f->post |= PV_PE;
}

/* Tiny results: underflow (tininess before rounding: the result truncated
 * toward zero is below the smallest normal), FTZ. */
static inline uint32_t s_tiny(pv_fp *f, int op, float a, float b, uint32_t r, int inexact,
                              uint32_t pe_other)
{
    int rc = fegetround();
    fesetround(FE_TOWARDZERO);
    uint32_t t = pv_b32(s_host(op, a, b));
    fesetround(rc);
    if ((t & ~S_SIGN) >= 0x00800000u || (!inexact && !(r & ~S_SIGN)))
        return r;                                  /* not tiny (or exactly zero) */
    if (f->mxcsr & (PV_UE << 7)) {                 /* masked underflow */
        if (f->mxcsr & PV_FTZ) {
            f->post |= PV_UE | PV_PE;
            return r & S_SIGN;
        }
        if (inexact) f->post |= PV_UE;
    } else {
        f->post = (f->post & ~PV_PE) | PV_UE | (pv_wide_inexact(op, a, b, 24, 1) ? PV_PE : 0) | pe_other;
    }
    return r;
}

static inline uint64_t d_tiny(pv_fp *f, int op, double a, double b, uint64_t r, int inexact,
                              uint32_t pe_other)
{
    int rc = fegetround();
    fesetround(FE_TOWARDZERO);
    uint64_t t = pv_b64(d_host(op, a, b));
    fesetround(rc);
    if ((t & ~D_SIGN) >= 0x0010000000000000ull || (!inexact && !(r & ~D_SIGN)))
        return r;
    if (f->mxcsr & (PV_UE << 7)) {
        if (f->mxcsr & PV_FTZ) {
            f->post |= PV_UE | PV_PE;
            return r & D_SIGN;
        }
        if (inexact) f->post |= PV_UE;
    } else {
        f->post = (f->post & ~PV_PE) | PV_UE | (pv_wide_inexact(op, a, b, 53, 1) ? PV_PE : 0) | pe_other;
    }
    return r;
}

/* a op b (b ignored by sqrt), single precision.  A denormal operand
 * raises DE unless the operation is invalid or divides by zero. */
static inline uint32_t pv_s_arith(pv_fp *f, int op, uint32_t a, uint32_t b)
{
    pv_fp g = *f;
    uint32_t pe_before = f->post & PV_PE;          /* other lanes' PE */
    if (op == PV_SQRT) a = b;                      /* SQRTSS/PS: the source operand */
    if (s_nan(a) || (op != PV_SQRT && s_nan(b)))
        return op == PV_SQRT ? s_nan_result(f, a, a) : s_nan_result(f, a, b);
    g.pre = 0;
    a = s_in(&g, a);
    if (op != PV_SQRT) b = s_in(&g, b);
    feclearexcept(FE_ALL_EXCEPT);
    float x = pv_f32(a), y = pv_f32(b);
    uint32_t r = pv_b32(s_host(op, x, y));
    int ex = fetestexcept(FE_ALL_EXCEPT);
    if (!(ex & (FE_INVALID | FE_DIVBYZERO))) f->pre |= g.pre;
    if ((ex & FE_OVERFLOW) && !(f->mxcsr & (PV_OE << 7))) {
        ex &= ~FE_INEXACT;
        if (pv_wide_inexact(op, x, y, 24, 0)) f->post |= PV_PE;
    }
    pv_host_flags(f, ex);
    if (s_nan(r)) return S_DEFNAN;                 /* an invalid operation */
    if ((r & S_EXP) == 0 && !(ex & FE_DIVBYZERO))
        r = s_tiny(f, op, x, y, r, (ex & FE_INEXACT) != 0, pe_before);
    return r;
}

static inline uint64_t pv_d_arith(pv_fp *f, int op, uint64_t a, uint64_t b)
{
    pv_fp g = *f;
    uint32_t pe_before = f->post & PV_PE;
    if (op == PV_SQRT) a = b;
    if (d_nan(a) || (op != PV_SQRT && d_nan(b)))
        return op == PV_SQRT ? d_nan_result(f, a, a) : d_nan_result(f, a, b);
    g.pre = 0;
    a = d_in(&g, a);
    if (op != PV_SQRT) b = d_in(&g, b);
    feclearexcept(FE_ALL_EXCEPT);
    double x = pv_f64(a), y = pv_f64(b);
    uint64_t r = pv_b64(d_host(op, x, y));
    int ex = fetestexcept(FE_ALL_EXCEPT);
    if (!(ex & (FE_INVALID | FE_DIVBYZERO))) f->pre |= g.pre;
    if ((ex & FE_OVERFLOW) && !(f->mxcsr & (PV_OE << 7))) {
        ex &= ~FE_INEXACT;
        if (pv_wide_inexact(op, x, y, 53, 0)) f->post |= PV_PE;
    }
    pv_host_flags(f, ex);
    if (d_nan(r)) return D_DEFNAN;
    if ((r & D_EXP) == 0 && !(ex & FE_DIVBYZERO))
        r = d_tiny(f, op, x, y, r, (ex & FE_INEXACT) != 0, pe_before);
    return r;
}

/* ---- comparisons ---- */

/* -1 a < b, 0 equal, 1 a > b, 2 unordered (after DAZ; zeros are equal). */
static inline int s_cmp(uint32_t a, uint32_t b)
{
    if (s_nan(a) || s_nan(b)) return 2;
    float x = pv_f32(a), y = pv_f32(b);
    return x < y ? -1 : (x > y ? 1 : 0);
}

static inline int d_cmp(uint64_t a, uint64_t b)
{
    if (d_nan(a) || d_nan(b)) return 2;
    double x = pv_f64(a), y = pv_f64(b);
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* MIN/MAX: the second operand when either is a NaN (IE) or both are zero. */
static inline uint32_t pv_s_minmax(pv_fp *f, int max, uint32_t a, uint32_t b)
{
    a = s_daz(f, a);
    b = s_daz(f, b);
    if (s_nan(a) || s_nan(b)) { f->pre |= PV_IE; return b; }
    a = s_in(f, a);
    b = s_in(f, b);
    int c = s_cmp(a, b);
    return (max ? c > 0 : c < 0) ? a : b;
}

static inline uint64_t pv_d_minmax(pv_fp *f, int max, uint64_t a, uint64_t b)
{
    a = d_daz(f, a);
    b = d_daz(f, b);
    if (d_nan(a) || d_nan(b)) { f->pre |= PV_IE; return b; }
    a = d_in(f, a);
    b = d_in(f, b);
    int c = d_cmp(a, b);
    return (max ? c > 0 : c < 0) ? a : b;
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

/* The relation of a and b (as s_cmp): IE on an SNaN, or on any NaN when
 * `signal`; DE (or DAZ) for denormal operands of an ordered pair. */
static inline int pv_s_rel(pv_fp *f, int signal, uint32_t a, uint32_t b)
{
    if (s_snan(a) || s_snan(b) || (signal && (s_nan(a) || s_nan(b)))) f->pre |= PV_IE;
    if (s_nan(a) || s_nan(b)) return 2;
    a = s_in(f, a);
    b = s_in(f, b);
    return s_cmp(a, b);
}

static inline int pv_d_rel(pv_fp *f, int signal, uint64_t a, uint64_t b)
{
    if (d_snan(a) || d_snan(b) || (signal && (d_nan(a) || d_nan(b)))) f->pre |= PV_IE;
    if (d_nan(a) || d_nan(b)) return 2;
    a = d_in(f, a);
    b = d_in(f, b);
    return d_cmp(a, b);
}

static inline int pv_s_cmp(pv_fp *f, int p, uint32_t a, uint32_t b)
{
    return pv_pred(p, pv_s_rel(f, pv_pred_signals(p), a, b));
}

static inline int pv_d_cmp(pv_fp *f, int p, uint64_t a, uint64_t b)
{
    return pv_pred(p, pv_d_rel(f, pv_pred_signals(p), a, b));
}

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
    feclearexcept(FE_ALL_EXCEPT);
    volatile double x = pv_f64(a);
    volatile float r = (float)x;
    int ex = fetestexcept(FE_ALL_EXCEPT);
    uint32_t pe_before = f->post & PV_PE;
    if ((ex & FE_OVERFLOW) && !(f->mxcsr & (PV_OE << 7))) {
        ex &= ~FE_INEXACT;
        if (pv_wide_inexact(-1, x, 0, 24, 0)) f->post |= PV_PE;
    }
    pv_host_flags(f, ex);
    uint32_t v = pv_b32(r);
    if ((v & S_EXP) == 0 && x != 0) {
        /* tininess before rounding: |x| below the smallest normal single */
        if (fabs(x) < 0x1p-126) {
            if (f->mxcsr & (PV_UE << 7)) {
                if (f->mxcsr & PV_FTZ) { f->post |= PV_UE | PV_PE; return v & S_SIGN; }
                if (ex & FE_INEXACT) f->post |= PV_UE;
            } else {
                f->post = (f->post & ~PV_PE) | pe_before | PV_UE
                          | (pv_wide_inexact(-1, x, 0, 24, 1) ? PV_PE : 0);
            }
        }
    } else if ((v & ~S_SIGN) == 0x00800000u && fabs(x) < 0x1p-126) {
        /* rounded up to the smallest normal: tiny before rounding */
        if (f->mxcsr & (PV_UE << 7)) {
            if (f->mxcsr & PV_FTZ) { f->post |= PV_UE | PV_PE; return v & S_SIGN; }
            f->post |= PV_UE;
        } else {
            f->post = (f->post & ~PV_PE) | pe_before | PV_UE
                      | (pv_wide_inexact(-1, x, 0, 24, 1) ? PV_PE : 0);
        }
    }
    return v;
}

static inline uint32_t pv_i_to_s(pv_fp *f, int64_t a)
{
    feclearexcept(FE_ALL_EXCEPT);
    volatile int64_t x = a;
    volatile float r = (float)x;
    pv_host_flags(f, fetestexcept(FE_ALL_EXCEPT));
    return pv_b32(r);
}

static inline uint64_t pv_i_to_d(pv_fp *f, int64_t a)
{
    feclearexcept(FE_ALL_EXCEPT);
    volatile int64_t x = a;
    volatile double r = (double)x;
    pv_host_flags(f, fetestexcept(FE_ALL_EXCEPT));
    return pv_b64(r);
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

/* ROUNDSS/SD/PS/PD: to an integral value in the current mode; SNaN -> IE
 * (quieted); PE unless suppressed. */
static inline uint32_t pv_s_round(pv_fp *f, uint32_t a, int no_pe)
{
    if (s_nan(a)) return s_nan_result(f, a, a);
    a = s_daz(f, a);
    volatile float x = pv_f32(a), r;
    r = nearbyintf(x);
    if (r != x && !no_pe) f->post |= PV_PE;
    return pv_b32(r) | (a & S_SIGN);           /* -0.4 -> -0 */
}

static inline uint64_t pv_d_round(pv_fp *f, uint64_t a, int no_pe)
{
    if (d_nan(a)) return d_nan_result(f, a, a);
    a = d_daz(f, a);
    volatile double x = pv_f64(a), r;
    r = nearbyint(x);
    if (r != x && !no_pe) f->post |= PV_PE;
    return pv_b64(r) | (a & D_SIGN);
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
    double x = pv_f32(a);
    double r = rsqrt ? 1.0 / sqrt(x) : 1.0 / x;
    uint64_t b = pv_b64(r);
    b = (b + (1ull << 40)) & ~((1ull << 41) - 1);                /* 11 fraction bits */
    uint32_t v = pv_b32((float)pv_f64(b));
    if (!(v & S_EXP)) v &= S_SIGN;
    return v;
}

#endif
