/* Multiboot v1 header and 32-bit entry point.
 *
 * Flags: bit 0 (page-align modules) and bit 1 (memory information); with
 * -DAOUT_KLUDGE also bit 16, followed by the address fields, so that the
 * boot loader loads the image from them rather than from the ELF headers.
 */
#define MB_MAGIC 0x1BADB002
#ifdef AOUT_KLUDGE
#define MB_FLAGS 0x00010003
#else
#define MB_FLAGS 0x00000003
#endif

        .section .multiboot, "a"
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
        .long mb_header         /* header_addr */
        .long _load_start       /* load_addr */
        .long _edata            /* load_end_addr */
        .long _end              /* bss_end_addr */
        .long _start            /* entry_addr */
#endif

        .text
        .globl _start
_start:
        cli
        cld
        mov $stack_top, %esp
        xor %ebp, %ebp
        push %ebx               /* multiboot info address */
        push %eax               /* 0x2BADB002 */
        call rt_start
1:      cli
        hlt
        jmp 1b

        .bss
        .align 16
stack:  .skip 16384
        .globl stack_top
stack_top:

        .section .note.GNU-stack, "", @progbits
