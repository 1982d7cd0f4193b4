/* A 64 KiB firmware image that checks the protected-mode protection model
 * (SDM Vol. 3A chapters 5-7: segment type, limit and privilege checks on
 * data, stack, code-fetch and descriptor-table accesses, interrupt-frame
 * pushes, gates, task gates, and the exceptions' error codes).  It prints one
 * line per check on port 0xE9, "name: ok" or "name: #VV(EEEE)" (vector and
 * error code, hex), between "BEGIN" and "END", then asks Bochs to shut down
 * (port 0x8900) and halts.  tests/test_protection_bochs.py runs it on pvemu
 * and on Bochs and compares the lines.
 *
 * Memory (RAM): GDT 0x1000, IDT 0x2000, TSSs 0x3000/0x3100/0x3200, the ring-0
 * stack below 0x8000, the ring-3 stack below 0x7000, the fault tasks' stacks
 * below 0x9000 and 0xA000.  Every check sets `recover`; a fault handler
 * prints the fault, reloads the flat segments and a fresh stack and jumps
 * there.  #SS and #DF go through task gates (their frames are pushed on a
 * stack of their own, so a broken stack can be reported). */

#define GDT 0x1000
#define IDT 0x2000
#define TSS_MAIN 0x3000
#define TSS_SS 0x3100
#define TSS_DF 0x3200
#define STACK0 0x8000
#define STACK3 0x7000
#define RECOVER 0x500           /* where `recover` lives */
#define IDT_ENTRIES 0x81

/* selectors */
#define CODE0 0x08
#define DATA0 0x10
#define CODE3 0x18
#define DATA3 0x20
#define DATA_RO 0x28
#define CODE_XO 0x30
#define DATA_SMALL 0x38         /* limit 0xFFF, B=1 */
#define DATA_DOWN 0x40          /* expand-down, limit 0xFFF, B=1 */
#define DATA_NP 0x48            /* not present */
#define SEL_TSS_MAIN 0x50
#define SEL_TSS_SS 0x58
#define SEL_TSS_DF 0x60
#define CODE_SHORT 0x68         /* base 0xF0000, limit 0xFFF */
#define CODE_TINY 0x70          /* base `tiny`, limit 2 */
#define GDT_LIMIT 0x77

    .code16
    .text
    .globl _start
_start:
    cli
    lgdtl %cs:(boot_gdtr - _start)    /* _start is at 0xF0000: offset in F000 */
    mov %cr0, %eax
    or $1, %al
    mov %eax, %cr0
    ljmpl $0x08, $pm32

    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF    /* flat code */
    .quad 0x00CF92000000FFFF    /* flat data */
boot_gdtr:
    .word 23
    .long boot_gdt

/* ---- helpers (32-bit) */
    .code32
putc:                           /* al */
    push %edx
    mov $0xE9, %dx
    out %al, %dx
    pop %edx
    ret

puts:                           /* esi: NUL-terminated */
    push %eax
1:  lodsb
    test %al, %al
    jz 2f
    call putc
    jmp 1b
2:  pop %eax
    ret

hex_nibbles:                    /* eax: value, ecx: digits */
    push %eax
    push %ebx
    mov %ecx, %ebx
    shl $2, %ecx
    ror %cl, %eax
1:  rol $4, %eax
    push %eax
    and $15, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $'A' - '0' - 10, %al
2:  call putc
    pop %eax
    dec %ebx
    jnz 1b
    pop %ebx
    pop %eax
    ret

/* desc: edi = GDT slot, eax = base, ebx = limit (20 bits), ecx = access | flags << 8 */
desc:
    mov %bx, (%edi)
    mov %ax, 2(%edi)
    mov %eax, %edx
    shr $16, %edx
    mov %dl, 4(%edi)
    mov %cl, 5(%edi)
    mov %ebx, %edx
    shr $16, %edx
    and $0x0F, %dl
    mov %ch, %dh
    shl $4, %dh
    or %dh, %dl
    mov %dl, 6(%edi)
    shr $24, %eax
    mov %al, 7(%edi)
    ret

