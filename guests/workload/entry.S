/*
 * Entry stub and header of the pvemu workload guest image (i386 and x86-64).
 *
 * The image is a flat binary linked at 0x100000 (see workload.ld); its first
 * byte is the entry point.  Layout of the start of the image:
 *
 *   +0x00  jmp pv_entry          (2-byte short jump, padded to 8 bytes)
 *   +0x08  u32 magic   "PVWL"    (0x4C575650 little-endian)
 *   +0x0C  u32 version 1
 *   +0x10  u32 rounds            read by the stub; default DEFAULT_ROUNDS;
 *                                a runner overwrites it before starting
 *   +0x14  u32 result            the stub stores the checksum here before HLT
 *   +0x18  u32 bits              32 or 64: which build this is
 *   +0x1C  u32 reserved (0)
 *
 * The stub sets its own stack (ESP/RSP = pv_stack_top, in the image's .bss,
 * which the runner must map and which must read as zero -- see mem_end in
 * workload.json), calls workload(rounds), stores EAX in the header's result
 * field and executes HLT with the checksum in EAX.  If execution resumes
 * after the HLT it loops back to it.
 */

#ifndef DEFAULT_ROUNDS
#define DEFAULT_ROUNDS 200
#endif

        .section .text.entry, "ax"
        .globl  _start
_start:
        jmp     pv_entry
        .balign 8, 0

        .globl  pv_header
pv_header:
        .ascii  "PVWL"
        .long   1
        .globl  pv_rounds
pv_rounds:
        .long   DEFAULT_ROUNDS
        .globl  pv_result
pv_result:
        .long   0
#ifdef __x86_64__
        .long   64
#else
        .long   32
#endif
        .long   0

pv_entry:
#ifdef __x86_64__
        leaq    pv_stack_top(%rip), %rsp
        cld
        movl    pv_rounds(%rip), %edi
        call    workload
        movl    %eax, pv_result(%rip)
#else
        movl    $pv_stack_top, %esp
        cld
        subl    $12, %esp               /* keep ESP 16-byte aligned at the call */
        pushl   pv_rounds
        call    workload
        addl    $16, %esp
        movl    %eax, pv_result
#endif
        .globl  pv_hlt
pv_hlt:
        hlt
        jmp     pv_hlt

        .section .pvstack, "aw", @nobits
        .balign 16
        .skip   16384
        .globl  pv_stack_top
pv_stack_top:

        .section .note.GNU-stack, "", @progbits
