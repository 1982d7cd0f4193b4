/*
 * emu.fuzz._hostcpu -- run x86 instruction sequences natively on the host CPU.
 *
 * This is the engine of the host-CPU fuzzing oracle (see emu/fuzz/host.py,
 * which is the only intended user).  It is meant to run inside a dedicated,
 * sacrificial child process: `serve(rfd, wfd)` sets the process up as a
 * sandbox and then executes test cases fed over a pipe, forever (it never
 * returns to Python; it _exits on EOF).
 *
 * Process setup (serve):
 *   - the case's code page is mapped RWX at CODE_BASE and the scratch area
 *     RWX at DATA_BASE, both with MAP_FIXED_NOREPLACE (a clear error if taken);
 *   - SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS/SIGPROF are caught on an
 *     alternate signal stack (the case's rsp points into its own data);
 *   - a periodic ITIMER_PROF tick (CPU time) detects runaway cases: a case
 *     still running at two consecutive ticks is abandoned as a hang;
 *   - a seccomp filter turns every system call made from below 4 GiB (i.e.
 *     by case code: the harness and libc live at 0x7f...) or through the
 *     i386 ABI (int 0x80, compat-mode syscall) into SIGSYS, which ends the
 *     case; the harness itself may only read/write/exit/sigreturn/arch_prctl;
 *   - core dumps are disabled (a dying child is restarted by the parent).
 *
 * Running one case (run_case + the hc_enter assembly stub):
 *   - the code page is refilled: code, an int3 at CODE_BASE+len(code) (the
 *     end trap; not in step mode, where the single-step trap finds the end),
 *     zeros after it; the scratch area gets the case's data, zero-padded;
 *   - everything answered so far is flushed to the parent first, so that if
 *     the case kills the process the parent knows which case did it;
 *   - x87/SSE/AVX state is reset to its init state (xrstor/fxrstor);
 *   - DS/ES are loaded with __USER_DS (0x2b) -- 64-bit Linux processes run
 *     with null DS/ES, which would #GP in compatibility mode;
 *   - all general registers are loaded from hc_in and an IRETQ to
 *     CS:RIP = 0x33:CODE_BASE (64-bit) or 0x23:CODE_BASE (32-bit compatibility
 *     mode), RFLAGS = the case's arithmetic flags + DF (| IF | TF in step
 *     mode), SS:RSP = 0x2b:the case's rsp starts the case.  IRETQ sets
 *     RFLAGS, CS and RSP atomically, so no harness instruction runs with the
 *     case's flags or stack and a TF single-step trap first fires after the
 *     case's first instruction.
 *   - the case ends with a signal: the end trap, a fault, a seccomp trap, a
 *     hang tick, or (step mode) the count-th single-step trap.  The handler
 *     (running in 64-bit mode on the alternate stack, whatever mode the case
 *     was in) copies the interrupted register state out of the ucontext and
 *     rewrites the context to resume at hc_recover with CS = 0x33 (this is how
 *     32-bit cases return to 64-bit mode), RSP = the harness stack,
 *     RFLAGS = 0x202 (sigreturn keeps NT/ID from the case, so hc_recover
 *     also reloads RFLAGS with POPFQ); hc_recover pops the callee-saved
 *     registers and returns from hc_enter as if it were an ordinary function
 *     call.  No TLS, no sigsetjmp: the case may have clobbered FS, which is
 *     repaired afterwards (fix_segments).  A fault inside the entry stub or
 *     any signal outside a case means the harness is broken: the child
 *     reports it on stderr and exits (the parent restarts it).
 *
 * Step mode ("honour Case.count"): TF is set on entry; every single-step trap
 * counts one retired instruction (an unfinished iteration of a REP string
 * instruction is not counted: the instruction counts once), and the case
 * stops after `count` instructions.  The TF bit that PUSHF would leak into
 * memory is cleared, and TF is re-armed if POPF cleared it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if !(defined(__linux__) && defined(__x86_64__))
#error "emu.fuzz._hostcpu needs x86-64 Linux"
#endif

#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef TRAP_TRACE
#define TRAP_TRACE 2
#endif

#if defined(__has_attribute)
#if __has_attribute(no_stack_protector)
#define NOSP __attribute__((no_stack_protector))
#endif
#endif
#ifndef NOSP
#define NOSP __attribute__((optimize("no-stack-protector")))
#endif
#define HIDDEN __attribute__((visibility("hidden")))

/* The fixed layout; must agree with emu/fuzz/case.py (host.py checks). */
#define CODE_BASE 0x100000ULL
#define CODE_SIZE 0x1000ULL
#define DATA_BASE 0x200000ULL
#define DATA_SIZE 0x10000ULL

#define USER32_CS 0x23
#define USER_DS 0x2b
#define USER_CS 0x33

