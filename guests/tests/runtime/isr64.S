/* 64-bit interrupt stubs for vectors 0-31: push a zero error code where the
 * CPU pushes none, push the vector, save the registers, call
 * isr64_dispatch(struct frame64 *) (cpu64.h). */
        .text
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

        .section .note.GNU-stack, "", @progbits
