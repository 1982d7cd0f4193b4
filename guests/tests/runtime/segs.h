/* Assembler only: SET_DATA_SEGS sel loads sel into DS, ES, FS, GS and SS
 * (through AX; works in .code16, .code32 and .code64).  DROP_TO_REAL seg,
 * start: from 16-bit protected-mode code whose CS base is seg * 16 (the
 * code copied there from label `start`): load the 16-bit 64 KiB data
 * descriptor 0x20 everywhere, the IDT pointer at ivt_ptr (the real-mode
 * IVT), clear CR0.PE, far-jump to seg:next, and there set DS = ES = seg,
 * SS:SP = 0000:7000. */
#ifndef SEGS_H
#define SEGS_H

.macro SET_DATA_SEGS sel
        mov $\sel, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss
.endm

.macro DROP_TO_REAL seg, start
        SET_DATA_SEGS 0x20
        lidt %cs:ivt_ptr - \start
        mov %cr0, %eax
        and $~1, %eax
        mov %eax, %cr0
        ljmp $\seg, $9f - \start
9:      mov $\seg, %ax                 /* real mode */
        mov %ax, %ds
        mov %ax, %es
        xor %ax, %ax
        mov %ax, %ss
        mov $0x7000, %sp
.endm

#endif
