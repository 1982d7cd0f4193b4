/* tasks32: the assembly side. Switch points in the main task (each loads
 * known values into EAX/EBX/ESI/EDI/EBP, does the switch, and stores what
 * it finds afterwards in regs_after[]), and the entry points of the tasks. */
        .text

/* SWITCH name, insn...: u32 name(void) returns EAX after the switch. */
.macro SWITCH name, insn:vararg
        .globl \name, \name\()_at, \name\()_resume
\name:
        push %ebx
        push %esi
        push %edi
        push %ebp
        mov $0x11111111, %ebx
        mov $0x22222222, %esi
        mov $0x33333333, %edi
        mov $0x44444444, %ebp
        mov $0x12341230, %eax     /* AX = 0x1230: a selector beyond the GDT */
\name\()_at:
        \insn
\name\()_resume:
        mov %eax, regs_after
        mov %ebx, regs_after+4
        mov %esi, regs_after+8
        mov %edi, regs_after+12
        mov %ebp, regs_after+16
        pop %ebp
        pop %edi
        pop %esi
        pop %ebx
        ret
.endm

        SWITCH sw_jmp_a, ljmp $0x20, $0
        SWITCH sw_call_b, lcall $0x28, $0
        SWITCH sw_int81, int $0x81
        SWITCH sw_gp_selector, mov %ax, %ds
        SWITCH sw_gp_busy, ljmp $0x18, $0
        SWITCH sw_df, mov %ax, %fs

/* Task entry points: pass the registers the task started with to C. */
.macro ENTRY name
        .globl \name\()_entry
\name\()_entry:
        pusha
        push %esp
        call \name\()_main
        ud2
.endm
        ENTRY task_a
        ENTRY task_b
        ENTRY task_c

/* Exception tasks: the error code is on the new task's stack. */
.macro EXC_ENTRY name
        .globl \name\()_entry
\name\()_entry:
        pop %eax
        push %esp
        push %eax
        call \name\()_main
        add $8, %esp
        iret
        jmp \name\()_entry
.endm
        EXC_ENTRY task_gp
        EXC_ENTRY task_df

        .bss
        .globl regs_after
regs_after:
        .skip 20

        .section .note.GNU-stack, "", @progbits
