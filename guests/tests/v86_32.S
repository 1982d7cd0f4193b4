/* v86_32: entering virtual-8086 mode with IRET, leaving it from the
 * monitor, and the real-mode-style code run in v86 (copied to 2000:0000). */
        .text
/* u32 enter_v86(const u32 f[9]): f = {eip, cs, eflags, esp, ss, es, ds, fs, gs}.
 * Returns the value passed to v86_exit. General registers start at 0. */
        .globl enter_v86, v86_exit
enter_v86:
        push %ebp
        push %ebx
        push %esi
        push %edi
        mov %esp, v86_saved_esp
        mov 20(%esp), %esi
        pushl 32(%esi)          /* gs */
        pushl 28(%esi)          /* fs */
        pushl 24(%esi)          /* ds */
        pushl 20(%esi)          /* es */
        pushl 16(%esi)          /* ss */
        pushl 12(%esi)          /* esp */
        pushl 8(%esi)           /* eflags */
        pushl 4(%esi)           /* cs */
        pushl 0(%esi)           /* eip */
        xor %eax, %eax
        xor %ebx, %ebx
        xor %ecx, %ecx
        xor %edx, %edx
        xor %esi, %esi
        xor %edi, %edi
        xor %ebp, %ebp
        iret
/* void v86_exit(u32 v): from a handler on the ring-0 stack, return v from
 * enter_v86. */
v86_exit:
        mov 4(%esp), %eax
        mov v86_saved_esp, %esp
        pop %edi
        pop %esi
        pop %ebx
        pop %ebp
        ret

        .bss
v86_saved_esp: .long 0

/* The v86 code: position-independent within its segment (offsets from
 * v86_blob).  DS=1234 ES=1235 FS=results GS=2000 SS:SP=3000:1000 on entry. */
        .section .rodata
        .globl v86_blob, v86_blob_end, v86_iopl0_off, v86_iopl3_off
        .globl v86_off_cli, v86_off_int40, v86_off_int80a, v86_off_int80b
#define OFF(l) (l - v86_blob)
        .code16
v86_blob:
common:
        movw $0xBEEF, (0x10)    /* 1234:0010 = linear 0x12350 */
        mov %es:(0), %ax        /* 1235:0000 = linear 0x12350 */
        mov %ax, %fs:(0)
        movw $0x1111, %gs:(OFF(scratch) + 0x10)
        mov $0x2001, %bx
        mov %bx, %gs            /* 2001:scratch = 2000:scratch+0x10 */
        mov %gs:(OFF(scratch)), %ax
        mov %ax, %fs:(2)
        mov $0x2000, %bx
        mov %bx, %gs
1:      cli                     /* IOPL-sensitive */
        sti
        pushf
        pop %ax
        mov %ax, %fs:(4)
        pushw $0x0A01           /* OF, IF, CF */
        popf
        sbb %ax, %ax            /* 0xFFFF if CF was set */
        mov %ax, %fs:(6)
        pushf
        pop %ax
        mov %ax, %fs:(8)
        cli
        mov $0x0041, %ax
        int $0x21
        mov %ax, %fs:(10)
        pushw $0x0002           /* a real-mode iret frame: flags, cs, ip */
        pushw %cs
        pushw $OFF(2f)
        iret
        mov $0xDEAD, %ax
2:      mov %ax, %fs:(12)       /* still 0x0142 (or DEAD if iret fell through) */
        mov $0x3FF, %dx         /* allowed by the I/O bitmap (UART scratch) */
        mov $0x5A, %al
        out %al, %dx
        xor %al, %al
        in %dx, %al
        mov %al, %fs:(14)
        mov $0x3FE, %dx         /* not allowed */
        mov $0x11, %al
        in %dx, %al
        mov %al, %fs:(15)
        out %al, $0x80          /* not allowed */
        mov %sp, %ax
        mov %ax, %fs:(16)
        ret

v86_iopl0:
        call common
        int $0x31               /* #GP at IOPL 0: the monitor ends the run */
        hlt

v86_iopl3:
        call common
        mov $0x4040, %ax
v86_int40:
        int $0x40               /* gate DPL 0: #GP(0x40 * 8 + 2) */
        mov $1, %ax
        mov $0x7777, %si
v86_int80a:
        int $0x80               /* gate DPL 3: to the 32-bit handler and back */
        mov %ax, %fs:(18)
        mov %ds, %ax
        mov %ax, %fs:(20)
        mov %es, %ax
        mov %ax, %fs:(22)
        mov %si, %fs:(24)
        mov $2, %ax
v86_int80b:
        int $0x80               /* the handler ends the run */
        hlt

scratch: .word 0
        .fill 0x20, 1, 0
v86_blob_end:
        .code32
        .align 4
v86_iopl0_off: .long OFF(v86_iopl0)
v86_iopl3_off: .long OFF(v86_iopl3)
v86_off_cli:   .long OFF(1b)
v86_off_int40: .long OFF(v86_int40)
v86_off_int80a: .long OFF(v86_int80a)
v86_off_int80b: .long OFF(v86_int80b)

        .section .note.GNU-stack, "", @progbits
