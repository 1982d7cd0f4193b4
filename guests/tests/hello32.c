/* hello32: the smallest boot.  Runs on the state the boot loader provides
 * (no GDT or IDT of its own), loaded through the Multiboot header's address
 * fields (the a.out kludge), and prints only values that any correct x86
 * computes the same way. */
#include "rt.h"

struct mb_info { u32 flags, mem_lower, mem_upper; };

static u32 fib(u32 n)
{
    u32 a = 0, b = 1;
    while (n--) {
        u32 t = a + b;
        a = b;
        b = t;
    }
    return a;
}

static u32 crc32(const char *s)
{
    u32 c = 0xFFFFFFFF;
    for (; *s; s++) {
        c ^= (u8)*s;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320 & -(c & 1));
    }
    return ~c;
}

static int count_primes(int limit)
{
    static u8 composite[1000];
    int n = 0;
    for (int i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        n++;
        for (int j = i * i; j < limit; j += i)
            composite[j] = 1;
    }
    return n;
}

static u32 bss_word[64];
static u32 data_word = 0x600DDA7A;

int kmain(u32 magic, u32 info)
{
    puts_("hello from i386\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
        kprintf("bad multiboot magic 0x%08x\n", magic);
        return 0x10;
    }
    puts_("multiboot magic ok\n");
    const struct mb_info *mbi = (const struct mb_info *)info;
    if (mbi->flags & 1)
        kprintf("mem_lower=%u KiB\n", mbi->mem_lower);
    else
        puts_("no memory information\n");
    u32 z = 0;
    for (int i = 0; i < 64; i++)
        z |= bss_word[i];
    kprintf("bss zeroed: %s, data=0x%08x\n", z ? "no" : "yes", data_word);
    kprintf("fib(40)=%u\n", fib(40));
    kprintf("primes below 1000: %d\n", count_primes(1000));
    kprintf("crc32(\"hello\")=0x%08x\n", crc32("hello"));
    kprintf("signed: %d %d, hex: %x %X, padded: [%5d] [%-5d] [%05d]\n",
            -12345, 2147483647, 0xdeadbeef, 0xcafe, 42, 42, -42);
    u64 big = 0x123456789ULL * 1000;
    kprintf("64-bit: %llu 0x%llx\n", big, big);
    puts_("bye\n");
    return z ? 0x11 : 0;
}