#define PROTOCOL_VERSION 2
#define REQ_MAGIC 0x31514348u   /* "HCQ1" */
#define RESP_MAGIC 0x31524348u  /* "HCR1" */
#define HELLO_MAGIC 0x31484348u /* "HCH1" */
#define CHUNK 256
#define NCHUNKS (DATA_SIZE / CHUNK)

/* Result status codes (host.py mirrors them). */
enum { ST_END = 0, ST_EXC = 1, ST_HANG = 2, ST_SYSCALL = 3, ST_COUNT = 4, ST_BADREQ = 5 };

/* Request flags.  RQ_FPU: a 512-byte FXSAVE image follows the data; the
 * case starts with that x87/SSE state (AVX and the rest in their init
 * state) and the response carries the final image after its header. */
#define RQ_STEP 1
#define RQ_FPU 2
#define FPU_IMAGE 512

/* Reported eflags: CF PF AF ZF SF OF, TF, DF, NT, AC, ID (+ the fixed bit 1).
 * IF (always 1 in user mode) and RF are machinery, not case state. */
#define EFL_REPORT (0x8D5ULL | 0x100ULL | 0x400ULL | 0x4000ULL | 0x40000ULL | 0x200000ULL)
#define EFL_IN 0xCD5ULL /* what a case may set: arithmetic flags + DF */
#define EFL_TF 0x100ULL

#pragma pack(push, 1)
struct req_hdr {
    uint32_t magic, seq;
    uint8_t mode, flags;
    uint16_t code_len;
    uint32_t count;
    uint32_t data_len;
    uint64_t eflags;
    uint64_t regs[16];
};
struct resp_hdr {
    uint32_t magic, seq;
    uint8_t status, signo;
    int16_t vector;
    uint32_t nchunks;
    uint64_t rip, eflags, addr;
    uint16_t trapno;
    int16_t si_code;
    uint32_t err;
    uint64_t steps;
    uint64_t regs[16];
};
struct hello {
    uint32_t magic, version, pid, flags;
    uint64_t hc_in_addr, saved_rsp_addr;
    uint32_t errlen;
};
#pragma pack(pop)

/* ---- state shared with the assembly stub and the signal handler ---------- */

struct hc_entry {                /* offsets are hard-coded in hc_enter */
    uint64_t gpr[16];            /*   0: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
    uint64_t rflags;             /* 128 */
    uint64_t rip;                /* 136 */
    uint64_t cs;                 /* 144 */
    uint64_t ss;                 /* 152 */
};
_Static_assert(offsetof(struct hc_entry, rflags) == 128, "layout");
_Static_assert(offsetof(struct hc_entry, ss) == 152, "layout");

struct hc_exit {
    uint64_t gpr[16];
    uint64_t rip, eflags, addr, steps;
    int status, vector, signo, si_code, trapno;
    uint32_t err;
};

HIDDEN struct hc_entry hc_in;
HIDDEN uint64_t hc_saved_rsp;
HIDDEN uint8_t hc_use_xsave;
HIDDEN uint32_t hc_xmask[2];
HIDDEN uint8_t hc_fpu_clean[16384] __attribute__((aligned(64)));
static uint32_t hc_mxcsr_mask;

static struct hc_exit hc_out;
static uint8_t hc_fpu_out[FPU_IMAGE];
static volatile sig_atomic_t hc_in_case;
static volatile uint64_t hc_seq, hc_seen_seq;
static uint64_t hc_end, hc_count, hc_prev_rip, hc_steps;
static int hc_mode64, hc_step, hc_fpu;
static void *hc_uc; /* the ucontext of the signal being handled */

static uint64_t saved_fs_base, saved_gs_base;
static uint16_t saved_fs_sel, saved_gs_sel;
static int have_fsgsbase;

extern void hc_enter(void) HIDDEN;
extern char hc_recover[] HIDDEN;

/*
 * hc_enter: save the callee-saved registers and the harness rsp, reset the
 * FPU/SIMD state, load DS/ES, load every GPR from hc_in, IRETQ into the case.
 * hc_recover: where the signal handler resumes the harness.
 */