.macro DESC sel, base, limit, access, flags
    mov $GDT + \sel, %edi
    mov $\base, %eax
    mov $\limit, %ebx
    mov $(\access | (\flags << 8)), %ecx
    call desc
.endm

/* gate: eax = vector, ebx = handler, ecx = type/DPL byte (0x8E, 0xEE, 0x85...), dx = selector */
gate:
    lea IDT(,%eax,8), %edi
    mov %bx, (%edi)
    mov %dx, 2(%edi)
    movb $0, 4(%edi)
    mov %cl, 5(%edi)
    shr $16, %ebx
    mov %bx, 6(%edi)
    ret

/* tss: edi = TSS, eax = EIP, ebx = ESP, ecx = EAX (the vector for the fault tasks) */
tss:
    push %eax
    push %ecx
    push %edi
    xor %eax, %eax
    mov $26, %ecx
    rep stosl
    pop %edi
    pop %ecx
    pop %eax
    mov %eax, 0x20(%edi)        /* EIP */
    movl $2, 0x24(%edi)         /* EFLAGS */
    mov %ecx, 0x28(%edi)        /* EAX */
    mov %ebx, 0x38(%edi)        /* ESP */
    movl $DATA0, 0x48(%edi)     /* ES */
    movl $CODE0, 0x4C(%edi)     /* CS */
    movl $DATA0, 0x50(%edi)     /* SS */
    movl $DATA0, 0x54(%edi)     /* DS */
    movl $DATA0, 0x58(%edi)     /* FS */
    movl $DATA0, 0x5C(%edi)     /* GS */
    movw $0x68, 0x66(%edi)      /* no I/O bitmap */
    movl $STACK0, 0x04(%edi)    /* ESP0 */
    movl $DATA0, 0x08(%edi)     /* SS0 */
    ret

/* ---- start */
pm32:
    mov $DATA0, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $STACK0, %esp
    mov $begin_msg, %esi
    call puts
    /* the GDT */
    mov $GDT, %edi
    xor %eax, %eax
    mov $GDT_LIMIT + 1, %ecx
    rep stosb
    DESC CODE0, 0, 0xFFFFF, 0x9A, 0xC
    DESC DATA0, 0, 0xFFFFF, 0x92, 0xC
    DESC CODE3, 0, 0xFFFFF, 0xFA, 0xC
    DESC DATA3, 0, 0xFFFFF, 0xF2, 0xC
    DESC DATA_RO, 0, 0xFFFFF, 0x90, 0xC
    DESC CODE_XO, 0, 0xFFFFF, 0x98, 0xC
    DESC DATA_SMALL, 0, 0xFFF, 0x92, 0x4
    DESC DATA_DOWN, 0, 0xFFF, 0x96, 0x4
    DESC DATA_NP, 0, 0xFFFFF, 0x12, 0xC
    DESC SEL_TSS_MAIN, TSS_MAIN, 0x67, 0x89, 0
    DESC SEL_TSS_SS, TSS_SS, 0x67, 0x89, 0
    DESC SEL_TSS_DF, TSS_DF, 0x67, 0x89, 0
    DESC CODE_SHORT, 0xF0000, 0xFFF, 0x9A, 0x4
    DESC CODE_TINY, tiny, 2, 0x9A, 0x4
    lgdt gdtr
    ljmp $CODE0, $1f
1:  mov $DATA0, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    /* the TSSs: the main one, and one per fault task (vector in EAX) */
    mov $TSS_MAIN, %edi
    xor %eax, %eax
    mov $STACK0, %ebx
    xor %ecx, %ecx
    call tss
    mov $TSS_SS, %edi
    mov $fault_task, %eax
    mov $0x9000, %ebx
    mov $12, %ecx
    call tss
    mov $TSS_DF, %edi
    mov $fault_task, %eax
    mov $0xA000, %ebx
    mov $8, %ecx
    call tss
    mov $SEL_TSS_MAIN, %ax
    ltr %ax
    /* the IDT: interrupt gates to stubs for 0-31, task gates for #DF and #SS */
    mov $IDT, %edi
    xor %eax, %eax
    mov $IDT_ENTRIES * 2, %ecx
    rep stosl
    xor %eax, %eax
    mov $stubs, %esi
