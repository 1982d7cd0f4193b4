/* realmode16: the GDT, the switches between protected and real mode, and
 * the real-mode code.
 *
 * The real-mode code (rm_start .. rm_end) is position independent within
 * its segment: realmode16.c copies it to RM_BASE = 0x8000, where it runs
 * with CS = DS = 0x0800 and offsets relative to rm_start.  Way down:
 * 32-bit code far-jumps to a 16-bit protected-mode code segment whose base
 * is RM_BASE, loads every data segment register with a 16-bit, 64 KiB,
 * base-0 descriptor (so that nothing depends on what real mode does to the
 * hidden limits), loads the real-mode IVT (base 0, limit 0x3FF), clears
 * CR0.PE and far-jumps to real mode at 0x0800 (DROP_TO_REAL).  Way back: sets CR0.PE and
 * far-jumps (32-bit offset) to pm_back with the 32-bit code selector. */
#define RM_BASE 0x8000
#define RM_SEG  (RM_BASE >> 4)
#define OFF(x)  ((x) - rm_start)

#include "segs.h"

/* Real-mode printing: PUTS16 msg prints the string msg; HEX16 msg, src
 * prints msg, then src (moved to AX) as 4 hex digits. */
.macro PUTS16 msg
        mov $OFF(\msg), %si
        call puts16
.endm
.macro HEX16 msg, src
        PUTS16 \msg
        mov \src, %ax
        call hex16
.endm

        .data
        .align 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        /* 0x08: code, 32-bit, flat */
        .quad 0x00CF92000000FFFF        /* 0x10: data, flat */
        .quad 0x00009A008000FFFF        /* 0x18: code, 16-bit, base RM_BASE, 64 KiB */
        .quad 0x000092000000FFFF        /* 0x20: data, 16-bit, base 0, 64 KiB */
gdt_end:
gdt_ptr:
        .word gdt_end - gdt - 1
        .long gdt
saved_esp:
        .long 0
saved_idt:
        .word 0
        .long 0

        .text
        .code32
/* void rm_gdt_init(void): load this GDT, reload the segment registers. */
        .globl rm_gdt_init
rm_gdt_init:
        lgdt gdt_ptr
        ljmp $0x08, $1f
1:      SET_DATA_SEGS 0x10
        ret

/* void call_real_mode(void): run the real-mode code (copied to RM_BASE),
 * with interrupts disabled, and come back. */
        .globl call_real_mode
call_real_mode:
        pushf
        pusha
        cli
        sidt saved_idt
        mov %esp, saved_esp
        ljmp $0x18, $OFF(rm_pm16)

pm_back:                                /* 32-bit protected mode again */
        SET_DATA_SEGS 0x10
        mov saved_esp, %esp
        lidt saved_idt
        popa
        popf
        ret

/* ---- copied to RM_BASE ---- */
        .code16
        .globl rm_start, rm_end
rm_start:
rm_pm16:                                /* 16-bit protected mode, CS base RM_BASE */
        DROP_TO_REAL RM_SEG, rm_start   /* to real mode, DS = ES = RM_SEG */

        HEX16 msg_hello, %cs
        HEX16 msg_ds, %ds
        HEX16 msg_ss, %ss
        HEX16 msg_sp, %sp
        PUTS16 msg_pe
        smsw %ax
        and $1, %ax
        call hex16
        PUTS16 msg_nl

        /* Install the handlers of int 0x60 and of #DE (vector 0) in the IVT. */
        xor %ax, %ax
        mov %ax, %es
        movw $OFF(isr60), %es:0x60 * 4
        movw $RM_SEG, %es:0x60 * 4 + 2
        movw $OFF(isr_de), %es:0
        movw $RM_SEG, %es:2
        mov $RM_SEG, %ax
        mov %ax, %es
        PUTS16 msg_ivt

        /* int 0x60 with IF=1 (the 8259s are masked): ax + bx, CF set in the
         * returned flags */
        mov $0x1234, %ax
        mov $0x1111, %bx
        sti
        clc
        int $0x60
int60_ret:
        sbb %cx, %cx                    /* cx = -CF */
        pushf
        cli
        pop %di                         /* IF after iret: restored */
        mov %ax, %bx
        HEX16 msg_int60, %bx
        PUTS16 msg_cf
        mov %cx, %ax
        and $1, %ax
        call hex16
        HEX16 msg_frame, isr60_frame_ok-rm_start
        HEX16 msg_flags, isr60_if_tf-rm_start
        PUTS16 msg_after
        mov %di, %ax
        and $0x200, %ax
        call hex16
        PUTS16 msg_nl

        /* #DE: the handler sees the address of the div, and skips it. */
        mov $100, %ax
        xor %bl, %bl