__asm__(
    "    .text\n"
    "    .p2align 4\n"
    "    .globl hc_enter\n"
    "    .hidden hc_enter\n"
    "    .type hc_enter, @function\n"
    "hc_enter:\n"
    "    push %rbx\n"
    "    push %rbp\n"
    "    push %r12\n"
    "    push %r13\n"
    "    push %r14\n"
    "    push %r15\n"
    "    sub $8, %rsp\n"
    "    mov %rsp, hc_saved_rsp(%rip)\n"
    "    pushq $0x202\n" /* NT=1 left by a case would make IRETQ #GP */
    "    popfq\n"
    "    cmpb $0, hc_use_xsave(%rip)\n"
    "    je 1f\n"
    "    mov hc_xmask(%rip), %eax\n"
    "    mov hc_xmask+4(%rip), %edx\n"
    "    xrstor64 hc_fpu_clean(%rip)\n"
    "    jmp 2f\n"
    "1:  fxrstor64 hc_fpu_clean(%rip)\n"
    "2:  pushq hc_in+152(%rip)\n"      /* ss */
    "    pushq hc_in+32(%rip)\n"       /* rsp */
    "    pushq hc_in+128(%rip)\n"      /* rflags */
    "    pushq hc_in+144(%rip)\n"      /* cs */
    "    pushq hc_in+136(%rip)\n"      /* rip */
    "    mov $0x2b, %eax\n"
    "    mov %eax, %ds\n"
    "    mov %eax, %es\n"
    "    mov hc_in+0(%rip), %rax\n"
    "    mov hc_in+8(%rip), %rcx\n"
    "    mov hc_in+16(%rip), %rdx\n"
    "    mov hc_in+24(%rip), %rbx\n"
    "    mov hc_in+40(%rip), %rbp\n"
    "    mov hc_in+48(%rip), %rsi\n"
    "    mov hc_in+56(%rip), %rdi\n"
    "    mov hc_in+64(%rip), %r8\n"
    "    mov hc_in+72(%rip), %r9\n"
    "    mov hc_in+80(%rip), %r10\n"
    "    mov hc_in+88(%rip), %r11\n"
    "    mov hc_in+96(%rip), %r12\n"
    "    mov hc_in+104(%rip), %r13\n"
    "    mov hc_in+112(%rip), %r14\n"
    "    mov hc_in+120(%rip), %r15\n"
    "    iretq\n"
    "    .globl hc_recover\n"
    "    .hidden hc_recover\n"
    "hc_recover:\n"
    "    mov hc_saved_rsp(%rip), %rsp\n"
    "    pushq $0x202\n" /* sigreturn keeps the case's NT, ID, IOPL.. */
    "    popfq\n"
    "    add $8, %rsp\n"
    "    pop %r15\n"
    "    pop %r14\n"
    "    pop %r13\n"
    "    pop %r12\n"
    "    pop %rbp\n"
    "    pop %rbx\n"
    "    ret\n"
    "    .size hc_enter, .-hc_enter\n");

/* ---- async-signal-safe helpers (no libc, no TLS) --------------------------- */

static NOSP long raw_syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static NOSP void raw_write_str(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    raw_syscall3(SYS_write, 2, (long)s, (long)n);
}

