/* cmos_fwcfg32: the CMOS/RTC (ports 0x70/0x71) and QEMU's fw_cfg (selector
 * port 0x510, 16-bit; data port 0x511, 8-bit).  Run with -m 32M and the
 * command line "console=ttyS0 pvemu-test" (expected/cmos_fwcfg32.args).
 *
 * Prints only what does not change from run to run: RTC status A without
 * its update-in-progress bit, the mode bits of status B, status D, whether
 * the time registers hold valid BCD (not the time itself), the memory-size
 * bytes, and the fw_cfg signature, RAM size, CPU count and command line
 * items (QEMU's Multiboot loader leaves the command line items empty: it
 * passes the command line in the Multiboot information only, after the
 * kernel's file name, so that one is printed from "console=" on). */
#include "cpu32.h"

#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_RAM_SIZE     0x03
#define FW_CFG_NB_CPUS      0x05
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15

struct mb_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };

static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }

static u8 cmos(u8 index)
{
    outb(0x70, index);
    return inb(0x71);
}

static u16 cmos16(u8 lo)
{
    return cmos(lo) | (u16)cmos(lo + 1) << 8;
}

static int bcd_ok(u8 v, u8 lo, u8 hi)
{
    if ((v & 0x0F) > 9 || (v >> 4) > 9)
        return 0;
    u8 d = (v >> 4) * 10 + (v & 0x0F);
    return d >= lo && d <= hi;
}

static void fw_cfg_read(u16 key, void *buf, u32 n)
{
    outw(FW_CFG_SEL, key);
    for (u32 i = 0; i < n; i++)
        ((u8 *)buf)[i] = inb(FW_CFG_DATA);
}

static const char *find(const char *s, const char *what)
{
    uptr n = strlen(what);
    for (; *s; s++)
        if (!memcmp(s, what, n))
            return s;
    return 0;
}

int kmain(u32 magic, u32 info)
{
    int bad = 0;
    puts_("cmos_fwcfg32\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        fail(0x10, "bad multiboot magic");

    /* RTC */
    u8 a = cmos(0x0A), b = cmos(0x0B), d = cmos(0x0D);
    kprintf("rtc: status a=0x%02x (without uip), status b: 24h=%u binary=%u, status d=0x%02x\n",
            a & 0x7F, (b >> 1) & 1, (b >> 2) & 1, d);
    while (cmos(0x0A) & 0x80)           /* wait for the end of an update */
        ;
    u8 sec = cmos(0x00), min = cmos(0x02), hour = cmos(0x04), wday = cmos(0x06);
    u8 mday = cmos(0x07), mon = cmos(0x08), year = cmos(0x09);
    int valid = bcd_ok(sec, 0, 59) && bcd_ok(min, 0, 59) && bcd_ok(hour, 0, 23)
                && bcd_ok(wday, 1, 7) && bcd_ok(mday, 1, 31) && bcd_ok(mon, 1, 12)
                && bcd_ok(year, 0, 99);
    kprintf("rtc: time and date registers hold valid bcd: %s\n", valid ? "yes" : "no");
    bad |= (a & 0x7F) != 0x26 || (b & 0x06) != 0x02 || d != 0x80 || !valid;

    /* CMOS memory size bytes */
    u16 base = cmos16(0x15), ext = cmos16(0x17), ext2 = cmos16(0x30), high = cmos16(0x34);
    u32 above4g = cmos(0x5B) | (u32)cmos(0x5C) << 8 | (u32)cmos(0x5D) << 16;
    kprintf("cmos: base memory (0x15) %u KiB, extended (0x17) %u KiB, (0x30) %u KiB\n", base, ext,
            ext2);
    kprintf("cmos: above 16 MiB (0x34) %u x 64 KiB = %u MiB, above 4 GiB (0x5b) %u x 64 KiB\n",
            high, high / 16, above4g);
    bad |= base != 640 || ext != 31744 || ext2 != 31744 || high != 256 || above4g != 0;

    /* fw_cfg */
    u8 sig[8];
    fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig));
    kprintf("fw_cfg: signature \"%c%c%c%c\", then %02x %02x %02x %02x past its end\n", sig[0],
            sig[1], sig[2], sig[3], sig[4], sig[5], sig[6], sig[7]);
    u64 ram = 0;
    fw_cfg_read(FW_CFG_RAM_SIZE, &ram, 8);
    u16 cpus = 0;
    fw_cfg_read(FW_CFG_NB_CPUS, &cpus, 2);
    kprintf("fw_cfg: ram size 0x%llx (%llu MiB), cpus %u\n", ram, ram >> 20, cpus);
    u32 cmdline_size = 0;
    fw_cfg_read(FW_CFG_CMDLINE_SIZE, &cmdline_size, 4);
    char cmdline[64];
    fw_cfg_read(FW_CFG_CMDLINE_DATA, cmdline, sizeof(cmdline) - 1);
    cmdline[sizeof(cmdline) - 1] = 0;
    kprintf("fw_cfg: cmdline size %u, data \"%s\"\n", cmdline_size, cmdline);
    bad |= memcmp(sig, "QEMU\0\0\0\0", 8) || ram != 32ULL << 20 || cpus != 1;

    /* The Multiboot command line */
    const struct mb_info *mbi = (const struct mb_info *)info;
    const char *arg = (mbi->flags & 4) ? find((const char *)mbi->cmdline, "console=") : 0;
    kprintf("multiboot: command line from \"console=\" on: \"%s\"\n", arg ? arg : "(none)");
    bad |= !arg;

    if (bad)
        fail(0x20, "unexpected values");
    puts_("done\n");
    return 0;
}
