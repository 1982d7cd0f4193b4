/* 32-bit protected-mode helpers: a flat GDT (with ring-3 segments and a
 * TSS), an IDT whose gates lead to C handlers, control registers. */
#ifndef CPU32_H
#define CPU32_H
#include "rt.h"

#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1B      /* 0x18 | RPL 3 */
#define UDATA 0x23      /* 0x20 | RPL 3 */
#define TSS_SEL 0x28

/* What isr_common pushes, lowest address first. */
struct frame {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    u32 vector, err;
    u32 eip, cs, eflags;
    u32 user_esp, user_ss;      /* only when the interrupt came from ring 3 */
};

typedef void (*handler_t)(struct frame *f);

struct tss32 {
    u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u32 es, cs, ss, ds, fs, gs, ldt;
    u16 trap, iomap_base;
};

extern struct tss32 tss;

/* Load the flat GDT (kernel and user code/data, a TSS descriptor) and
 * reload every segment register. */
void gdt_init(void);
/* Load an IDT with gates for vectors 0-47, 0x80 and 0x81 (32-bit interrupt
 * gates, DPL 0) leading to isr_dispatch; no handlers installed. */
void idt_init(void);
/* type 0xE: interrupt gate, 0xF: trap gate. */
void idt_gate(int vector, int type, int dpl);
void set_handler(int vector, handler_t h);
/* Point TSS.esp0 at esp0 (ss0 = KDATA) and load TR. */
void tss_init(u32 esp0);
/* Load the user data selector into DS, ES, FS and GS and iret to ring 3
 * at eip, with ESP = esp, EFLAGS = eflags, SS = UDATA, CS = UCODE. */
void enter_ring3(void (*eip)(void), u32 esp, u32 eflags) __attribute__((noreturn));

static inline u32 read_cr0(void) { u32 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u32 read_cr2(void) { u32 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u32 read_cr3(void) { u32 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u32 read_cr4(void) { u32 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr0(u32 v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void write_cr3(u32 v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void write_cr4(u32 v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline void invlpg(u32 a) { __asm__ volatile("invlpg (%0)" :: "r"(a) : "memory"); }
static inline u32 read_cs(void) { u32 v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v & 0xFFFF; }
static inline u32 read_eflags(void) { u32 v; __asm__ volatile("pushf; pop %0" : "=r"(v)); return v; }

#endif
