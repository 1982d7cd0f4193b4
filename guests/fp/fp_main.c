/*
 * Host main of the floating-point programs: the integer suite's
 * native_main.c (checksums, timing; found on the include path), plus
 *
 *   PROG -o R             print "R 0xCHECKSUM" and the recorded results of
 *                         the last round (fp_out, fp.h), each as 0x%016llx
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp.h"

#define main suite_main
#include "native_main.c"
#undef main

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "-o") == 0) {
        u32 rounds = (u32)strtoul(argv[2], NULL, 0);
        u32 sum = workload(rounds), i;
        printf("%u 0x%08x", rounds, sum);
        for (i = 0; i < fp_out_count; i++)
            printf(" 0x%016llx", fp_out[i]);
        printf("\n");
        return 0;
    }
    return suite_main(argc, argv);
}
