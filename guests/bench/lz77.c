/*
 * Compression: an LZ77 coder with a hash-chain match finder (4 KiB window,
 * matches of 3..18 bytes, a flag byte per 8 items) over 8 KiB of word-like
 * pseudo-text, then the decoder, checked against the input.
 */
#include "bench.h"

#define TEXT_BYTES 8192
#define WINDOW     4096
#define HASH_SIZE  4096
#define MIN_MATCH  3
#define MAX_MATCH  18
#define MAX_CHAIN  24

static u8 text[TEXT_BYTES];
static u8 packed[TEXT_BYTES + TEXT_BYTES / 8 + 16];
static u8 unpacked[TEXT_BYTES];
static u16 head[HASH_SIZE];         /* position + 1 of the latest string with this hash */
static u16 prev[TEXT_BYTES];        /* position + 1 of the previous one */

static const char *const words[16] = {
    "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
    "pack ", "my ", "box ", "with ", "five ", "dozen ", "liquor ", "jugs. ",
};

static void make_text(u32 s)
{
    u32 n = 0;
    while (n < TEXT_BYTES) {
        u32 x = xorshift32(&s);
        const char *w = words[x & 15];
        if ((x >> 8 & 7) == 0)                  /* some noise between words */
            text[n++] = (u8)('A' + (x >> 12) % 26);
        while (*w && n < TEXT_BYTES)
            text[n++] = (u8)*w++;
    }
}

static inline u32 hash3(const u8 *p)
{
    return ((u32)p[0] << 8 ^ (u32)p[1] << 4 ^ p[2]) * 2654435761u >> 20;
}

static NOINLINE u32 compress(void)
{
    u32 i = 0, out = 0, flag_at = 0, nitems = 8;

    for (i = 0; i < HASH_SIZE; i++)
        head[i] = 0;
    i = 0;
    while (i < TEXT_BYTES) {
        u32 best_len = 0, best_off = 0;
        if (nitems == 8) {
            flag_at = out++;
            packed[flag_at] = 0;
            nitems = 0;
        }
        if (i + MIN_MATCH <= TEXT_BYTES) {
            u32 h = hash3(text + i), cand = head[h], chain = MAX_CHAIN;
            while (cand && chain--) {
                u32 p = cand - 1, len = 0;
                if (i - p > WINDOW - 1)
                    break;
                while (len < MAX_MATCH && i + len < TEXT_BYTES && text[p + len] == text[i + len])
                    len++;
                if (len > best_len) {
                    best_len = len;
                    best_off = i - p;
                }
                cand = prev[p];
            }
        }
        if (best_len >= MIN_MATCH) {
            u32 k;
            packed[flag_at] |= (u8)(1u << nitems);
            packed[out++] = (u8)(best_off >> 4);
            packed[out++] = (u8)((best_off & 15u) << 4 | (best_len - MIN_MATCH));
            for (k = 0; k < best_len; k++, i++) {
                if (i + MIN_MATCH <= TEXT_BYTES) {
                    u32 h = hash3(text + i);
                    prev[i] = head[h];
                    head[h] = (u16)(i + 1);
                }
            }
        } else {
            if (i + MIN_MATCH <= TEXT_BYTES) {
                u32 h = hash3(text + i);
                prev[i] = head[h];
                head[h] = (u16)(i + 1);
            }
            packed[out++] = text[i++];
        }
        nitems++;
    }
    return out;
}

static NOINLINE u32 decompress(u32 n)
{
    u32 in = 0, out = 0;

    while (in < n) {
        u32 flags = packed[in++], k;
        for (k = 0; k < 8 && in < n; k++) {
            if (flags >> k & 1) {
                u32 off = (u32)packed[in] << 4 | packed[in + 1] >> 4;
                u32 len = (packed[in + 1] & 15u) + MIN_MATCH;
                in += 2;
                while (len--) {
                    unpacked[out] = unpacked[out - off];
                    out++;
                }
            } else {
                unpacked[out++] = packed[in++];
            }
        }
    }
    return out;
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0x85EBCA6Bu;

    for (r = 0; r < rounds; r++) {
        u32 n, m, bad = 0, digest = 0;
        make_text(round_seed(h, r));
        n = compress();
        m = decompress(n);
        for (i = 0; i < TEXT_BYTES; i++)
            bad |= unpacked[i] ^ text[i];
        for (i = 0; i < n; i++)
            digest = digest * 31u + packed[i];
        h = mix(h, n);
        h = mix(h, m ^ bad << 16);
        h = mix(h, digest);
    }
    return mix(h, rounds);
}
