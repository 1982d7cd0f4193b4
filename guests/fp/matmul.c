/*
 * Double-precision linear algebra: a 24x24 matrix product, row norms with
 * square roots and divisions, and the determinant by Gaussian elimination
 * with partial pivoting (floating-point compares and branches on them).
 */
#include "fp.h"

#define N 24

static double a[N][N], b[N][N], c[N][N];

static NOINLINE void multiply(void)
{
    u32 i, j, k;
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            double sum = 0.0;
            for (k = 0; k < N; k++)
                sum += a[i][k] * b[k][j];
            c[i][j] = sum;
        }
}

/* Scale each row of c to unit length; returns the largest norm. */
static NOINLINE double normalize_rows(void)
{
    double largest = 0.0;
    u32 i, j;
    for (i = 0; i < N; i++) {
        double sq = 0.0, norm;
        for (j = 0; j < N; j++)
            sq += c[i][j] * c[i][j];
        norm = fp_sqrt(sq);
        if (norm > largest)
            largest = norm;
        for (j = 0; j < N; j++)
            c[i][j] = c[i][j] / norm;
    }
    return largest;
}

static inline double fabs_d(double x)
{
    return x < 0.0 ? -x : x;
}

/* The determinant of c (destroyed), by elimination with partial pivoting. */
static NOINLINE double determinant(void)
{
    double det = 1.0;
    u32 i, j, k;
    for (k = 0; k < N; k++) {
        u32 p = k;
        for (i = k + 1; i < N; i++)
            if (fabs_d(c[i][k]) > fabs_d(c[p][k]))
                p = i;
        if (c[p][k] == 0.0)
            return 0.0;
        if (p != k) {
            for (j = 0; j < N; j++) {
                double t = c[k][j];
                c[k][j] = c[p][j];
                c[p][j] = t;
            }
            det = -det;
        }
        det *= c[k][k];
        for (i = k + 1; i < N; i++) {
            double f = c[i][k] / c[k][k];
            for (j = k; j < N; j++)
                c[i][j] -= f * c[k][j];
        }
    }
    return det;
}

u32 workload(u32 rounds)
{
    u32 r, i, j, h = 0x2545F491u;

    fp_init();
    for (r = 0; r < rounds; r++) {
        u32 s = round_seed(h, r);
        double largest, det;
        for (i = 0; i < N; i++)
            for (j = 0; j < N; j++) {
                a[i][j] = rand_unit(&s);
                b[i][j] = rand_unit(&s) * 8.0;
            }
        multiply();
        for (i = 0; i < N; i++)
            for (j = 0; j < N; j++)
                h = mix_double(h, c[i][j]);
        fp_record(0, double_bits(c[r % N][(r / N) % N]));
        largest = normalize_rows();
        h = mix_double(h, largest);
        h = mix_double(h, c[N - 1][N - 1]);
        det = determinant();
        h = mix_double(h, det);
        fp_record(1, double_bits(largest));
        fp_record(2, double_bits(det));
    }
    return mix(h, rounds);
}
