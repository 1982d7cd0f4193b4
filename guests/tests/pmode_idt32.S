/* The faulting instructions of pmode_idt32, each with a label at the
 * instruction and one where the handler resumes execution. */
        .text
        .globl trigger_de, de_insn, de_resume
trigger_de:                     /* returns what the #DE handler put in eax */
        xor %ecx, %ecx
        mov $100, %eax
        xor %edx, %edx
de_insn:
        divl %ecx
de_resume:
        ret

        .globl trigger_ud, ud_insn, ud_resume
trigger_ud:
        mov $1, %eax
ud_insn:
        ud2
ud_resume:
        ret

        .globl trigger_gp, gp_insn, gp_resume
trigger_gp:                     /* loads selector 0x1230 (beyond the GDT) into ds */
        mov $0x1230, %eax
gp_insn:
        mov %eax, %ds
gp_resume:
        mov $0x10, %eax
        mov %eax, %ds
        ret

        .globl trigger_int3, int3_insn
trigger_int3:
        mov $3, %eax
int3_insn:
        int3
        ret

        .globl trigger_int80, int80_insn
trigger_int80:                  /* int trigger_int80(int nr, int arg) */
        push %ebx
        mov 8(%esp), %eax
        mov 12(%esp), %ebx
int80_insn:
        int $0x80
        pop %ebx
        ret

        .section .note.GNU-stack, "", @progbits
