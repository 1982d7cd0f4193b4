/* Assembler only: BOOT64, the Multiboot header and the 32-bit entry of a
 * 64-bit kernel, which switches to 64-bit mode and calls
 * kmain64(magic, info), passing its result to qemu_exit.
 *
 *   BOOT64 code32, code64, data64, pte
 *
 * The kernel defines the GDT and gdt_ptr (32-bit base is enough here).
 * code32 and code64 are its 32- and 64-bit code selectors; the kernel data
 * selector is 0x10 (loaded into SS in 64-bit mode, data64 into DS, ES, FS
 * and GS).  EFER.SCE and CR0.AM are cleared.
 *
 * Page tables (4-level, globals pml4, pdpt, pd, pt): pml4[0] -> pdpt,
 * pdpt[0] -> pd, pd[0] -> pt (512 4 KiB pages: 0-2 MiB identity), pd[1] =
 * 2 MiB page at 0x200000 (identity); every entry has the flags pte
 * (3: P, W; 7: P, W, U).  Everything else is not present. */
#ifndef BOOT64_H
#define BOOT64_H
#include "segs.h"

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

.macro BOOT64 code32, code64, data64, pte
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl _start
_start:
        cli
        cld
        mov $stack_top, %esp
        mov %eax, mb_magic
        mov %ebx, mb_info
        lgdt gdt_ptr
        ljmp $\code32, $1f
1:      SET_DATA_SEGS 0x10

        mov $pdpt + \pte, %eax
        mov %eax, pml4
        mov $pd + \pte, %eax
        mov %eax, pdpt
        mov $pt + \pte, %eax
        mov %eax, pd
        movl $0x200080 + \pte, pd + 8   /* 2 MiB page: PS */
        mov $pt, %edi
        mov $\pte, %eax
        mov $512, %ecx
2:      mov %eax, (%edi)
        add $0x1000, %eax
        add $8, %edi
        loop 2b

        mov %cr4, %eax
        or $0x20, %eax                  /* PAE */
        mov %eax, %cr4
        mov $pml4, %eax
        mov %eax, %cr3
        mov $0xC0000080, %ecx           /* EFER */
        rdmsr
        or $0x100, %eax                 /* LME */
        and $~1, %eax                   /* SCE = 0 */
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax            /* PG */
        and $~0x40000, %eax             /* AM = 0: EFLAGS.AC never checks alignment */
        mov %eax, %cr0
        ljmp $\code64, $long_entry

        .code64
long_entry:
        mov $0x10, %ax
        mov %ax, %ss
        mov $\data64, %eax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov $stack_top, %rsp
        mov mb_magic(%rip), %edi
        mov mb_info(%rip), %esi
        call kmain64
        mov %eax, %edi
        call qemu_exit

        .data
        .align 4
mb_magic: .long 0
mb_info:  .long 0

        .bss
        .align 4096
        .globl pml4, pdpt, pd, pt
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4096
pt:     .skip 4096
        .align 16
stack:  .skip 16384
stack_top:
        .text
.endm

#endif
