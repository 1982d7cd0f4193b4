/* A SIMD integer workout for tests/test_simd_int.py: compiled by gcc with
   -O3 -msse4.2 (vectorized loops and SSE2-SSE4.2 intrinsics), it runs
   natively (-DNATIVE: prints the results) and as a freestanding program on
   pvemu (stores them in `result` and halts); the results must agree. */
#include <stdint.h>
#include <nmmintrin.h>

#define N 1024
static uint8_t a8[N], b8[N], c8[N];
static int16_t a16[N], b16[N], c16[N];
static int32_t a32[N], b32[N], c32[N];
static uint64_t state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001B3ull; }

static uint32_t crc32c_buf(const uint8_t *p, int n)
{
    uint64_t crc = 0xFFFFFFFF;
    int k = 0;
    for (; k + 8 <= n; k += 8)
        crc = _mm_crc32_u64(crc, *(const uint64_t *)(p + k));
    for (; k < n; k++)
        crc = _mm_crc32_u8((uint32_t)crc, p[k]);
    return ~(uint32_t)crc;
}

static int sse_strlen(const char *s)
{
    const __m128i zero = _mm_setzero_si128();
    int off = 0;
    for (;;) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + off));
        int i = _mm_cmpistri(zero, v, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH);
        if (_mm_cmpistrz(zero, v, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH))
            return off + _mm_cmpistri(v, v, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_EACH | _SIDD_NEGATIVE_POLARITY);
        (void)i;
        off += 16;
    }
}

static int count_digits(const char *s, int n)
{
    const __m128i range = _mm_setr_epi8('0', '9', 'a', 'f', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    int count = 0;
    for (int k = 0; k + 16 <= n; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + k));
        __m128i m = _mm_cmpestrm(range, 4, v, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_BIT_MASK);
        count += __builtin_popcount(_mm_cvtsi128_si32(m));
    }
    return count;
}

void compute(uint64_t *out)
{
    uint64_t h = 0xCBF29CE484222325ull;
    int k;
    for (k = 0; k < N; k++) {
        a8[k] = rnd(); b8[k] = rnd() >> 3;
        a16[k] = rnd(); b16[k] = rnd() >> 17;
        a32[k] = rnd(); b32[k] = rnd() >> 5;
    }
    /* loops the compiler vectorizes */
    for (k = 0; k < N; k++) c8[k] = a8[k] + b8[k] > 255 ? 255 : a8[k] + b8[k];
    for (k = 0; k < N; k++) h = mix(h, c8[k]);
    for (k = 0; k < N; k++) c8[k] = a8[k] < b8[k] ? a8[k] : b8[k];
    for (k = 0; k < N; k++) h = mix(h, c8[k]);
    for (k = 0; k < N; k++) c16[k] = (int16_t)((a16[k] * b16[k]) >> 16);
    for (k = 0; k < N; k++) h = mix(h, (uint16_t)c16[k]);
    for (k = 0; k < N; k++) c32[k] = a32[k] * b32[k] + (a32[k] >> 3);
    for (k = 0; k < N; k++) h = mix(h, (uint32_t)c32[k]);
    for (k = 0; k < N; k++) c32[k] = a32[k] > b32[k] ? a32[k] : b32[k];
    for (k = 0; k < N; k++) h = mix(h, (uint32_t)c32[k]);
    for (k = 0; k < N; k++) c16[k] = a16[k] < 0 ? -a16[k] : a16[k];
    for (k = 0; k < N; k++) h = mix(h, (uint16_t)c16[k]);
    int64_t dot = 0;
    for (k = 0; k < N; k++) dot += a16[k] * b16[k];
    h = mix(h, (uint64_t)dot);
    uint32_t sum = 0;
    for (k = 0; k < N; k++) sum += a8[k] == b8[k] ? 1 : 0;
    h = mix(h, sum);
    out[0] = h;
    /* intrinsics */
    __m128i acc = _mm_setzero_si128();
    for (k = 0; k + 16 <= N; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(a8 + k));
        __m128i y = _mm_loadu_si128((const __m128i *)(b8 + k));
        __m128i w = _mm_loadu_si128((const __m128i *)(a16 + k));
        __m128i z = _mm_loadu_si128((const __m128i *)(b16 + k));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(x, y));
        acc = _mm_xor_si128(acc, _mm_shuffle_epi8(x, y));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(w, z));
        acc = _mm_xor_si128(acc, _mm_maddubs_epi16(x, y));
        acc = _mm_add_epi16(acc, _mm_mulhrs_epi16(w, z));
        acc = _mm_xor_si128(acc, _mm_hadds_epi16(w, z));
        acc = _mm_add_epi32(acc, _mm_hsub_epi32(w, z));
        acc = _mm_xor_si128(acc, _mm_sign_epi8(x, y));
        acc = _mm_add_epi8(acc, _mm_alignr_epi8(x, y, 5));
        acc = _mm_xor_si128(acc, _mm_mpsadbw_epu8(x, y, 5));
        acc = _mm_add_epi16(acc, _mm_minpos_epu16(w));
        acc = _mm_xor_si128(acc, _mm_packus_epi32(w, z));
        acc = _mm_add_epi32(acc, _mm_mullo_epi32(w, z));
        acc = _mm_xor_si128(acc, _mm_mul_epi32(w, z));
        acc = _mm_add_epi64(acc, _mm_cvtepi8_epi64(x));
        acc = _mm_xor_si128(acc, _mm_cvtepu16_epi32(z));
        acc = _mm_add_epi8(acc, _mm_blendv_epi8(x, y, w));
        acc = _mm_xor_si128(acc, _mm_blend_epi16(x, y, 0x5A));
        acc = _mm_add_epi64(acc, _mm_cmpgt_epi64(w, z));
        acc = _mm_xor_si128(acc, _mm_packs_epi16(w, z));
        acc = _mm_add_epi8(acc, _mm_unpackhi_epi8(x, y));
        acc = _mm_xor_si128(acc, _mm_shufflehi_epi16(_mm_shuffle_epi32(w, 0x1B), 0x93));
        acc = _mm_add_epi16(acc, _mm_srai_epi16(w, 3));
        acc = _mm_xor_si128(acc, _mm_sll_epi32(z, _mm_cvtsi32_si128(k & 31)));
        acc = _mm_add_epi8(acc, _mm_srli_si128(x, 3));
        acc = _mm_insert_epi8(acc, _mm_extract_epi16(w, 3) + _mm_testc_si128(x, y), 7);
        acc = _mm_insert_epi64(acc, _mm_extract_epi64(z, 1) ^ _mm_movemask_epi8(x), 1);
    }
    out[1] = _mm_extract_epi64(acc, 0);
    out[2] = _mm_extract_epi64(acc, 1);
    out[3] = crc32c_buf(a8, N - 3);
    static const char text[] = "The quick brown fox jumps over the lazy dog, 0123456789 abcdef, "
                               "SIMD integer programs run natively and on pvemu alike.";
    out[4] = sse_strlen(text);
    out[5] = count_digits(text, sizeof text - 1);
}

#ifdef NATIVE
#include <stdio.h>
int main(void)
{
    uint64_t out[6];
    compute(out);
    for (int k = 0; k < 6; k++)
        printf("%016llx\n", (unsigned long long)out[k]);
    return 0;
}
#else
uint64_t result[6];

void _start(void)
{
    compute(result);
    __asm__ volatile("hlt");
}
#endif
