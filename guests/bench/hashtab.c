/*
 * Hash table: separate chaining through linked nodes from a pool, behind
 * out-of-line insert/find/remove calls -- many calls, pointer chasing and
 * unpredictable branches.  Nothing address-dependent reaches the checksum.
 */
#include "bench.h"

#define BUCKETS 512
#define NODES   2048

struct node {
    struct node *next;
    u32 key;
    u32 value;
};

static struct node pool[NODES];
static struct node *free_list;
static struct node *table[BUCKETS];

static inline u32 bucket_of(u32 key)
{
    key ^= key >> 16;
    key *= 0x7FEB352Du;
    key ^= key >> 15;
    return key & (BUCKETS - 1);
}

static NOINLINE void reset(void)
{
    u32 i;
    for (i = 0; i < BUCKETS; i++)
        table[i] = 0;
    free_list = 0;
    for (i = 0; i < NODES; i++) {
        pool[i].next = free_list;
        free_list = &pool[i];
    }
}

static NOINLINE struct node *find(u32 key)
{
    struct node *n = table[bucket_of(key)];
    while (n && n->key != key)
        n = n->next;
    return n;
}

/* Insert or update; 0 when the pool is exhausted. */
static NOINLINE int insert(u32 key, u32 value)
{
    struct node *n = find(key);
    u32 b;
    if (n) {
        n->value += value;
        return 1;
    }
    if (!free_list)
        return 0;
    n = free_list;
    free_list = n->next;
    b = bucket_of(key);
    n->key = key;
    n->value = value;
    n->next = table[b];
    table[b] = n;
    return 1;
}

static NOINLINE int remove_key(u32 key)
{
    struct node **link = &table[bucket_of(key)];
    while (*link) {
        struct node *n = *link;
        if (n->key == key) {
            *link = n->next;
            n->next = free_list;
            free_list = n;
            return 1;
        }
        link = &n->next;
    }
    return 0;
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0xC2B2AE35u;

    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r), hits = 0, sum = 0, removed = 0, full = 0;
        reset();
        for (i = 0; i < 1536; i++) {
            u32 x = xorshift32(&s);
            full += !insert(x & 4095u, x >> 12);
        }
        for (i = 0; i < 3072; i++) {
            struct node *n = find(xorshift32(&s) & 4095u);
            if (n) {
                hits++;
                sum += n->value;
            }
        }
        for (i = 0; i < 1024; i++)
            removed += remove_key(xorshift32(&s) & 4095u);
        for (i = 0; i < BUCKETS; i++) {
            struct node *n;
            for (n = table[i]; n; n = n->next)
                sum = sum * 33u + n->key;
        }
        h = mix(h, hits);
        h = mix(h, sum);
        h = mix(h, removed << 8 | full);
    }
    return mix(h, rounds);
}
