/*
 * Recursion: complete binary trees built and checked recursively (as in the
 * "binary-trees" benchmark, from a bump allocator), and an unbalanced binary
 * search tree filled by recursive insertion and walked in order.
 */
#include "bench.h"

#define POOL_NODES 8192

struct tnode {
    struct tnode *left, *right;
    u32 key;
};

static struct tnode pool[POOL_NODES];
static u32 used;

static struct tnode *alloc(u32 key)
{
    struct tnode *n = &pool[used++];
    n->left = n->right = 0;
    n->key = key;
    return n;
}

static NOINLINE struct tnode *build(u32 depth, u32 key)
{
    struct tnode *n = alloc(key);
    if (depth) {
        n->left = build(depth - 1, 2 * key);
        n->right = build(depth - 1, 2 * key + 1);
    }
    return n;
}

static NOINLINE u32 check(const struct tnode *n)
{
    if (!n->left)
        return n->key & 1;
    return 1 + check(n->left) + check(n->right) + (n->key & 3);
}

static NOINLINE struct tnode *bst_insert(struct tnode *n, u32 key)
{
    if (!n)
        return alloc(key);
    if (key < n->key)
        n->left = bst_insert(n->left, key);
    else
        n->right = bst_insert(n->right, key);
    return n;
}

static NOINLINE u32 walk(const struct tnode *n, u32 h, u32 depth)
{
    if (!n)
        return h;
    h = walk(n->left, h, depth + 1);
    h = h * 31u + n->key + depth;
    return walk(n->right, h, depth + 1);
}

static NOINLINE u32 height(const struct tnode *n)
{
    u32 l, r;
    if (!n)
        return 0;
    l = height(n->left);
    r = height(n->right);
    return 1 + (l > r ? l : r);
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0x165667B1u;

    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r), d;
        struct tnode *root = 0;
        used = 0;
        for (d = 4; d <= 10; d += 2)
            h = mix(h, check(build(d, s & 255u)));
        used = 0;
        for (i = 0; i < 1500; i++)
            root = bst_insert(root, xorshift32(&s) >> 8);
        h = mix(h, walk(root, 0, 0));
        h = mix(h, height(root));
    }
    return mix(h, rounds);
}
