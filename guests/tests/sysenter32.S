/* sysenter32: the kernel's SYSENTER entry point and the ring-3 side of the
 * system calls.
 *
 * Convention (the kernel hands back what SYSENTER leaves alone): eax = the
 * call number, ebx and esi = arguments, edx = where to return, ecx = the
 * user's esp; the kernel returns eax, with SYSEXIT to edx:ecx, and every
 * flag restored (IF set again with sti, as SYSENTER clears it). */
        .text

/* SYSENTER lands here: CPL 0, CS = SYSENTER_CS (0x08), SS = CS + 8,
 * esp = SYSENTER_ESP, EFLAGS with IF (and VM, RF) cleared. */
        .globl sysenter_entry
sysenter_entry:
        pushfl                          /* struct sysframe, from the top down */
        push %edx
        push %ecx
        push %esi
        push %ebx
        push %eax
        cld
        push %esp
        call sysenter_dispatch
        add $4, %esp
        pop %eax
        pop %ebx
        pop %esi
        pop %ecx
        pop %edx
        popfl                           /* the user's flags, IF=0 */
        sti                             /* (takes effect after sysexit) */
        sysexit

/* u32 sysenter_call(u32 nr, u32 a, u32 b), in ring 3 */
        .globl sysenter_call, sysenter_insn, sysenter_ret
sysenter_call:
        push %ebx
        push %esi
        mov 12(%esp), %eax
        mov 16(%esp), %ebx
        mov 20(%esp), %esi
        mov $sysenter_ret, %edx
        mov %esp, %ecx
sysenter_insn:
        sysenter
sysenter_ret:
        pop %esi
        pop %ebx
        ret

/* u32 flags_sysenter(u32 eflags): loads eflags, makes system call 2 (which
 * returns the kernel's EFLAGS at entry) and keeps EFLAGS after SYSEXIT
 * (read before any instruction changes a flag) in flags_after; restores
 * the caller's flags. */
        .globl flags_sysenter, flags_sysenter_ret
flags_sysenter:
        push %ebx
        push %esi
        pushfl
        pushl 16(%esp)
        popfl
        mov $2, %eax
        mov $flags_sysenter_ret, %edx
        mov %esp, %ecx
        sysenter
flags_sysenter_ret:
        pushfl
        popl flags_after
        popfl
        pop %esi
        pop %ebx
        ret

/* SYSEXIT in ring 3: #GP(0). */
        .globl user_sysexit_test, user_sysexit, user_sysexit_end
user_sysexit_test:
user_sysexit:
        sysexit
user_sysexit_end:
        ret

        .data
        .align 4
        .globl flags_after
flags_after: .long 0

        .section .note.GNU-stack, "", @progbits
