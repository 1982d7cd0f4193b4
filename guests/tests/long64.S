/* long64: the GDT, and the Multiboot header and 32-bit entry that switches
 * to 64-bit mode (runtime/boot64.h; the 64-bit interrupt stubs are
 * runtime/isr64.S).  Assembled as a 64-bit object; the entry is .code32.
 * The linked ELF64 is converted to ELF32 for -kernel.  Page tables: those
 * of boot64.h, supervisor only. */
#include "boot64.h"

        .section .rodata
        .align 16
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code */
        .quad 0x00CF92000000FFFF        /* 0x10: data */
        .quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code (L=1, D=0) */
gdt_end:
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt

        BOOT64 code32=0x08, code64=0x18, data64=0x10, pte=3

        .section .note.GNU-stack, "", @progbits
