/*
 * Integer matrices and bit manipulation: a 32x32 32-bit matrix product and
 * transpose, then per element population count, bit reversal, Gray code,
 * trailing-zero count and an integer square root, all in plain C (no
 * builtins, which would call libgcc on i386).
 */
#include "bench.h"

#define N 32

static u32 a[N][N], b[N][N], c[N][N];

static NOINLINE void multiply(void)
{
    u32 i, j, k;
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            u32 sum = 0;
            for (k = 0; k < N; k++)
                sum += a[i][k] * b[k][j];
            c[i][j] = sum;
        }
}

static NOINLINE void transpose(void)
{
    u32 i, j;
    for (i = 0; i < N; i++)
        for (j = i + 1; j < N; j++) {
            u32 t = c[i][j];
            c[i][j] = c[j][i];
            c[j][i] = t;
        }
}

static inline u32 popcount(u32 x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

static inline u32 bitrev(u32 x)
{
    x = (x >> 1 & 0x55555555u) | (x & 0x55555555u) << 1;
    x = (x >> 2 & 0x33333333u) | (x & 0x33333333u) << 2;
    x = (x >> 4 & 0x0F0F0F0Fu) | (x & 0x0F0F0F0Fu) << 4;
    x = (x >> 8 & 0x00FF00FFu) | (x & 0x00FF00FFu) << 8;
    return x >> 16 | x << 16;
}

static inline u32 ctz(u32 x)
{
    u32 n = 0;
    if (!x)
        return 32;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
}

static NOINLINE u32 isqrt(u32 x)
{
    u32 res = 0, bit = 1u << 30;
    while (bit > x)
        bit >>= 2;
    while (bit) {
        if (x >= res + bit) {
            x -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    return res;
}

static NOINLINE u32 bits(void)
{
    u32 i, j, h = 0;
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            u32 x = c[i][j];
            u32 gray = x ^ (x >> 1);
            h += popcount(x) + ctz(x | 0x10000u);
            h = rotl32(h, 5) ^ bitrev(gray) ^ isqrt(x);
        }
    return h;
}

u32 workload(u32 rounds)
{
    u32 r, i, j, h = 0x7FEB352Du;

    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r);
        for (i = 0; i < N; i++)
            for (j = 0; j < N; j++) {
                a[i][j] = xorshift32(&s);
                b[i][j] = xorshift32(&s) & 0xFFFFu;
            }
        multiply();
        transpose();
        h = mix(h, bits());
        h = mix(h, c[r & (N - 1)][(r >> 5) & (N - 1)]);
    }
    return mix(h, rounds);
}
