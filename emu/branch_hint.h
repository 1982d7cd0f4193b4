/* Branch hints for the hot handlers (dispatch.pxi): the C compiler lays
 * the expected path out straight, so a chained block transition takes no
 * taken branch but its final indirect jump. */
#ifndef PV_BRANCH_HINT_H
#define PV_BRANCH_HINT_H
#if defined(__GNUC__) || defined(__clang__)
#define pv_likely(x) __builtin_expect(!!(x), 1)
#define pv_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define pv_likely(x) (x)
#define pv_unlikely(x) (x)
#endif
#endif