static NOSP void raw_hex(char *out, uint64_t v)
{
    for (int i = 15; i >= 0; i--) { out[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
    out[16] = 0;
}

static NOSP __attribute__((noreturn)) void die(const char *msg, uint64_t a, uint64_t b)
{
    char h[17];
    raw_write_str("emu.fuzz._hostcpu child: ");
    raw_write_str(msg);
    raw_write_str(" 0x");
    raw_hex(h, a);
    raw_write_str(h);
    raw_write_str(" 0x");
    raw_hex(h, b);
    raw_write_str(h);
    raw_write_str("\n");
    for (;;) raw_syscall3(SYS_exit_group, 70, 0, 0);
}

static inline NOSP int in_region(uint64_t a, uint64_t n)
{
    return (a >= CODE_BASE && a + n <= CODE_BASE + CODE_SIZE && a + n >= a)
        || (a >= DATA_BASE && a + n <= DATA_BASE + DATA_SIZE && a + n >= a);
}

static inline NOSP int mapped_addr(uint64_t a)
{
    return in_region(a, 1);
}

/* Bytes of the instruction at `a` that lie in our mappings (at most 15). */
static NOSP int insn_avail(uint64_t a)
{
    uint64_t lim;
    if (a >= CODE_BASE && a < CODE_BASE + CODE_SIZE) lim = CODE_BASE + CODE_SIZE - a;
    else if (a >= DATA_BASE && a < DATA_BASE + DATA_SIZE) lim = DATA_BASE + DATA_SIZE - a;
    else return 0;
    return lim > 15 ? 15 : (int)lim;
}

/* Skip legacy (and, in 64-bit mode, REX) prefixes; returns the opcode
 * offset or -1, and whether a REP/REPNE prefix was seen. */
static NOSP int opcode_at(const uint8_t *p, int n, int *rep, int *opsize16)
{
    *rep = 0;
    *opsize16 = 0;
    for (int i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b == 0xF2 || b == 0xF3) { *rep = 1; continue; }
        if (b == 0x66) { *opsize16 = 1; continue; }
        if (b == 0x67 || b == 0xF0 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x26
            || b == 0x64 || b == 0x65)
            continue;
        if (hc_mode64 && (b & 0xF0) == 0x40) continue;
        return i;
    }
    return -1;
}

/* ---- the signal handler ------------------------------------------------- */

static const int gmap[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                             REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                             REG_R12, REG_R13, REG_R14, REG_R15};

static NOSP void finish(greg_t *g, int sig, const siginfo_t *si, int status, int vector,
                        uint64_t rip, uint64_t addr)
{
    uint64_t mask = hc_mode64 ? ~0ULL : 0xffffffffULL;
    for (int i = 0; i < 16; i++) hc_out.gpr[i] = (uint64_t)g[gmap[i]] & mask;
    uint64_t efl = ((uint64_t)g[REG_EFL] & EFL_REPORT) | 2;
    if (hc_step) efl &= ~EFL_TF;
    hc_out.eflags = efl;
    hc_out.rip = rip & mask;
    hc_out.addr = addr;
    hc_out.steps = hc_steps;
    hc_out.status = status;
    hc_out.vector = vector;
    hc_out.signo = sig;
    hc_out.si_code = si ? si->si_code : 0;
    hc_out.trapno = (int)g[REG_TRAPNO];
    hc_out.err = (uint32_t)g[REG_ERR];
    if (hc_fpu) {
        /* the case's x87/SSE state, as the kernel saved it in the signal
         * frame (FXSAVE layout); then a sane MXCSR/FCW for the harness */
        ucontext_t *uc = (ucontext_t *)hc_uc;
        if (uc->uc_mcontext.fpregs) {
            const uint8_t *src = (const uint8_t *)uc->uc_mcontext.fpregs;
            for (int i = 0; i < FPU_IMAGE; i++) hc_fpu_out[i] = src[i];
            uc->uc_mcontext.fpregs->mxcsr = 0x1F80;
            uc->uc_mcontext.fpregs->cwd = 0x37F;
        }
    }

    /* Resume the harness: 64-bit code segment, harness stack, sane flags
     * (DF/AC/TF clear).  SS goes back to __USER_DS. */
    g[REG_RIP] = (greg_t)(uintptr_t)hc_recover;
    g[REG_RSP] = (greg_t)hc_saved_rsp;
    g[REG_EFL] = 0x202;
    g[REG_CSGSFS] = (greg_t)(((uint64_t)g[REG_CSGSFS] & 0x0000ffffffff0000ULL) | USER_CS
                             | ((uint64_t)USER_DS << 48));
    hc_in_case = 0;
}

/* One single-step trap in step mode: count the instruction that retired at
 * hc_prev_rip, undo TF leaks, stop at the end or after `count` instructions. */
static NOSP void step_trap(greg_t *g, int sig, const siginfo_t *si, uint64_t rip)
{
    uint64_t prev = hc_prev_rip;
    int n = insn_avail(prev), rep = 0, o16 = 0, op = -1;
    const uint8_t *p = (const uint8_t *)(uintptr_t)prev;
    if (n > 0) op = opcode_at(p, n, &rep, &o16);
    int opc = op >= 0 ? p[op] : -1;
    int string_op = (opc >= 0xA4 && opc <= 0xA7) || (opc >= 0xAA && opc <= 0xAF)
                    || (opc >= 0x6C && opc <= 0x6F);
    if (!(rip == prev && rep && string_op)) {
        /* (an unfinished REP iteration traps with rip unchanged: not counted) */
        hc_steps++;
        if (opc == 0x9C) {
            /* PUSHF pushed our TF: clear bit 8 of the pushed image */
            uint64_t sp = (uint64_t)g[REG_RSP];
            if (!hc_mode64) sp &= 0xffffffffULL;
            if (in_region(sp + 1, 1)) *(volatile uint8_t *)(uintptr_t)(sp + 1) &= (uint8_t)~1;
        }
    }
    hc_prev_rip = rip;
    g[REG_EFL] |= EFL_TF; /* keep stepping even if the case's POPF cleared TF */
    if (rip == hc_end)
        finish(g, sig, si, ST_END, -1, rip, 0);
    else if (hc_steps >= hc_count)
        finish(g, sig, si, ST_COUNT, -1, rip, 0);
}

static NOSP void hc_handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = (ucontext_t *)ucv;
    greg_t *g = uc->uc_mcontext.gregs;
    hc_uc = ucv;
    if (!hc_in_case) {
        if (sig == SIGPROF) {
            hc_seen_seq = hc_seq;
            return;
        }
        die("fatal signal in the harness (signal, rip):", (uint64_t)sig, (uint64_t)g[REG_RIP]);
    }
    uint64_t rip = (uint64_t)g[REG_RIP];
    if (sig != SIGPROF && (g[REG_CSGSFS] & 0xffff) == USER_CS
        && rip >= (uint64_t)(uintptr_t)hc_enter && rip < (uint64_t)(uintptr_t)hc_recover)
        /* the entry stub itself faulted: the harness state is broken (never
         * report it as the case's exception); the parent restarts us */
        die("the entry stub faulted (signal, rip):", (uint64_t)sig, rip);
    if (!hc_mode64) rip &= 0xffffffffULL;
    int trapno = (int)g[REG_TRAPNO];
    uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;

    switch (sig) {
    case SIGPROF:
        if (hc_seen_seq != hc_seq) {
            hc_seen_seq = hc_seq; /* first tick during this case */
            return;
        }
        finish(g, sig, si, ST_HANG, -1, rip, 0);
        return;
    case SIGSYS: /* seccomp: a system call from case code */
        finish(g, sig, si, ST_SYSCALL, -1, rip, (uint64_t)(uint32_t)si->si_syscall);
        return;
    case SIGTRAP:
        if (trapno == 3) { /* int3: rip is after the CC, as the architecture reports the trap */
            if (rip - 1 == hc_end)
                finish(g, sig, si, ST_END, -1, rip - 1, 0);
            else
                finish(g, sig, si, ST_EXC, 3, rip, 0);
        } else if (trapno == 1 && hc_step) {
            step_trap(g, sig, si, rip);
        } else {
            finish(g, sig, si, ST_EXC, trapno, rip, 0);
        }
        return;
    case SIGSEGV:
    case SIGBUS:
        if (trapno == 14) {
            if (rip == hc_end && addr == hc_end) /* fetch past a full code page */
                finish(g, sig, si, ST_END, -1, rip, 0);
            else if (!mapped_addr(addr))
                finish(g, sig, si, ST_EXC, -1, rip, addr);
            else
                finish(g, sig, si, ST_EXC, 14, rip, addr);
        } else if (trapno == 4) { /* INTO is a trap: rip is after it */
            finish(g, sig, si, ST_EXC, 4, rip, 0);
        } else {
            finish(g, sig, si, ST_EXC, trapno, rip, addr);
        }
        return;
    default: /* SIGILL (#UD), SIGFPE (#DE, #MF, #XM) */
        finish(g, sig, si, ST_EXC, trapno, rip, addr);
        return;
    }
}

