/* syscall64: Multiboot header, the 32-bit entry that switches to 64-bit
 * mode (as in long64.S), the SYSCALL entry point, the ring-3 side of the
 * system calls, and the 64-bit interrupt stubs.  Assembled as a 64-bit
 * object; the entry is .code32.
 *
 * GDT, laid out for SYSCALL/SYSRET (STAR[47:32] = 0x08, STAR[63:48] = 0x18):
 *   0x08 kernel code (64-bit)   SYSCALL: CS = 0x08, SS = 0x10
 *   0x10 kernel data
 *   0x18 user code (32-bit)     (unused; SYSRET to compatibility mode)
 *   0x20 user data              SYSRET: SS = 0x18 + 8 | 3 = 0x23
 *   0x28 user code (64-bit)     SYSRET: CS = 0x18 + 16 | 3 = 0x2B
 *   0x30 32-bit code for the entry
 *   0x38 64-bit TSS (16 bytes, filled in by syscall64.c)
 *
 * Page tables: pml4[0] -> pdpt[0] -> pd; pd[0] -> pt (0-2 MiB in 4 KiB
 * pages), pd[1] = a 2 MiB page at 0x200000; all identity and user
 * accessible (U set at every level). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

/* struct percpu in syscall64.c */
#define PC_SELF         0
#define PC_KERNEL_RSP   8
#define PC_USER_RSP     16
#define PC_ENTRY_RFLAGS 24

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .data
        .align 16
        .globl gdt
gdt:    .quad 0
        .quad 0x00AF9A000000FFFF        /* 0x08: kernel code, 64-bit */
        .quad 0x00CF92000000FFFF        /* 0x10: kernel data */
        .quad 0x00CFFA000000FFFF        /* 0x18: user code, 32-bit */
        .quad 0x00CFF2000000FFFF        /* 0x20: user data */
        .quad 0x00AFFA000000FFFF        /* 0x28: user code, 64-bit */
        .quad 0x00CF9A000000FFFF        /* 0x30: kernel code, 32-bit */
        .quad 0, 0                      /* 0x38: TSS */
gdt_end:
gdt_ptr:
        .word gdt_end - gdt - 1
        .quad gdt

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
        ljmp $0x30, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss

        mov $pdpt + 7, %eax             /* P, W, U */
        mov %eax, pml4
        mov $pd + 7, %eax
        mov %eax, pdpt
        mov $pt + 7, %eax
        mov %eax, pd
        movl $0x200087, pd + 8          /* 2 MiB page: P, W, U, PS */
        mov $pt, %edi
        mov $7, %eax
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
        or $0x100, %eax                 /* LME (SCE is set later, by the C code) */
        and $~1, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80000000, %eax            /* PG */
        and $~0x40000, %eax             /* AM = 0: EFLAGS.AC never checks alignment */
        mov %eax, %cr0
        ljmp $0x08, $long_entry

        .code64
long_entry:
        mov $0x10, %ax
        mov %ax, %ss
        xor %eax, %eax                  /* null data selectors: 64-bit mode needs none */
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

/* SYSCALL lands here: CPL 0, CS = 0x08, SS = 0x10, RCX = the user's RIP,
 * R11 = the user's RFLAGS, RFLAGS masked by SFMASK, RSP still the user's.
 * GS still has the user's base until swapgs. */
        .globl syscall_entry
syscall_entry:
        swapgs
        mov %rsp, %gs:PC_USER_RSP
        mov %gs:PC_KERNEL_RSP, %rsp
        pushfq                          /* RFLAGS as SYSCALL left it, before any */
        popq %gs:PC_ENTRY_RFLAGS        /* instruction here changes a flag */
        pushq %gs:PC_USER_RSP           /* struct sysframe, from the top down */
        push %r11
        push %rcx
        push %rax
        push %rdi
        push %rsi
        push %rdx
        push %r8
        push %r9
        push %r10
        push %rbx
        push %rbp
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, %rdi                  /* 16 pushes: still 16-byte aligned */
        call syscall_dispatch
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbp
        pop %rbx
        pop %r10
        pop %r9
        pop %r8
        pop %rdx
        pop %rsi
        pop %rdi
        pop %rax
        pop %rcx
        pop %r11
        pop %rsp                        /* the user's stack */
        swapgs
        sysretq

/* enter_user(rip, rsp): the first drop to ring 3, with SYSRET; RFLAGS = 0x202. */
        .globl enter_user
enter_user:
        mov %rdi, %rcx
        mov $0x202, %r11
        mov %rsi, %rsp
        swapgs
        sysretq

/* Ring-3 side.  long do_syscall(nr, a, b): rax = nr, rdi = a, rsi = b;
 * the kernel returns rax, and CF (through R11) set on an error, kept in
 * syscall_cf.  RCX and R11 are clobbered, as the ABI allows. */
        .globl do_syscall, syscall_ret, syscall_cf
do_syscall:
        mov %rdi, %rax
        mov %rsi, %rdi
        mov %rdx, %rsi
        syscall
syscall_ret:
        setc syscall_cf(%rip)
        ret

/* u64 flags_syscall(u64 rflags): loads rflags, makes system call 2 (which
 * returns the kernel's RFLAGS at entry), and keeps RFLAGS as SYSRET
 * restored it (read before any instruction changes a flag) in flags_after;
 * the caller's RFLAGS is restored afterwards. */
        .globl flags_syscall, flags_syscall_ret
flags_syscall:
        pushfq
        push %rdi
        mov $2, %eax
        popfq
        syscall
flags_syscall_ret:
        pushfq
        popq flags_after(%rip)
        popfq
        ret

/* Privileged instructions that fault in ring 3, with resume labels. */
        .globl user_swapgs, user_swapgs_end, user_sysret, user_sysret_end
user_swapgs_test:
user_swapgs:
        swapgs
user_swapgs_end:
        ret
        .globl user_swapgs_test, user_sysret_test
user_sysret_test:
user_sysret:
        sysretq
user_sysret_end:
        ret

/* The kernel-mode SYSCALL with EFER.SCE = 0: #UD. */
        .globl syscall_nosce, syscall_nosce_insn, syscall_nosce_end
syscall_nosce:
syscall_nosce_insn:
        syscall
syscall_nosce_end:
        ret

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
        .globl syscall_cf, flags_after
syscall_cf: .byte 0
        .align 8
flags_after: .quad 0

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
