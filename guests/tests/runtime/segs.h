/* Assembler only: SET_DATA_SEGS sel loads sel into DS, ES, FS, GS and SS
 * (through AX; works in .code16, .code32 and .code64). */
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

#endif
