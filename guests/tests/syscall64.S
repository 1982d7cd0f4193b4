/* syscall64: the GDT, the SYSCALL entry point and the ring-3 side of the
 * system calls.  The Multiboot header and the 32-bit entry that switches to
 * 64-bit mode are runtime/boot64.h, the 64-bit interrupt stubs
 * runtime/isr64.S.  Assembled as a 64-bit object; the entry is .code32.
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
 * Page tables: those of boot64.h, user accessible (U set at every level);
 * data segment registers null in 64-bit mode. */
#include "boot64.h"

/* struct percpu in syscall64.c */
#define PC_SELF         0
#define PC_KERNEL_RSP   8
#define PC_USER_RSP     16
#define PC_ENTRY_RFLAGS 24

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

        BOOT64 code32=0x30, code64=0x08, data64=0, pte=7

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

        .data
        .globl syscall_cf, flags_after
syscall_cf: .byte 0
        .align 8
flags_after: .quad 0

        .section .note.GNU-stack, "", @progbits
