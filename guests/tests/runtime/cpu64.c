#include "cpu64.h"

struct gate64 idt64[32] __attribute__((aligned(16)));

extern u64 isr64_stubs[32];     /* isr64.S: stub address per vector */

void idt64_init(u16 sel)
{
    for (int v = 0; v < 32; v++) {
        u64 off = isr64_stubs[v];
        idt64[v].off0 = off & 0xFFFF;
        idt64[v].sel = sel;
        idt64[v].ist = 0;
        idt64[v].type = 0x8E;           /* present, DPL 0, 64-bit interrupt gate */
        idt64[v].off1 = (off >> 16) & 0xFFFF;
        idt64[v].off2 = off >> 32;
        idt64[v].zero = 0;
    }
    struct { u16 limit; u64 base; } __attribute__((packed)) ptr = { sizeof(idt64) - 1, (u64)idt64 };
    __asm__ volatile("lidt %0" :: "m"(ptr) : "memory");
}