2:  mov (%esi,%eax,4), %ebx
    mov $0x8E, %ecx
    mov $CODE0, %dx
    push %eax
    call gate
    pop %eax
    inc %eax
    cmp $32, %eax
    jb 2b
    mov $8, %eax
    xor %ebx, %ebx
    mov $0x85, %ecx
    mov $SEL_TSS_DF, %dx
    call gate
    mov $12, %eax
    xor %ebx, %ebx
    mov $0x85, %ecx
    mov $SEL_TSS_SS, %dx
    call gate
    mov $0x40, %eax             /* INT 0x40: a DPL 0 interrupt gate */
    mov $int40, %ebx
    mov $0x8E, %ecx
    mov $CODE0, %dx
    call gate
    mov $0x41, %eax             /* INT 0x41: a DPL 3 trap gate */
    mov $int40, %ebx
    mov $0xEF, %ecx
    mov $CODE0, %dx
    call gate
    mov $0x42, %eax             /* INT 0x42: not present */
    mov $int40, %ebx
    mov $0x6E, %ecx
    mov $CODE0, %dx
    call gate
    mov $0x80, %eax             /* INT 0x80: how ring-3 code says "done" */
    mov $ring3_done, %ebx
    mov $0xEE, %ecx
    mov $CODE0, %dx
    call gate
    lidt idtr
    jmp checks

    .p2align 2
gdtr:
    .word GDT_LIMIT
    .long GDT
idtr:
    .word IDT_ENTRIES * 8 - 1
    .long IDT

/* ---- reporting */
.macro STUB v
stub_\v:
    .if (\v == 8) | ((\v >= 10) & (\v <= 14)) | (\v == 17)
    push $\v
    .else
    push $-1
    push $\v
    .endif
    jmp fault_common
.endm
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    STUB \v
    .endr
    .p2align 2
stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long stub_\v
    .endr

fault_common:                   /* stack: vector, error code (-1: none) */
    mov $DATA0, %ax
    mov %ax, %ds
    pop %eax
    pop %ebx
report:                         /* eax = vector, ebx = error code or -1 */
    mov $DATA0, %cx
    mov %cx, %ds
    mov %cx, %es
    mov %cx, %ss
    mov $STACK0, %esp
    push %eax
    mov $'#', %al
    call putc
    pop %eax
    mov $2, %ecx
    call hex_nibbles
    cmp $-1, %ebx
    je 1f
    mov $'(', %al
    call putc
    mov %ebx, %eax
    mov $4, %ecx
    call hex_nibbles
    mov $')', %al
    call putc
1:  mov $'\n', %al
    call putc
    jmp resume

fault_task:                     /* a task gate's task: eax = vector, the error code on the stack */
    pop %ebx
    andb $~2, GDT + SEL_TSS_MAIN + 5    /* no task is busy now: back to the main TSS */
    andb $~2, GDT + SEL_TSS_SS + 5
    andb $~2, GDT + SEL_TSS_DF + 5
    pushf
    andl $~0x4000, (%esp)       /* NT */
    popf
    mov $SEL_TSS_MAIN, %cx
    ltr %cx
    jmp report

int40:
    mov $DATA0, %ax
    mov %ax, %ds
    mov $int40_msg, %esi
    jmp say
ring3_done:
    mov $DATA0, %ax
    mov %ax, %ds
ok:
    mov $ok_msg, %esi
say:
    mov $DATA0, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $STACK0, %esp
    call puts
resume:                         /* flat segments, fresh stacks, then the next check */
    mov $DATA0, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    mov $STACK0, %esp
    movl $STACK0, TSS_MAIN + 4
    movl $DATA0, TSS_MAIN + 8
    lgdt gdtr
    lidt idtr
    push $2
    popf
    jmp *RECOVER

/* CHECK name: print "name: ", arrange to resume at the next check; the
 * body follows and ends with `jmp ok` (or faults) */
.macro CHECK name
    .section .rodata
9:  .asciz "\name: "
    .text
    mov $9b, %esi
    call puts
    movl $8f, RECOVER
.endm
.macro END_CHECK
    jmp ok
