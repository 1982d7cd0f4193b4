/*
 * A string library on the SSE4.2 string instructions (PCMPISTRI, PCMPESTRI,
 * PCMPISTRM, PCMPESTRM through gcc's intrinsics): strlen, strchr, strstr,
 * strspn, strcspn and a character-class count over generated text, each
 * checked against a plain byte loop.
 */
#include <nmmintrin.h>
#include "fp.h"

#define TEXT 4096
#define SLACK 16    /* 16-byte loads may read this far past a string's end */

static char text[TEXT + SLACK];
static char needle[24 + SLACK];

static inline __m128i load16(const char *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

static NOINLINE usize sse_strlen(const char *s)
{
    const __m128i zero = _mm_setzero_si128();
    usize n = 0;
    for (;;) {
        /* EQUAL_EACH against an empty string: true exactly past the end. */
        int i = _mm_cmpistri(zero, load16(s + n), _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH);
        if (i < 16)
            return n + (usize)i;
        n += 16;
    }
}

static NOINLINE const char *sse_strchr(const char *s, char c)
{
    const __m128i set = _mm_cvtsi32_si128((u8)c);
    for (;; s += 16) {
        __m128i chunk = load16(s);
        int i = _mm_cmpistri(set, chunk, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY);
        if (_mm_cmpistrc(set, chunk, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY))
            return s + i;
        if (_mm_cmpistrz(set, chunk, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY))
            return 0;   /* c is never NUL here */
    }
}

/* strstr for needles of at most 16 bytes: EQUAL_ORDERED finds where a
 * match starts (or a prefix of one runs off the chunk's end). */
static NOINLINE const char *sse_strstr(const char *s, const char *pat)
{
    const __m128i p = load16(pat);
    const int mode = _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ORDERED;
    for (;;) {
        __m128i chunk = load16(s);
        int i = _mm_cmpistri(p, chunk, mode);
        if (_mm_cmpistrc(p, chunk, mode)) {
            const char *cand = s + i;
            usize k = 0;
            while (pat[k] && cand[k] == pat[k])
                k++;
            if (!pat[k])
                return cand;
            s = cand + 1;
            continue;
        }
        if (_mm_cmpistrz(p, chunk, mode))
            return 0;
        s += 16;
    }
}

/* The length of the prefix of s made of bytes in set (at most 16 bytes),
 * or, with NEGATIVE_POLARITY, of bytes not in it. */
static inline usize sse_span(const char *s, __m128i set, int negate)
{
    const int mode = _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY | _SIDD_LEAST_SIGNIFICANT;
    usize n = 0;
    for (;;) {
        __m128i chunk = load16(s + n);
        if (negate) {
            /* Past the end nothing is in the set: stop at the NUL (ZF). */
            int i = _mm_cmpistri(set, chunk, mode);
            if (i < 16)
                return n + (usize)i;
            if (_mm_cmpistrz(set, chunk, mode))
                return n + sse_strlen(s + n);
        } else {
            /* Negated, the bytes past the end count as outside the set. */
            int i = _mm_cmpistri(set, chunk, mode | _SIDD_NEGATIVE_POLARITY);
            if (i < 16)
                return n + (usize)i;
        }
        n += 16;
    }
}

/* How many of the len bytes at s are letters or digits: explicit lengths
 * (PCMPESTRM) with a range set, the mask as bits. */
static NOINLINE u32 sse_count_alnum(const char *s, int len)
{
    const __m128i ranges = _mm_setr_epi8('a', 'z', 'A', 'Z', '0', '9', 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0);
    u32 count = 0;
    int off;
    for (off = 0; off < len; off += 16) {
        int n = len - off < 16 ? len - off : 16;
        __m128i m = _mm_cmpestrm(ranges, 6, load16(s + off), n,
                                 _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_BIT_MASK);
        u32 bits = (u32)_mm_cvtsi128_si32(m);
        while (bits) {
            bits &= bits - 1;
            count++;
        }
    }
    return count;
}

/* The first byte of s[0..len) equal to c, by PCMPESTRI; len if none. */
static NOINLINE usize sse_memchr(const char *s, char c, int len)
{
    const __m128i set = _mm_set1_epi8(c);
    int off;
    for (off = 0; off < len; off += 16) {
        int n = len - off < 16 ? len - off : 16;
        int i = _mm_cmpestri(set, 1, load16(s + off), n,
                             _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY);
        if (i < n)
            return (usize)(off + i);
    }
    return (usize)len;
}

/* The reference implementations. */
static usize ref_strlen(const char *s)
{
    usize n = 0;
    while (s[n])
        n++;
    return n;
}

static const char *ref_strchr(const char *s, char c)
{
    for (;; s++) {
        if (*s == c)
            return s;
        if (!*s)
            return 0;
    }
}

static const char *ref_strstr(const char *s, const char *pat)
{
    for (;; s++) {
        usize k = 0;
        while (pat[k] && s[k] == pat[k])
            k++;
        if (!pat[k])
            return s;
        if (!*s)
            return 0;
    }
}

static usize ref_span(const char *s, const char *set, int negate)
{
    usize n = 0;
    for (;; n++) {
        const char *p = set;
        while (*p && *p != s[n])
            p++;
        if (!s[n] || (*p != 0) == negate)
            return n;
    }
}

static u32 ref_count_alnum(const char *s, int len)
{
    u32 count = 0;
    int i;
    for (i = 0; i < len; i++) {
        char ch = s[i];
        count += (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    }
    return count;
}

/* Fold one result and whether it agrees with the reference. */
static inline u32 fold(u32 h, usize got, usize want)
{
    return mix(h, (u32)got ^ (got == want ? 0 : 0xBAD00000u));
}

static inline usize offset(const char *p, const char *base)
{
    return p ? (usize)(p - base) : (usize)-1;
}

u32 workload(u32 rounds)
{
    static const char alphabet[] = "etaoin shrdlu,.ETAOIN0123456789 \n";
    static const char span_set[16] = "etaoin ";
    u32 r, i, h = 0xC2B2AE35u;
    __m128i set = load16(span_set);   /* its NUL ends the implicit-length set */

    fp_init();
    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r);
        u32 len = TEXT - (xorshift32(&s) & 255);
        u32 plen = 2 + xorshift32(&s) % 5;
        for (i = 0; i < len; i++)
            text[i] = alphabet[xorshift32(&s) % (sizeof(alphabet) - 1)];
        for (i = len; i < TEXT + SLACK; i++)
            text[i] = 0;
        for (i = 0; i < plen; i++)
            needle[i] = alphabet[xorshift32(&s) % 8];
        needle[plen] = 0;
        h = fold(h, sse_strlen(text), ref_strlen(text));
        for (i = 0; i < 64; i++) {
            const char *at = text + (xorshift32(&s) % len);
            char c = alphabet[xorshift32(&s) % (sizeof(alphabet) - 1)];
            int window = text + TEXT - at < 100 ? (int)(text + TEXT - at) : 100;
            usize want = offset(ref_strchr(at, c), at);
            h = fold(h, offset(sse_strchr(at, c), text), offset(ref_strchr(at, c), text));
            h = fold(h, sse_strlen(at), ref_strlen(at));
            h = fold(h, sse_span(at, set, 0), ref_span(at, span_set, 0));
            h = fold(h, sse_span(at, set, 1), ref_span(at, span_set, 1));
            h = fold(h, sse_memchr(at, c, window), want < (usize)window ? want : (usize)window);
        }
        for (i = 0; i < 8; i++) {
            const char *at = text + (xorshift32(&s) % len);
            h = fold(h, offset(sse_strstr(at, needle), text),
                     offset(ref_strstr(at, needle), text));
        }
        h = fold(h, sse_count_alnum(text, (int)len), ref_count_alnum(text, (int)len));
        fp_record(0, sse_strlen(text));
        fp_record(1, (u32)offset(sse_strstr(text, needle), text));
        fp_record(2, sse_count_alnum(text, (int)len));
    }
    return mix(h, rounds);
}
