/* x86-64 guests: the GDT (with ring-3 segments and a TSS slot that
 * arch64.c fills), the Multiboot entry of guests/tests/runtime/boot64.h,
 * and interrupt stubs for the vectors above 31 that isr64.S lacks. */
#include "boot64.h"

        .data
        .align 16
        .globl gdt
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code (boot) */
        .quad 0x00CF92000000FFFF        /* 0x10: data */
        .quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code */
        .quad 0x00CFF2000000FFFF        /* 0x20: ring-3 data (0x23) */
        .quad 0x00AFFA000000FFFF        /* 0x28: ring-3 64-bit code (0x2B) */
        .quad 0, 0                      /* 0x30: 64-bit TSS */
gdt_end:
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt

        BOOT64 code32=0x08, code64=0x18, data64=0x10, pte=3

/* Same frame as isr64.S's stubs, then into its common path (arch64.c
 * finds the address). */
        .text
.macro XSTUB n
xisr\n:
        pushq $0
        pushq $\n
        jmp *isr64_common_addr(%rip)
.endm
        .irp n, 32,39,128,129
        XSTUB \n
        .endr

        .section .rodata
        .align 8
        .globl xstubs
xstubs: .fill 32, 8, 0
        .quad xisr32
        .fill 6, 8, 0
        .quad xisr39
        .fill 128 - 40, 8, 0
        .quad xisr128, xisr129
        .fill 256 - 130, 8, 0

        .section .note.GNU-stack, "", @progbits