8:
.endm
/* RING3: the body runs at CPL 3 (IOPL 0) and ends with INT 0x80 */
.macro RING3
    push $DATA3 | 3
    push $STACK3
    push $2
    push $CODE3 | 3
    push $7f
    iret
7:
.endm
.macro END_RING3
    int $0x80
8:
.endm

/* ---- the checks */
checks:
    /* segment types on data accesses */
    CHECK ds_readonly_read
    mov $DATA_RO, %ax
    mov %ax, %ds
    mov 0x100, %eax
    END_CHECK
    CHECK ds_readonly_write
    mov $DATA_RO, %ax
    mov %ax, %ds
    movl $0, 0x100
    END_CHECK
    CHECK cs_override_read
    mov %cs:0x100, %eax
    END_CHECK
    CHECK cs_override_write
    movl $0, %cs:0x100
    END_CHECK
    CHECK cs_override_rmw
    incl %cs:0x100
    END_CHECK
    CHECK execonly_cs_fetch
    ljmp $CODE_XO, $1f
1:  ljmp $CODE0, $ok
8:
    CHECK execonly_cs_read
    ljmp $CODE_XO, $1f
1:  mov %cs:0x100, %eax
    ljmp $CODE0, $ok
8:
    CHECK execonly_cs_write
    ljmp $CODE_XO, $1f
1:  movl $0, %cs:0x100
    ljmp $CODE0, $ok
8:
    CHECK es_readonly_stos
    mov $DATA_RO, %ax
    mov %ax, %es
    mov $0x100, %edi
    stosl
    END_CHECK
    /* limits */
    CHECK ds_limit_last_dword
    mov $DATA_SMALL, %ax
    mov %ax, %ds
    mov 0xFFC, %eax
    END_CHECK
    CHECK ds_limit_straddle
    mov $DATA_SMALL, %ax
    mov %ax, %ds
    mov 0xFFE, %eax
    END_CHECK
    CHECK ds_limit_write_beyond
    mov $DATA_SMALL, %ax
    mov %ax, %es
    movb $0, %es:0x1000
    END_CHECK
    CHECK ss_limit_read
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov %ss:0xFFE, %eax
    END_CHECK
    CHECK ss_limit_ebp_read
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov $0x2000, %ebp
    mov (%ebp), %eax
    END_CHECK
    CHECK push_beyond_limit
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov $0x1002, %esp
    push %eax
    END_CHECK
    CHECK push_inside_limit
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov $0x1000, %esp
    push %eax
    END_CHECK
    CHECK expand_down_below
    mov $DATA_DOWN, %ax
    mov %ax, %ds
    mov 0x800, %eax
    END_CHECK
    CHECK expand_down_above
    mov $DATA_DOWN, %ax
    mov %ax, %ds
    mov 0x1000, %eax
    END_CHECK
    CHECK expand_down_straddle
    mov $DATA_DOWN, %ax
    mov %ax, %ds
    mov 0xFFE, %eax
    END_CHECK
    /* segment register loads */
    CHECK null_ds_access
    xor %eax, %eax
    mov %ax, %ds
    mov 0x100, %eax
    END_CHECK
    CHECK load_ds_execonly_code
    mov $CODE_XO, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ds_readable_code
    mov $CODE0, %ax
    mov %ax, %ds
    mov 0x100, %eax
    END_CHECK
    CHECK load_ds_tss
    mov $SEL_TSS_MAIN, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ds_not_present
    mov $DATA_NP, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ds_beyond_gdt
    mov $0x100, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ds_null_ldt
    mov $0x0C, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ds_dpl3_rpl3
    mov $DATA3 | 3, %ax
    mov %ax, %ds
    END_CHECK
    CHECK load_ss_null
    xor %eax, %eax
    mov %ax, %ss
    END_CHECK
    CHECK load_ss_readonly
    mov $DATA_RO, %ax
    mov %ax, %ss
    END_CHECK
    CHECK load_ss_code
    mov $CODE0, %ax
    mov %ax, %ss
    END_CHECK
    CHECK load_ss_dpl3
    mov $DATA3 | 3, %ax
    mov %ax, %ss
    END_CHECK
    CHECK load_ss_rpl_mismatch
    mov $DATA0 | 1, %ax
    mov %ax, %ss
    END_CHECK
    CHECK load_ss_not_present
    mov $DATA_NP, %ax
    mov %ax, %ss
    END_CHECK
    CHECK pop_ds_tss
    push $SEL_TSS_MAIN
    pop %ds
    END_CHECK
    /* code segments */
    CHECK far_jmp_to_data
    ljmp $DATA0, $ok
