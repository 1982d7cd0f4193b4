/*
 * Host main of the benchmark programs (built with gcc -O2 together with one
 * program of the suite; pvemu bench does this when gcc is present).
 *
 *   PROG R [R ...]        print "R 0xCHECKSUM" for each R
 *   PROG -t REPEAT R      run R rounds REPEAT times, print "R 0xCHECKSUM SECONDS"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int i;

    if (argc == 4 && strcmp(argv[1], "-t") == 0) {
        int repeat = atoi(argv[2]);
        u32 rounds = (u32)strtoul(argv[3], NULL, 0);
        for (i = 0; i < repeat; i++) {
            double t0 = now();
            u32 sum = workload(rounds);
            double t1 = now();
            printf("%u 0x%08x %.9f\n", rounds, sum, t1 - t0);
        }
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROUNDS [ROUNDS...] | -t REPEAT ROUNDS\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        u32 rounds = (u32)strtoul(argv[i], NULL, 0);
        printf("%u 0x%08x\n", rounds, workload(rounds));
    }
    return 0;
}