/* Put FS/GS back if the case changed them (it should not: host.py refuses
 * segment instructions; this is the backstop).  Runs before any TLS use. */
static NOSP void fix_segments(void)
{
    uint16_t fs, gs;
    __asm__ volatile("mov %%fs, %0" : "=r"(fs));
    __asm__ volatile("mov %%gs, %0" : "=r"(gs));
    int fs_bad = fs != saved_fs_sel, gs_bad = gs != saved_gs_sel;
    if (fs_bad) __asm__ volatile("mov %0, %%fs" ::"r"((uint32_t)saved_fs_sel));
    if (gs_bad) __asm__ volatile("mov %0, %%gs" ::"r"((uint32_t)saved_gs_sel));
    if (have_fsgsbase) {
        uint64_t b;
        __asm__ volatile("rdfsbase %0" : "=r"(b));
        if (b != saved_fs_base) __asm__ volatile("wrfsbase %0" ::"r"(saved_fs_base));
        __asm__ volatile("rdgsbase %0" : "=r"(b));
        if (b != saved_gs_base) __asm__ volatile("wrgsbase %0" ::"r"(saved_gs_base));
    } else {
        if (fs_bad) raw_syscall3(SYS_arch_prctl, ARCH_SET_FS, (long)saved_fs_base, 0);
        if (gs_bad) raw_syscall3(SYS_arch_prctl, ARCH_SET_GS, (long)saved_gs_base, 0);
    }
}

static void setup_fpu_clean_legacy(void);

/* ---- running one case ----------------------------------------------------- */