div_insn:
        div %bl                         /* 2 bytes: F6 F3 */
        HEX16 msg_de, de_ip_ok-rm_start
        PUTS16 msg_nl

        /* segment:offset: write through 1234:0005, read through 1000:2345 */
        mov $0x1234, %ax
        mov %ax, %es
        movw $0xBEEF, %es:0x0005
        mov $0x1000, %ax
        mov %ax, %fs
        mov %fs:0x2345, %dx
        mov $RM_SEG, %ax
        mov %ax, %es
        HEX16 msg_alias, %dx
        PUTS16 msg_nl

        /* ffff:0010 is linear 0x100000 (A20 on): the Multiboot header magic */
        mov $0xFFFF, %ax
        mov %ax, %gs
        mov %gs:0x10, %eax
        PUTS16 msg_a20
        push %eax
        shr $16, %eax
        call hex16
        pop %eax
        call hex16
        PUTS16 msg_nl

        /* a far call to the same code through another segment: 07f0:(x + 0x100) */
        lcall $RM_SEG - 0x10, $OFF(far_fn) + 0x100
        HEX16 msg_far, far_cs-rm_start
        PUTS16 msg_nl

        PUTS16 msg_back

        /* back to protected mode */
        mov %cr0, %eax
        or $1, %eax
        mov %eax, %cr0
        ljmpl $0x08, $pm_back

far_fn:                                 /* runs with CS = RM_SEG - 0x10 */
        mov %cs, %ax
        mov %ax, far_cs-rm_start
        lret

/* int 0x60: ax += bx; checks its frame (IP = int60_ret, CS = RM_SEG) and
 * that IF and TF are clear; returns with CF set in the saved FLAGS. */
isr60:
        push %bp
        mov %sp, %bp
        push %ax
        xor %ax, %ax
        cmpw $OFF(int60_ret), 2(%bp)
        jne 1f
        cmpw $RM_SEG, 4(%bp)
        jne 1f
        inc %ax
1:      mov %ax, isr60_frame_ok-rm_start
        pushf
        pop %ax
        and $0x300, %ax                 /* IF TF */
        mov %ax, isr60_if_tf-rm_start
        pop %ax
        add %bx, %ax
        orw $1, 6(%bp)                  /* CF in the caller's FLAGS */
        pop %bp
        iret

/* #DE: a fault, so the saved IP is the div itself; skip its 2 bytes. */
isr_de:
        push %bp
        mov %sp, %bp
        push %ax
        xor %ax, %ax
        cmpw $OFF(div_insn), 2(%bp)
        jne 1f
        inc %ax
1:      mov %ax, de_ip_ok-rm_start
        addw $2, 2(%bp)
        pop %ax
        pop %bp
        iret

/* puts16: print the string at ds:si on COM1 (polled) */
puts16:
        push %ax
        push %dx
        push %si
1:      lodsb
        test %al, %al
        jz 3f
        mov %al, %ah
        mov $0x3FD, %dx
2:      in %dx, %al
        test $0x20, %al
        jz 2b
        mov %ah, %al
        mov $0x3F8, %dx
        out %al, %dx
        jmp 1b
3:      pop %si
        pop %dx
        pop %ax
        ret

/* hex16: print ax as 4 hex digits */
hex16:
        push %ax
        push %bx
        push %cx
        push %si
        mov %ax, %bx
        mov $4, %cx
1:      rol $4, %bx
        mov %bx, %ax
        and $0xF, %ax
        mov %ax, %si
        mov hexdigits - rm_start(%si), %al
        mov %al, hexbuf-rm_start
        mov $OFF(hexbuf), %si
        call puts16
        loop 1b
        pop %si
        pop %cx
        pop %bx
        pop %ax
        ret

ivt_ptr:
        .word 0x3FF
        .long 0
        .globl isr60_frame_ok, isr60_if_tf, de_ip_ok, far_cs
isr60_frame_ok: .word 0
isr60_if_tf:    .word 0xFFFF
de_ip_ok:       .word 0
far_cs:         .word 0
hexbuf:         .byte 0, 0
hexdigits:      .ascii "0123456789abcdef"
msg_hello:      .asciz "real mode: cs="
msg_ds:         .asciz " ds="
msg_ss:         .asciz " ss="
msg_sp:         .asciz " sp="
msg_pe:         .asciz " cr0.pe="
msg_nl:         .asciz "\n"
msg_ivt:        .asciz "installed int 0x60 and #DE handlers in the IVT at 0000:0000\n"
msg_int60:      .asciz "int 0x60: 1234 + 1111 = "
msg_cf:         .asciz " cf="
msg_frame:      .asciz " frame ok="
msg_flags:      .asciz " if|tf in the handler="
msg_after:      .asciz " if after iret="
msg_de:         .asciz "#DE: saved ip is the div="
msg_alias:      .asciz "wrote beef at 1234:0005, read at 1000:2345: "
msg_a20:        .asciz "dword at ffff:0010 (linear 0x100000): "
msg_far:        .asciz "far call through 07f0: cs in the callee="
msg_back:       .asciz "back to protected mode\n"
rm_end:

        .section .note.GNU-stack, "", @progbits
