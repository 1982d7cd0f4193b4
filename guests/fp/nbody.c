/*
 * An n-body simulation of the Sun and the four giant planets: symplectic
 * Euler steps of the gravitational forces (square roots and divisions in the
 * inner loop) and the system's total energy, in double precision.
 */
#include "fp.h"

#define BODIES 5
#define STEPS_PER_ROUND 100
#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

struct body {
    double x, y, z, vx, vy, vz, mass;
};

/* Positions in AU, velocities in AU/day (scaled to AU/year below), masses
 * in solar masses (orbital elements of Jupiter, Saturn, Uranus, Neptune). */
static const struct body initial[BODIES] = {
    {0, 0, 0, 0, 0, 0, 1},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
     9.54791938424326609e-04},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
     2.85885980666130812e-04},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
     4.36624404335156298e-05},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
     5.15138902046611451e-05},
};

static struct body bodies[BODIES];

static NOINLINE void start(u32 seed)
{
    double px = 0, py = 0, pz = 0;
    u32 i;
    for (i = 0; i < BODIES; i++) {
        bodies[i] = initial[i];
        bodies[i].vx *= DAYS_PER_YEAR;
        bodies[i].vy *= DAYS_PER_YEAR;
        bodies[i].vz *= DAYS_PER_YEAR;
        bodies[i].mass *= SOLAR_MASS;
        /* A tiny seed-dependent nudge so that rounds differ. */
        bodies[i].x += (double)(seed >> (i * 4) & 15) * 1e-6;
        px += bodies[i].vx * bodies[i].mass;
        py += bodies[i].vy * bodies[i].mass;
        pz += bodies[i].vz * bodies[i].mass;
    }
    /* Give the Sun the momentum that makes the total zero. */
    bodies[0].vx = -px / SOLAR_MASS;
    bodies[0].vy = -py / SOLAR_MASS;
    bodies[0].vz = -pz / SOLAR_MASS;
}

static NOINLINE void advance(double dt)
{
    u32 i, j;
    for (i = 0; i < BODIES; i++) {
        struct body *bi = &bodies[i];
        for (j = i + 1; j < BODIES; j++) {
            struct body *bj = &bodies[j];
            double dx = bi->x - bj->x, dy = bi->y - bj->y, dz = bi->z - bj->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * fp_sqrt(d2));
            bi->vx -= dx * bj->mass * mag;
            bi->vy -= dy * bj->mass * mag;
            bi->vz -= dz * bj->mass * mag;
            bj->vx += dx * bi->mass * mag;
            bj->vy += dy * bi->mass * mag;
            bj->vz += dz * bi->mass * mag;
        }
    }
    for (i = 0; i < BODIES; i++) {
        bodies[i].x += dt * bodies[i].vx;
        bodies[i].y += dt * bodies[i].vy;
        bodies[i].z += dt * bodies[i].vz;
    }
}

static NOINLINE double energy(void)
{
    double e = 0.0;
    u32 i, j;
    for (i = 0; i < BODIES; i++) {
        const struct body *bi = &bodies[i];
        e += 0.5 * bi->mass * (bi->vx * bi->vx + bi->vy * bi->vy + bi->vz * bi->vz);
        for (j = i + 1; j < BODIES; j++) {
            const struct body *bj = &bodies[j];
            double dx = bi->x - bj->x, dy = bi->y - bj->y, dz = bi->z - bj->z;
            e -= bi->mass * bj->mass / fp_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

u32 workload(u32 rounds)
{
    u32 r, i, step, h = 0x1B873593u;

    fp_init();
    for (r = 0; r < rounds; r++) {
        double e0, e1;
        start(round_seed(h, r));
        e0 = energy();
        for (step = 0; step < STEPS_PER_ROUND; step++)
            advance(0.01);
        e1 = energy();
        h = mix_double(mix_double(h, e0), e1);
        for (i = 0; i < BODIES; i++)
            h = mix_double(mix_double(mix_double(h, bodies[i].x), bodies[i].y), bodies[i].vz);
        fp_record(0, double_bits(e0));
        fp_record(1, double_bits(e1));
        fp_record(2, double_bits(bodies[1].x));
        fp_record(3, double_bits(bodies[4].vy));
    }
    return mix(h, rounds);
}