static NOSP void run_case(const struct req_hdr *h, const uint8_t *code, const uint8_t *data,
                          const uint8_t *fpu)
{
    uint8_t *cp = (uint8_t *)(uintptr_t)CODE_BASE;
    uint8_t *dp = (uint8_t *)(uintptr_t)DATA_BASE;
    uint32_t clen = h->code_len, dlen = h->data_len;

    hc_step = (h->flags & RQ_STEP) != 0;
    hc_fpu = (h->flags & RQ_FPU) != 0;
    if (hc_fpu) {
        /* the case's FXSAVE image becomes the legacy region hc_enter loads;
         * XSTATE_BV = x87 | SSE (the other components stay in init state) */
        memcpy(hc_fpu_clean, fpu, FPU_IMAGE);
        memset(hc_fpu_clean + 6, 0, 18);               /* FOP, FIP, FDP */
        uint32_t mx;
        memcpy(&mx, hc_fpu_clean + 24, 4);
        mx &= hc_mxcsr_mask;
        memcpy(hc_fpu_clean + 24, &mx, 4);
        memset(hc_fpu_clean + 28, 0, 4);
        hc_fpu_clean[512] = 3;
        memcpy(hc_fpu_out, hc_fpu_clean, FPU_IMAGE);
    }
    memcpy(cp, code, clen);
    if (clen < CODE_SIZE) {
        /* the end trap; in step mode the single-step trap finds the end and
         * the page holds just the code and zeros, as in the emulator */
        cp[clen] = hc_step ? 0x00 : 0xCC;
        memset(cp + clen + 1, 0, CODE_SIZE - clen - 1);
    }
    memcpy(dp, data, dlen);
    memset(dp + dlen, 0, DATA_SIZE - dlen);

    hc_mode64 = h->mode == 64;
    uint64_t mask = hc_mode64 ? ~0ULL : 0xffffffffULL;
    for (int i = 0; i < 16; i++) hc_in.gpr[i] = (hc_mode64 || i < 8) ? (h->regs[i] & mask) : 0;
    hc_in.rflags = (h->eflags & EFL_IN) | 0x202 | (hc_step ? EFL_TF : 0);
    hc_in.rip = CODE_BASE;
    hc_in.cs = hc_mode64 ? USER_CS : USER32_CS;
    hc_in.ss = USER_DS;
    hc_end = CODE_BASE + clen;
    hc_count = h->count;
    hc_prev_rip = CODE_BASE;
    hc_steps = 0;
    memset(&hc_out, 0, sizeof hc_out);

    if (hc_step && hc_count == 0) { /* nothing may run: the initial state */
        for (int i = 0; i < 16; i++) hc_out.gpr[i] = hc_in.gpr[i];
        hc_out.rip = CODE_BASE;
        hc_out.eflags = (hc_in.rflags & EFL_REPORT & ~EFL_TF) | 2;
        hc_out.status = clen == 0 ? ST_END : ST_COUNT;
        hc_out.vector = -1;
        if (hc_fpu) setup_fpu_clean_legacy();
        return;
    }
    hc_seq++;
    hc_in_case = 1;
    hc_enter();
    hc_in_case = 0;
    fix_segments();
    if (hc_fpu) setup_fpu_clean_legacy();
}

/* ---- process setup ---------------------------------------------------------- */

static uint8_t altstack[1 << 16] __attribute__((aligned(64)));

static int install_seccomp(void)
{
    static const int allowed[] = {SYS_read, SYS_write, SYS_rt_sigreturn, SYS_exit,
                                  SYS_exit_group, SYS_arch_prctl};
    enum { K = sizeof allowed / sizeof allowed[0] };
    struct sock_filter f[7 + K + 2];
    int n = 0;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, instruction_pointer) + 4);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int j = 0; j < K; j++)
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)allowed[j],
                                              (uint8_t)(K - j), 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {(unsigned short)n, f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return -1;
    return 0;
}

/* The clean image's legacy region and header: FCW = 0x37F (init),
 * MXCSR = 0x1F80, all else 0 (and for XRSTOR an all-zero header = every
 * component in its init state). */
static void setup_fpu_clean_legacy(void)
{
    memset(hc_fpu_clean, 0, 576);
    hc_fpu_clean[0] = 0x7F;
    hc_fpu_clean[1] = 0x03;
    hc_fpu_clean[24] = 0x80;
    hc_fpu_clean[25] = 0x1F;
}

static void setup_fpu_image(void)
{
    unsigned a, b, c, d;
    uint32_t xcr0_lo = 0, xcr0_hi = 0;
    memset(hc_fpu_clean, 0, sizeof hc_fpu_clean);
    setup_fpu_clean_legacy();
    {   /* the MXCSR bits this CPU accepts (FXSAVE's MXCSR_MASK; 0 = 0xFFBF) */
        static uint8_t fx[512] __attribute__((aligned(16)));
        uint32_t m;
        __asm__ volatile("fxsave64 %0" : "=m"(fx));
        memcpy(&m, fx + 28, 4);
        hc_mxcsr_mask = m ? m : 0xFFBF;
    }
    hc_use_xsave = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) { /* OSXSAVE */
        __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
        __cpuid_count(0xD, 0, a, b, c, d);
        if (b > 0 && b <= sizeof hc_fpu_clean) {
            hc_use_xsave = 1;
            /* x87, SSE, AVX, MPX, AVX-512; not PKRU (9) nor AMX (17, 18) */
            hc_xmask[0] = xcr0_lo & 0xFFu;
            hc_xmask[1] = 0;
        }
    }
}

