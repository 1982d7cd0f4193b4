/* modes64: the mode switches (see modes64.c).  m_start .. m_end is copied
 * to MODES_BASE = 0x8000 and runs there: in real mode with CS = DS = 0x0800
 * and offsets from m_start, in protected and long mode with flat segments
 * and linear addresses MODES_BASE + offset (LIN).  Page tables for long
 * mode: PML4 at 0x10000, PDPT at 0x11000, PD at 0x12000, identity-mapping
 * the first 4 MiB with 2 MiB pages. */
#define MODES_BASE 0x8000
#define MODES_SEG  (MODES_BASE >> 4)
#define OFF(x)  ((x) - m_start)
#define LIN(x)  (MODES_BASE + OFF(x))
#define COM1    0x3F8

#include "segs.h"

        .data
        .align 8
boot_gdt:
        .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: code, 32-bit, flat */
        .quad 0x00CF92000000FFFF        /* 0x10: data, flat */
        .quad 0x00009A008000FFFF        /* 0x18: code, 16-bit, base MODES_BASE */
        .quad 0x000092000000FFFF        /* 0x20: data, 16-bit, base 0, 64 KiB */
boot_gdt_end:
boot_gdt_ptr:
        .word boot_gdt_end - boot_gdt - 1
        .long boot_gdt

        .text
        .code32
        .globl m_gdt_init
m_gdt_init:
        lgdt boot_gdt_ptr
        ljmp $0x08, $1f
1:      SET_DATA_SEGS 0x10
        ret

        .globl m_go
m_go:
        cli
        ljmp $0x18, $OFF(m_pm16)

/* ---- copied to MODES_BASE ---- */
/* putcN: print AL; putsN: the NUL-terminated string at (E/R)SI; hexN:
 * (E/R)AX as DIGITS hex digits.  One copy per code size. */
.macro PRINT_FUNCS sfx, ax, cx, dx, digits
putc\sfx:
        push \dx
        push \ax
        mov $COM1 + 5, %dx
1:      in %dx, %al
        test $0x20, %al
        jz 1b
        pop \ax
        mov $COM1, %dx
        out %al, %dx
        pop \dx
        ret
puts\sfx:
1:      lodsb
        test %al, %al
        jz 2f
        call putc\sfx
        jmp 1b
2:      ret
hex\sfx:
        mov $\digits, \cx
1:      rol $4, \ax
        push \ax
        and $0xF, %al
        add $'0', %al
        cmp $'9', %al
        jbe 2f
        add $7, %al
2:      call putc\sfx
        pop \ax
        loop 1b
        ret
.endm

.macro SAY16 msg
        mov $OFF(\msg), %si
        call puts16
.endm
.macro SAY32 msg
        mov $LIN(\msg), %esi
        call puts32
.endm
.macro SAY64 msg
        mov $LIN(\msg), %esi
        call puts64
.endm

        .code16
        .globl m_start, m_end
m_start:
m_pm16:                                 /* 16-bit protected mode, CS base MODES_BASE */
        DROP_TO_REAL MODES_SEG, m_start /* to real mode, DS = ES = MODES_SEG */
        SAY16 msg_real
        mov %cs, %ax
        call hex16
        SAY16 msg_pe
        smsw %ax
        and $1, %ax
        call hex16
        /* segment:offset: a STOSW through 0fff:0013, a load through 1000:0003 */
        mov $0x0FFF, %ax
        mov %ax, %es
        mov $0x0013, %di
        mov $0xC0DE, %ax
        stosw
        push %ds
        mov $0x1000, %bx
        mov %bx, %ds
        mov 0x0003, %bx
        pop %ds
        SAY16 msg_alias
        mov %bx, %ax
        call hex16
        SAY16 msg_nl
        /* as after reset: a GDT loaded in real mode, CR0.PE, a far jump */
        lgdtl %cs:OFF(gdt_ptr)
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $0x08, $LIN(pm32)

        PRINT_FUNCS 16, %ax, %cx, %dx, 4

        .code32
pm32:                                   /* 32-bit protected mode, flat */
        SET_DATA_SEGS 0x10
        cld
        mov $0x7000, %esp
        SAY32 msg_pm
        mov %cs, %eax
        call hex32
        SAY32 msg_pe
        mov %cr0, %eax
        and $1, %eax
        call hex32
        mov $LIN(msg_mb), %esi          /* beyond 1 MiB: the Multiboot header */
        call puts32
        mov 0x100000, %eax
        call hex32
        SAY32 msg_nl
        /* page tables: PML4 0x20000 -> PDPT 0x21000 -> PD 0x22000, 2 MiB pages */
        mov $0x20000, %edi
        xor %eax, %eax
        mov $3 * 1024, %ecx
        rep stosl
        movl $0x21003, 0x20000
        movl $0x22003, 0x21000
        movl $0x000083, 0x22000
        movl $0x200083, 0x22008
        mov %cr4, %eax
        or $0x20, %eax                  /* PAE */
        mov %eax, %cr4
        mov $0x20000, %eax
        mov %eax, %cr3
        mov $0xC0000080, %ecx           /* EFER.LME */
        rdmsr
        or $0x100, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax            /* PG: long mode is active (compatibility mode) */
        mov %eax, %cr0
        ljmp $0x18, $LIN(lm64)

        PRINT_FUNCS 32, %eax, %ecx, %edx, 8

        .code64
lm64:                                   /* 64-bit mode */
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %ss
        mov $0x7000, %rsp
        lea msg_lm(%rip), %rsi          /* RIP-relative */
        call puts64
        mov %cs, %eax
        call hex64
        SAY64 msg_efer
        mov $0xC0000080, %ecx
        rdmsr
        and $0x500, %eax                /* LME, LMA */
        call hex64
        SAY64 msg_nl
        SAY64 msg_mul
        mov $0x0123456789ABCDEF, %rax
        mov $0x100000003, %rbx
        imul %rbx, %rax
        call hex64
        SAY64 msg_nl
        SAY64 msg_done
        xor %eax, %eax                  /* isa-debug-exit: success */
        out %al, $0xF4
1:      cli
        hlt
        jmp 1b

        PRINT_FUNCS 64, %rax, %rcx, %rdx, 16

        .align 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: code, 32-bit, flat */
        .quad 0x00CF92000000FFFF        /* 0x10: data, flat */
        .quad 0x00AF9A000000FFFF        /* 0x18: code, 64-bit */
gdt_end:
gdt_ptr:
        .word gdt_end - gdt - 1
        .long LIN(gdt)
ivt_ptr:
        .word 0x3FF
        .long 0

msg_real:  .asciz "real mode: cs=0x"
msg_pe:    .asciz " cr0.pe="
msg_alias: .asciz " 1000:0003 after a store to 0fff:0013=0x"
msg_pm:    .asciz "protected mode (GDT loaded in real mode): cs=0x"
msg_mb:    .asciz " [0x100000]=0x"
msg_lm:    .asciz "long mode: cs=0x"
msg_efer:  .asciz " efer&0x500=0x"
msg_mul:   .asciz "0x0123456789abcdef * 0x100000003=0x"
msg_nl:    .asciz "\n"
msg_done:  .asciz "done\n"
m_end:

        .section .note.GNU-stack, "", @progbits