8:
    CHECK far_jmp_to_tss_busy
    ljmp $SEL_TSS_MAIN, $0
8:
    CHECK far_jmp_beyond_limit
    ljmp $CODE_SHORT, $0x2000
8:
    CHECK fetch_runs_past_limit
    ljmp $CODE_TINY, $0
8:
    CHECK far_call_not_present
    lcall $DATA_NP, $0
8:
    /* interrupts and exceptions */
    CHECK int_dpl0_gate
    int $0x40
8:
    CHECK int_beyond_idt_limit
    int $0x90
8:
    CHECK int_not_present_gate
    int $0x42
8:
    CHECK int_frame_beyond_stack_limit
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov $0x8, %esp
    int $0x40
8:
    CHECK exception_frame_beyond_stack_limit
    mov $DATA_SMALL, %ax
    mov %ax, %ss
    mov $0x8, %esp
    ud2
8:
    CHECK int_frame_expand_down_stack
    mov $DATA_DOWN, %ax
    mov %ax, %ss
    mov $0x1008, %esp
    int $0x40
8:
    CHECK divide_error
    xor %ecx, %ecx
    div %ecx
8:
    /* privilege: CPL 3 */
    CHECK ring3_round_trip
    RING3
    END_RING3
    CHECK ring3_int_dpl0_gate
    RING3
    int $0x40
    END_RING3
    CHECK ring3_int_dpl3_gate
    RING3
    int $0x41
    END_RING3
    CHECK ring3_load_ds_dpl0
    RING3
    mov $DATA0, %ax
    mov %ax, %ds
    END_RING3
    CHECK ring3_load_ss_dpl0
    RING3
    mov $DATA0, %ax
    mov %ax, %ss
    END_RING3
    CHECK ring3_mov_cr0
    RING3
    mov %cr0, %eax
    END_RING3
    CHECK ring3_hlt
    RING3
    hlt
    END_RING3
    CHECK ring3_cli_iopl0
    RING3
    cli
    END_RING3
    CHECK ring3_out_no_iomap
    RING3
    mov $0x80, %dx
    out %al, %dx
    END_RING3
    CHECK ring3_far_jmp_ring0_code
    RING3
    ljmp $CODE0, $ok
    END_RING3
    CHECK ring3_inner_stack_beyond_limit
    movl $8, TSS_MAIN + 4
    movl $DATA_SMALL, TSS_MAIN + 8
    RING3
    int $0x41
    END_RING3
    CHECK ring3_inner_stack_readonly
    movl $DATA_RO, TSS_MAIN + 8
    RING3
    int $0x41
    END_RING3
    CHECK ring3_inner_stack_null
    movl $0, TSS_MAIN + 8
    RING3
    int $0x41
    END_RING3
    CHECK ring3_ud2_inner_stack_beyond_limit
    movl $8, TSS_MAIN + 4
    movl $DATA_SMALL, TSS_MAIN + 8
    RING3
    ud2
    END_RING3

    mov $end_msg, %esi
    call puts
    mov $0x8900, %dx            /* Bochs: shut down */
    mov $shutdown_msg, %esi
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
2:  cli
    hlt
    jmp 2b

/* CODE_TINY's three bytes (limit 2): the fourth is past the limit */
tiny:
    nop
    nop
    nop
    nop
    ljmp $CODE0, $ok

    .section .rodata
begin_msg: .asciz "BEGIN\n"
end_msg: .asciz "END\n"
ok_msg: .asciz "ok\n"
int40_msg: .asciz "int\n"
shutdown_msg: .asciz "Shutdown"

    .section .reset, "ax"
    .code16
    ljmp $0xF000, $0                /* _start */
