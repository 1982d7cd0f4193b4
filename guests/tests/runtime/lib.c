/* Serial port, printf-lite, isa-debug-exit, and the few libc functions gcc
 * may call.  Freestanding; no libgcc (64-bit division is done by hand). */
#include "rt.h"

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* IER: no interrupts */
    outb(COM1 + 3, 0x80);   /* LCR: DLAB */
    outb(COM1 + 0, 0x01);   /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0xC7);   /* FCR: enable and clear FIFOs */
    outb(COM1 + 4, 0x03);   /* MCR: DTR RTS */
}

void serial_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))     /* LSR bit 5: THR empty */
        ;
    outb(COM1, (u8)c);
}

void puts_(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

void qemu_exit(u32 v)
{
    outl(DEBUG_EXIT_PORT, v);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void fail(u32 code, const char *msg)
{
    kprintf("FAIL: %s\n", msg);
    qemu_exit(code);
}

void *memset(void *d, int c, uptr n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, uptr n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, uptr n)
{
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

uptr strlen(const char *s)
{
    uptr n = 0;
    while (s[n])
        n++;
    return n;
}

/* n / base, returning the remainder; shift-subtract so that 32-bit builds
 * need no __udivdi3. */
static u32 divmod(u64 *n, u32 base)
{
    u64 q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((*n >> i) & 1);
        if (r >= base) {
            r -= base;
            q |= 1ULL << i;
        }
    }
    *n = q;
    return (u32)r;
}

struct out { char *buf; u32 size, len; };

static void emit(struct out *o, char c)
{
    if (o->buf) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = c;
    } else {
        serial_putc(c);
    }
    o->len++;
}

/* Conversions: %d %i %u %x %X %p %s %c %%, flags '0' and '-', a width, and
 * the length modifiers l and ll. */
static int format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        int zero = 0, left = 0, width = 0, lng = 0;
        for (;; fmt++) {
            if (*fmt == '0') zero = 1;
            else if (*fmt == '-') left = 1;
            else break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        char tmp[24];
        int n = 0, neg = 0;
        const char *s = tmp;
        u64 v;
        switch (*fmt) {
        case 'd': case 'i': {
            long long x = lng >= 2 ? va_arg(ap, long long)
                        : lng == 1 ? (long long)va_arg(ap, long) : (long long)va_arg(ap, int);
            if (x < 0) {
                neg = 1;
                v = (u64)-x;
            } else {
                v = (u64)x;
            }
            goto number10;
        }
        case 'u':
            v = lng >= 2 ? va_arg(ap, u64)
              : lng == 1 ? (u64)va_arg(ap, unsigned long) : (u64)va_arg(ap, u32);
        number10:
            do tmp[n++] = '0' + divmod(&v, 10); while (v);
            goto reverse;
        case 'p':
            v = (u64)(uptr)va_arg(ap, void *);
            emit(o, '0');
            emit(o, 'x');
            goto number16;
        case 'x': case 'X':
            v = lng >= 2 ? va_arg(ap, u64)
              : lng == 1 ? (u64)va_arg(ap, unsigned long) : (u64)va_arg(ap, u32);
        number16:
            do {
                tmp[n++] = "0123456789abcdef"[v & 15] - (*fmt == 'X' && (v & 15) > 9 ? 32 : 0);
                v >>= 4;
            } while (v);
        reverse:
            if (neg)
                tmp[n++] = '-';
            for (int i = 0; i < n / 2; i++) {
                char t = tmp[i];
                tmp[i] = tmp[n - 1 - i];
                tmp[n - 1 - i] = t;
            }
            tmp[n] = 0;
            if (zero && !left && neg && width > n) {
                emit(o, '-');
                s = tmp + 1;
                n--;
                width--;
            }
            break;
        case 's':
            s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            n = (int)strlen(s);
            zero = 0;
            break;
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            tmp[1] = 0;
            n = 1;
            zero = 0;
            break;
        case '%':
            emit(o, '%');
            continue;
        default:        /* unknown: print it verbatim */
            emit(o, '%');
            if (!*fmt)
                return (int)o->len;
            emit(o, *fmt);
            continue;
        }
        if (!left)
            for (; width > n; width--)
                emit(o, zero ? '0' : ' ');
        for (int i = 0; i < n; i++)
            emit(o, s[i]);
        for (; width > n; width--)
            emit(o, ' ');
    }
    return (int)o->len;
}

int kprintf(const char *fmt, ...)
{
    struct out o = {0, 0, 0};
    va_list ap;
    va_start(ap, fmt);
    int n = format(&o, fmt, ap);
    va_end(ap);
    return n;
}

int kvsnprintf(char *buf, u32 size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    int n = format(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return n;
}

int wprintf(void (*write)(const char *s), const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    write(buf);
    return n;
}

int ksnprintf(char *buf, u32 size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
