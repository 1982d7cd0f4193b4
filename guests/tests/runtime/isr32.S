/* Interrupt stubs: push a zero error code where the CPU pushes none, push
 * the vector, save the registers, call isr_dispatch(struct frame *). */
        .text
.macro STUB n
isr\n:
        .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17)
        .else
        pushl $0
        .endif
        pushl $\n
        jmp isr_common
.endm

.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,128,129
        STUB \n
.endr

isr_common:
        pusha
        push %ds
        push %es
        push %fs
        push %gs
        mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        cld
        push %esp
        call isr_dispatch
        add $4, %esp
        pop %gs
        pop %fs
        pop %es
        pop %ds
        popa
        add $8, %esp
        iret

        .section .rodata
        .align 4
        .globl isr_stubs
isr_stubs:
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
        .long isr\n
        .endr
        .fill 128 - 48, 4, 0
        .long isr128, isr129
        .fill 256 - 130, 4, 0

        .section .note.GNU-stack, "", @progbits
