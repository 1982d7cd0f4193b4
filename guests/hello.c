/* hello: the smallest bundled guest.  Boots, prints which pv_ops backend
 * it chose and a few facts (lines starting "~ " differ between machines),
 * and exits 0. */
#include "guest.h"

const char guest_name[] = "hello";

int guest_main(void)
{
    struct pvemu_cpu_regs r;
    char vendor[13];
    pv_ops.cpu.cpuid(0, 0, &r);
    memcpy(vendor, &r.ebx, 4);
    memcpy(vendor + 4, &r.edx, 4);
    memcpy(vendor + 8, &r.ecx, 4);
    vendor[12] = 0;
    printk("hello from a pvemu bundled guest\n");
    printk("~ memory: %u KiB (Multiboot mem_lower %u, mem_upper %u)\n",
           (u32)(mem_end >> 10), mbi->mem_lower, mbi->mem_upper);
    printk("~ cpu vendor: %s\n", vendor);
    if (pv_detect())
        printk("~ domain id: %u\n", pv_domid);
    printk("paging: on, cr0.pg=%u\n", (u32)(pv_ops.cpu.read_cr0() >> 31));
    printk("goodbye\n");
    return 0;
}
