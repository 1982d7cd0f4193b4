/* 64-bit (long-mode) helpers: the interrupt frame of isr64.S and a 32-entry
 * IDT whose gates lead to isr64_dispatch, which each 64-bit kernel defines. */
#ifndef CPU64_H
#define CPU64_H
#include "rt.h"

/* What isr64.S pushes, lowest address first. */
struct frame64 {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
    u64 vector, err, rip, cs, rflags, rsp, ss;
};

struct gate64 { u16 off0, sel; u8 ist, type; u16 off1; u32 off2, zero; };

extern struct gate64 idt64[32];

/* Fill idt64 with present, DPL-0, 64-bit interrupt gates (code selector
 * sel) for vectors 0-31 and load it.  Gates can be changed afterwards. */
void idt64_init(u16 sel);
/* Defined by the kernel: called by every stub of isr64.S. */
void isr64_dispatch(struct frame64 *f);

#endif
