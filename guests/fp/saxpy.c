/*
 * Single precision, four lanes at a time: SAXPY over 1024 floats, a 4x4
 * matrix transform of 256 vertices in 16-byte vectors (gcc's vector
 * extension: packed SSE where the target has it, x87 otherwise), clamping
 * through compare masks, float-to-integer conversion and a dot product.
 */
#include "fp.h"

#define LEN 1024
#define VERTS 256

typedef float v4sf __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));

static float x[LEN] __attribute__((aligned(16)));
static float y[LEN] __attribute__((aligned(16)));
static v4sf verts[VERTS], out[VERTS];
static v4sf matrix[4];

static NOINLINE void saxpy(float alpha)
{
    u32 i;
    for (i = 0; i < LEN; i++)
        y[i] = alpha * x[i] + y[i];
}

/* out[v] = matrix * verts[v] (matrix columns in matrix[0..3]). */
static NOINLINE void transform(void)
{
    u32 v;
    for (v = 0; v < VERTS; v++) {
        v4sf p = verts[v];
        v4sf sx = {p[0], p[0], p[0], p[0]}, sy = {p[1], p[1], p[1], p[1]};
        v4sf sz = {p[2], p[2], p[2], p[2]}, sw = {p[3], p[3], p[3], p[3]};
        out[v] = matrix[0] * sx + matrix[1] * sy + matrix[2] * sz + matrix[3] * sw;
    }
}

/* Clamp every lane to [-lim, lim] and convert to integers (truncating). */
static NOINLINE u32 clamp_and_convert(float lim)
{
    v4sf hi = {lim, lim, lim, lim}, lo = -hi;
    u32 v, h = 0;
    for (v = 0; v < VERTS; v++) {
        v4sf p = out[v];
        v4si q, m = p < hi;     /* all-ones lanes where true */
        p = (v4sf)((m & (v4si)p) | (~m & (v4si)hi));
        m = p > lo;
        p = (v4sf)((m & (v4si)p) | (~m & (v4si)lo));
        q = __builtin_convertvector(p * 1024.0f, v4si);
        h = mix(h, (u32)(q[0] ^ q[1] ^ q[2] ^ q[3]));
    }
    return h;
}

static NOINLINE float dot(void)
{
    float sum = 0.0f;
    u32 i;
    for (i = 0; i < LEN; i++)
        sum += x[i] * y[i];
    return sum;
}

u32 workload(u32 rounds)
{
    u32 r, i, h = 0x85EBCA6Bu;

    fp_init();
    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r);
        float d;
        for (i = 0; i < LEN; i++) {
            x[i] = (float)rand_unit(&s);
            y[i] = (float)rand_unit(&s) * 3.0f;
        }
        for (i = 0; i < 4; i++)
            matrix[i] = (v4sf){(float)rand_unit(&s), (float)rand_unit(&s),
                               (float)rand_unit(&s), (float)rand_unit(&s)};
        for (i = 0; i < VERTS; i++)
            verts[i] = (v4sf){x[i] * 10.0f, y[i], x[i + VERTS], 1.0f};
        for (i = 0; i < 8; i++)
            saxpy(0.75f - 0.25f * (float)i);
        transform();
        d = dot();
        h = mix_float(h, d);
        for (i = 0; i < LEN; i += 7)
            h = mix_float(h, y[i]);
        for (i = 0; i < VERTS; i += 5)
            h = mix_float(mix_float(h, out[i][0]), out[i][3]);
        h = mix(h, clamp_and_convert(4.5f));
        fp_record(0, float_bits(d));
        fp_record(1, float_bits(y[r % LEN]));
        fp_record(2, float_bits(out[r % VERTS][1]));
    }
    return mix(h, rounds);
}
