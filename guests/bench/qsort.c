/*
 * Sorting through a function pointer: a generic quicksort (median of three,
 * insertion sort below 8 elements, element size given at run time) calling
 * its comparison function for every compare, over 12-byte records, with two
 * different orders.
 */
#include "bench.h"

#define RECORDS 768

struct rec {
    u32 key;
    u32 id;
    u32 tag;
};

static struct rec recs[RECORDS];

typedef int (*cmp_fn)(const void *, const void *);

static void swap_bytes(u8 *a, u8 *b, usize size)
{
    while (size >= 4) {
        u32 t = *(u32 *)a;
        *(u32 *)a = *(u32 *)b;
        *(u32 *)b = t;
        a += 4; b += 4; size -= 4;
    }
    while (size--) {
        u8 t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

static NOINLINE void sort(void *base, usize n, usize size, cmp_fn cmp)
{
    u8 *b = base;

    while (n > 8) {
        usize i = 0, j = n - 1, mid = n / 2;
        u8 *pivot;
        /* median of three to the front */
        if (cmp(b + mid * size, b) < 0) swap_bytes(b + mid * size, b, size);
        if (cmp(b + j * size, b) < 0) swap_bytes(b + j * size, b, size);
        if (cmp(b + j * size, b + mid * size) < 0) swap_bytes(b + j * size, b + mid * size, size);
        swap_bytes(b, b + mid * size, size);
        pivot = b;
        i = 1;
        for (;;) {
            while (i <= j && cmp(b + i * size, pivot) < 0) i++;
            while (j >= i && cmp(b + j * size, pivot) > 0) j--;
            if (i >= j) break;
            swap_bytes(b + i * size, b + j * size, size);
            i++; j--;
        }
        swap_bytes(b, b + j * size, size);
        /* recurse into the smaller part, loop on the larger */
        if (j < n - j - 1) {
            sort(b, j, size, cmp);
            b += (j + 1) * size;
            n -= j + 1;
        } else {
            sort(b + (j + 1) * size, n - j - 1, size, cmp);
            n = j;
        }
    }
    {
        usize i, k;
        for (i = 1; i < n; i++)
            for (k = i; k > 0 && cmp(b + (k - 1) * size, b + k * size) > 0; k--)
                swap_bytes(b + (k - 1) * size, b + k * size, size);
    }
}

static int by_key(const void *pa, const void *pb)
{
    const struct rec *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return 0;
}

static int by_tag_desc(const void *pa, const void *pb)
{
    const struct rec *a = pa, *b = pb;
    if (a->tag != b->tag) return a->tag > b->tag ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static u32 digest(void)
{
    u32 i, d = 0, bad = 0;
    for (i = 0; i < RECORDS; i++) {
        d = d * 31u + recs[i].id;
        if (i && recs[i].key < recs[i - 1].key) bad++;
    }
    return d ^ bad;
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0x27D4EB2Fu;

    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r);
        for (i = 0; i < RECORDS; i++) {
            u32 x = xorshift32(&s);
            recs[i].key = x & 1023u;            /* many duplicate keys */
            recs[i].id = i;
            recs[i].tag = x >> 20;
        }
        sort(recs, RECORDS, sizeof(struct rec), by_key);
        h = mix(h, digest());
        sort(recs, RECORDS, sizeof(struct rec), by_tag_desc);
        h = mix(h, digest());
    }
    return mix(h, rounds);
}
