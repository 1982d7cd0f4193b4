/*
 * Hashing: SHA-256 (FIPS 180-4) of 4 KiB of pseudo-random bytes a round,
 * message schedule and compression in 32-bit rotates, shifts and adds.
 */
#include "bench.h"

#define MSG_BYTES 4096

static const u32 K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static u8 msg[MSG_BYTES + 128];

static void compress(u32 st[8], const u8 *p)
{
    u32 w[64], a, b, c, d, e, f, g, h, i;

    for (i = 0; i < 16; i++)
        w[i] = (u32)p[4 * i] << 24 | (u32)p[4 * i + 1] << 16 | (u32)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        u32 s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        u32 s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = st[0]; b = st[1]; c = st[2]; d = st[3];
    e = st[4]; f = st[5]; g = st[6]; h = st[7];
    for (i = 0; i < 64; i++) {
        u32 t1 = h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        u32 t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

/* SHA-256 of msg[0, n); pads in place (msg has room for it). */
static void sha256(u32 n, u32 out[8])
{
    static const u32 init[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    u32 i, total = (n + 9 + 63) & ~63u;

    for (i = 0; i < 8; i++)
        out[i] = init[i];
    msg[n] = 0x80;
    for (i = n + 1; i < total - 4; i++)
        msg[i] = 0;
    msg[total - 4] = (u8)(n >> 21);
    msg[total - 3] = (u8)(n >> 13);
    msg[total - 2] = (u8)(n >> 5);
    msg[total - 1] = (u8)(n << 3);
    for (i = 0; i < total; i += 64)
        compress(out, msg + i);
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0x6A09E667u, d[8];

    /* Known answer: SHA-256("abc") starts with ba7816bf. */
    msg[0] = 'a'; msg[1] = 'b'; msg[2] = 'c';
    sha256(3, d);
    h = mix(h, d[0] ^ 0xba7816bfu);
    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r), n = MSG_BYTES - (s & 63u);
        for (i = 0; i < n; i += 4) {
            u32 x = xorshift32(&s);
            msg[i] = (u8)x; msg[i + 1] = (u8)(x >> 8);
            msg[i + 2] = (u8)(x >> 16); msg[i + 3] = (u8)(x >> 24);
        }
        sha256(n, d);
        for (i = 0; i < 8; i++)
            h = mix(h, d[i]);
    }
    return mix(h, rounds);
}
