/* Shared runtime of the pvemu system-emulation test kernels.
 *
 * Serial output on COM1 (0x3F8, polled: wait for LSR bit 5), a printf-lite,
 * and QEMU's isa-debug-exit device (port 0xF4): writing v ends QEMU with
 * exit status (v << 1) | 1.  Compiled both -m32 and -m64.
 */
#ifndef RT_H
#define RT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long uptr;           /* pointer-sized */
typedef __builtin_va_list va_list;
#define va_start __builtin_va_start
#define va_end __builtin_va_end
#define va_arg __builtin_va_arg

#define COM1 0x3F8
#define DEBUG_EXIT_PORT 0xF4

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

void serial_init(void);
void serial_putc(char c);
void puts_(const char *s);                 /* no newline added */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ksnprintf(char *buf, u32 size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, u32 size, const char *fmt, va_list ap);
/* Format into a 160-byte buffer and pass it to write (ring-3 code, whose
 * write is a system call). */
int wprintf(void (*write)(const char *s), const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write v to isa-debug-exit (QEMU exits with (v << 1) | 1), then halt forever. */
void qemu_exit(u32 v) __attribute__((noreturn));
/* Print "FAIL: msg" and exit with code. */
void fail(u32 code, const char *msg) __attribute__((noreturn));

void *memset(void *d, int c, uptr n);
void *memcpy(void *d, const void *s, uptr n);
int memcmp(const void *a, const void *b, uptr n);
uptr strlen(const char *s);

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002

#endif
