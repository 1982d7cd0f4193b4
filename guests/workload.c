/* workload: the reference integer workload (guests/workload/workload.c,
 * linked in) run as a kernel; rounds=N on the command line (default 10).
 * The checksum matches emu/images/workload.json's for the same rounds. */
#include "guest.h"

const char guest_name[] = "workload";
u32 workload(u32 rounds);

int guest_main(void)
{
    u32 rounds = cmdline_uint("rounds", 10);
    struct pvemu_runstate_info a, b;
    runstate(&a);
    u64 t0 = rdtsc();
    u32 sum = workload(rounds);
    u64 t1 = rdtsc();
    runstate(&b);
    printk("workload: %u rounds, checksum 0x%08x\n", rounds, sum);
    printk("~ tsc %llu, exits %llu\n", t1 - t0, (u64)(b.exits - a.exits));
    return 0;
}