static int setup(char *err, size_t errsz, uint32_t *flags, int tick_ms)
{
    *flags = 0;
    void *c = mmap((void *)(uintptr_t)CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (c == MAP_FAILED || c != (void *)(uintptr_t)CODE_BASE) {
        snprintf(err, errsz, "cannot map the code page at 0x%llx: %s", CODE_BASE,
                 c == MAP_FAILED ? strerror(errno) : "address taken (kernel without MAP_FIXED_NOREPLACE?)");
        return -1;
    }
    void *d = mmap((void *)(uintptr_t)DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (d == MAP_FAILED || d != (void *)(uintptr_t)DATA_BASE) {
        snprintf(err, errsz, "cannot map the scratch area at 0x%llx: %s", DATA_BASE,
                 d == MAP_FAILED ? strerror(errno) : "address taken (kernel without MAP_FIXED_NOREPLACE?)");
        return -1;
    }

    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);

    stack_t ss;
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0) {
        snprintf(err, errsz, "sigaltstack: %s", strerror(errno));
        return -1;
    }
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGPROF};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = hc_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            snprintf(err, errsz, "sigaction(%d): %s", sigs[i], strerror(errno));
            return -1;
        }
    }
    signal(SIGINT, SIG_IGN); /* the parent handles ^C; we leave on EOF */
    signal(SIGPIPE, SIG_DFL);
    sigset_t unblock;
    sigemptyset(&unblock);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&unblock, sigs[i]);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);

    struct itimerval it;
    it.it_interval.tv_sec = tick_ms / 1000;
    it.it_interval.tv_usec = (tick_ms % 1000) * 1000;
    it.it_value = it.it_interval;
    if (setitimer(ITIMER_PROF, &it, NULL) != 0) {
        snprintf(err, errsz, "setitimer: %s", strerror(errno));
        return -1;
    }

    setup_fpu_image();
    if (hc_use_xsave) *flags |= 4;

    have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
    if (have_fsgsbase) *flags |= 2;
    __asm__ volatile("mov %%fs, %0" : "=r"(saved_fs_sel));
    __asm__ volatile("mov %%gs, %0" : "=r"(saved_gs_sel));
    if (syscall(SYS_arch_prctl, ARCH_GET_FS, &saved_fs_base) != 0
        || syscall(SYS_arch_prctl, ARCH_GET_GS, &saved_gs_base) != 0) {
        snprintf(err, errsz, "arch_prctl(ARCH_GET_FS/GS): %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the serve loop ----------------------------------------------------------- */

#define INBUF (4u << 20)
#define OUTBUF (4u << 20)
#define MAX_RESP (sizeof(struct resp_hdr) + FPU_IMAGE + NCHUNKS * (2 + CHUNK))
static uint8_t inbuf[INBUF];
static uint8_t outbuf[OUTBUF];
static size_t in_lo, in_hi, out_len;
static int in_fd, out_fd;
static uint32_t my_pid;

static void flush_out(void)
{
    size_t off = 0;
    while (off < out_len) {
        ssize_t n = write(out_fd, outbuf + off, out_len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) raw_syscall3(SYS_exit_group, 0, 0, 0); /* parent gone */
        off += (size_t)n;
    }
    out_len = 0;
}

/* Make at least `need` bytes available at inbuf[in_lo]; 0 on EOF. */
static int fill(size_t need)
{
    if (in_hi - in_lo >= need) return 1;
    if (in_lo > 0) {
        memmove(inbuf, inbuf + in_lo, in_hi - in_lo);
        in_hi -= in_lo;
        in_lo = 0;
    }
    while (in_hi - in_lo < need) {
        if (out_len) flush_out(); /* never block on input with output pending */
        ssize_t n = read(in_fd, inbuf + in_hi, INBUF - in_hi);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        in_hi += (size_t)n;
    }
    return 1;
}

static void put_response(uint32_t seq, const struct req_hdr *h, const uint8_t *data, int bad)
{
    if (OUTBUF - out_len < MAX_RESP) flush_out();
    struct resp_hdr r;
    memset(&r, 0, sizeof r);
    r.magic = RESP_MAGIC;
    r.seq = seq;
    uint8_t *chunks = outbuf + out_len + sizeof r;
    uint32_t nch = 0;
    size_t fpu_len = (!bad && (h->flags & RQ_FPU)) ? FPU_IMAGE : 0;
    if (fpu_len) { /* the final x87/SSE image comes first */
        memcpy(chunks, hc_fpu_out, FPU_IMAGE);
        chunks += FPU_IMAGE;
    }
    if (bad) {
        r.status = ST_BADREQ;
        r.vector = -1;
    } else {
        r.status = (uint8_t)hc_out.status;
        r.signo = (uint8_t)hc_out.signo;
        r.vector = (int16_t)hc_out.vector;
        r.rip = hc_out.rip;
        r.eflags = hc_out.eflags;
        r.addr = hc_out.addr;
        r.trapno = (uint16_t)hc_out.trapno;
        r.si_code = (int16_t)hc_out.si_code;
        r.err = hc_out.err;
        r.steps = hc_out.steps;
        memcpy(r.regs, hc_out.gpr, sizeof r.regs);
        /* the scratch area, as the chunks that differ from the initial image */
        static const uint8_t zeros[CHUNK];
        const uint8_t *dp = (const uint8_t *)(uintptr_t)DATA_BASE;
        uint32_t dlen = h->data_len;
        for (uint32_t i = 0; i < NCHUNKS; i++) {
            uint32_t lo = i * CHUNK, hi = lo + CHUNK;
            int diff;
            if (hi <= dlen) diff = memcmp(dp + lo, data + lo, CHUNK) != 0;
            else if (lo >= dlen) diff = memcmp(dp + lo, zeros, CHUNK) != 0;
            else diff = memcmp(dp + lo, data + lo, dlen - lo) != 0
                        || memcmp(dp + dlen, zeros, hi - dlen) != 0;
            if (diff) {
                chunks[0] = (uint8_t)i;
                chunks[1] = (uint8_t)(i >> 8);
                memcpy(chunks + 2, dp + lo, CHUNK);
                chunks += 2 + CHUNK;
                nch++;
            }
        }
    }
    r.nchunks = nch;
    memcpy(outbuf + out_len, &r, sizeof r);
    out_len += sizeof r + fpu_len + (size_t)nch * (2 + CHUNK);
}

static void send_hello(uint32_t flags, const char *err)
{
    struct hello h;
    size_t el = err ? strlen(err) : 0;
    h.magic = HELLO_MAGIC;
    h.version = PROTOCOL_VERSION;
    h.pid = my_pid;
    h.flags = flags;
    h.hc_in_addr = (uint64_t)(uintptr_t)&hc_in;
    h.saved_rsp_addr = (uint64_t)(uintptr_t)&hc_saved_rsp;
    h.errlen = (uint32_t)el;
    memcpy(outbuf, &h, sizeof h);
    memcpy(outbuf + sizeof h, err ? err : "", el);
    out_len = sizeof h + el;
    flush_out();
}

static PyObject *py_serve(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"rfd", "wfd", "tick_ms", "seccomp", NULL};
    int rfd, wfd, tick_ms = 25, want_seccomp = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ii|ip", kwlist, &rfd, &wfd, &tick_ms, &want_seccomp))
        return NULL;
    if (tick_ms < 1) tick_ms = 1;
    in_fd = rfd;
    out_fd = wfd;
    my_pid = (uint32_t)getpid(); /* (getpid is not allowed under seccomp) */
    fflush(NULL);

    char err[256] = "";
    uint32_t flags = 0;
    if (setup(err, sizeof err, &flags, tick_ms) != 0) {
        send_hello(flags, err);
        _exit(2);
    }
    if (want_seccomp) {
        if (install_seccomp() == 0) {
            flags |= 1;
        } else {
            snprintf(err, sizeof err, "cannot install the seccomp filter: %s", strerror(errno));
            send_hello(flags, err);
            _exit(2);
        }
    }
    send_hello(flags, NULL);

    for (;;) {
        if (!fill(sizeof(struct req_hdr))) break;
        struct req_hdr h;
        memcpy(&h, inbuf + in_lo, sizeof h);
        if (h.magic != REQ_MAGIC) die("bad request magic / seq:", h.magic, h.seq);
        int bad = (h.mode != 32 && h.mode != 64) || h.code_len > CODE_SIZE || h.data_len > DATA_SIZE;
        size_t body = bad ? 0 : (size_t)h.code_len + h.data_len + (h.flags & RQ_FPU ? FPU_IMAGE : 0);
        if (!fill(sizeof h + body)) break;
        const uint8_t *code = inbuf + in_lo + sizeof h;
        const uint8_t *data = code + h.code_len;
        const uint8_t *fpu = data + h.data_len;
        /* Everything answered so far goes out before a case runs: if the case
         * kills this process, the parent knows exactly which case did it. */
        if (out_len) flush_out();
        if (!bad) run_case(&h, code, data, fpu);
        put_response(h.seq, &h, data, bad);
        in_lo += sizeof h + body;
    }
    flush_out();
    raw_syscall3(SYS_exit_group, 0, 0, 0);
    Py_RETURN_NONE; /* not reached */
}

/* ---- module ------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"serve", (PyCFunction)(void (*)(void))py_serve, METH_VARARGS | METH_KEYWORDS,
     "serve(rfd, wfd, tick_ms=25, seccomp=True)\n--\n\n"
     "Turn THIS process into a host-CPU oracle child: map the case memory, install\n"
     "the signal handlers, the hang timer and the seccomp filter, send a hello\n"
     "message on wfd, then execute the requests read from rfd until EOF and\n"
     "_exit.  Never returns.  Only call it in a dedicated child process\n"
     "(emu.fuzz.host does)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_hostcpu",
    "Native x86 execution engine for the host-CPU fuzzing oracle (see emu.fuzz.host).",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__hostcpu(void)
{
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "PROTOCOL_VERSION", PROTOCOL_VERSION)
        || PyModule_AddIntConstant(m, "CODE_BASE", (long)CODE_BASE)
        || PyModule_AddIntConstant(m, "CODE_SIZE", (long)CODE_SIZE)
        || PyModule_AddIntConstant(m, "DATA_BASE", (long)DATA_BASE)
        || PyModule_AddIntConstant(m, "DATA_SIZE", (long)DATA_SIZE)
        || PyModule_AddIntConstant(m, "CHUNK", CHUNK)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
