/* long64: Multiboot header, the 32-bit entry that switches to 64-bit mode,
 * and the 64-bit interrupt stubs.  Assembled as a 64-bit object; the entry
 * is .code32.  The linked ELF64 is converted to ELF32 for -kernel.
 *
 * Page tables (4-level): pml4[0] -> pdpt, pdpt[0] -> pd, pd[0] -> pt
 * (512 4 KiB pages: 0-2 MiB identity), pd[1] = 2 MiB page at 0x200000
 * (identity).  Everything else is not present. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

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
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss

        mov $pdpt + 3, %eax
        mov %eax, pml4
        mov $pd + 3, %eax
        mov %eax, pdpt
        mov $pt + 3, %eax
        mov %eax, pd
        movl $0x200083, pd + 8          /* 2 MiB page: P, W, PS */
        mov $pt, %edi
        mov $3, %eax                    /* P, W */
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
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax            /* PG */
        mov %eax, %cr0
        ljmp $0x18, $long_entry

        .code64
long_entry:
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $stack_top, %rsp
        mov mb_magic(%rip), %edi
        mov mb_info(%rip), %esi
        call kmain64
        mov %eax, %edi
        call qemu_exit

/* 64-bit interrupt stubs -> isr64_dispatch(struct frame64 *) */
.macro STUB n
isr64_\n:
        .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17)
        .else
        pushq $0
        .endif
        pushq $\n
        jmp isr64_common
.endm
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        STUB \n
.endr

isr64_common:
        push %rax
        push %rcx
        push %rdx
        push %rbx
        push %rbp
        push %rsi
        push %rdi
        push %r8
        push %r9
        push %r10
        push %r11
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, %rdi
        cld
        call isr64_dispatch
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %r11
        pop %r10
        pop %r9
        pop %r8
        pop %rdi
        pop %rsi
        pop %rbp
        pop %rbx
        pop %rdx
        pop %rcx
        pop %rax
        add $16, %rsp
        iretq

        .section .rodata
        .align 8
        .globl isr64_stubs
isr64_stubs:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad isr64_\n
.endr

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

        .section .note.GNU-stack, "", @progbits
