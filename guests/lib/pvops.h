/* pv_ops: the guest's privileged operations behind function pointers, as
 * Linux's paravirt_ops.  native_ops executes the instructions (hardware,
 * QEMU, `pvemu run`); paravirt_ops makes hypercalls (the pvemu supervisor,
 * pvemu_abi.h).  pv_select() picks one at boot from CPUID. */
#ifndef PVOPS_H
#define PVOPS_H

struct pv_cpu_ops {
    void (*cpuid)(u32 leaf, u32 sub, struct pvemu_cpu_regs *r);
    uptr (*read_cr0)(void);
    void (*write_cr0)(uptr v);
    uptr (*read_cr4)(void);
    void (*write_cr4)(uptr v);
    u64 (*read_msr)(u32 msr);
    void (*write_msr)(u32 msr, u64 v);
    void (*load_idt)(const void *lidt_operand);
    /* One IDT gate: vector -> its stub, DPL dpl, interrupt gate. */
    void (*set_trap)(int vector, uptr entry, int dpl);
    void (*load_tr)(u16 sel);
    void (*set_kernel_stack)(uptr sp);  /* ring-0 stack for traps from ring 3 */
    u32 (*io_in)(u16 port, int size);
    void (*io_out)(u16 port, int size, u32 v);
    void (*wbinvd)(void);
};

struct pv_irq_ops {
    uptr (*save_fl)(void);              /* EFLAGS_IF when interrupts are on */
    void (*restore_fl)(uptr flags);
    void (*disable)(void);
    void (*enable)(void);
    void (*safe_halt)(void);            /* enable and wait for an interrupt, atomically */
    void (*halt)(void);
};

struct pv_mmu_ops {
    uptr (*read_cr2)(void);
    uptr (*read_cr3)(void);
    void (*write_cr3)(uptr root);
    void (*set_pte)(pte_t *ptep, pte_t v);      /* one entry of a live table */
    /* Several entries at once: ptr = the entry's physical address (batched
     * into one mmu_update under the supervisor). */
    int (*set_pte_batch)(const struct pvemu_mmu_update *u, u32 n);
    void (*flush_tlb_all)(void);
    void (*flush_tlb_one)(uptr va);
    void (*pin)(uptr root);             /* a new root table: validate (PV) */
    void (*unpin)(uptr root);
};

struct pv_time_ops {
    u64 (*clock_read)(void);            /* ns since boot */
    void (*set_oneshot)(u64 deadline);  /* absolute ns; the timer event fires once */
};

struct pv_ops {
    const char *name;                   /* "native" or "paravirt" */
    struct pv_cpu_ops cpu;
    struct pv_irq_ops irq;
    struct pv_mmu_ops mmu;
    struct pv_time_ops time;
    void (*console_write)(const char *s, u32 n);
    void (*exit)(u32 status) __attribute__((noreturn));
};

extern struct pv_ops pv_ops;
extern const struct pv_ops native_ops, paravirt_ops;

/* The supervisor's CPUID signature is present (CPUID.1:ECX bit 31, then
 * leaf 0x40000000 = "pvemupvemupv"). */
int pv_detect(void);
/* Install the backend CPUID names; PV: hypercall page, shared info, events. */
void pv_select(void);
void native_init(void);
void paravirt_init(void);

/* --- paravirt.c: hypercalls and event channels (PV backend only) --- */
extern struct pvemu_shared_info *shared_info;
extern u32 pv_domid;
long hypercall(int nr, uptr a1, uptr a2, uptr a3, uptr a4, uptr a5);
#define HC(nr, ...) hypercall_n(PVEMU_HC_##nr, __VA_ARGS__)
#define hypercall_n(nr, a, b, c, ...) hypercall(nr, (uptr)(a), (uptr)(b), (uptr)(c), 0, 0)
typedef void (*evtchn_fn)(u32 port);
/* Bind a VIRQ / a fresh unbound port / a remote port to a handler; the port. */
long evtchn_bind_virq(u32 virq, evtchn_fn h);
long evtchn_alloc_unbound(u16 remote, evtchn_fn h);
long evtchn_bind_interdomain(u16 remote, u32 remote_port, evtchn_fn h);
long evtchn_send(u32 port);
/* memory_op on the frame numbers frames[0..n). */
long memory_op(int cmd, u64 *frames, u64 n);
/* struct pvemu_runstate_info of this vCPU, or zeros natively. */
void runstate(struct pvemu_runstate_info *r);

#endif
