/* pingpong: a counter bounced N times (rounds=N, default 1000) through a
 * shared page and event channels.  Under the supervisor: two domains, the
 * first (domain 1) "ping", which grants its page to domain 2 and offers it
 * an unbound port; domain 2, "pong", finds them by probing (grant refs and
 * ports in order: only those meant for it can be mapped and bound), maps
 * the page and binds the port.  Each side adds 1 when the counter's parity
 * says it is its turn and notifies the other.  Natively (no supervisor) the
 * two ends are two tasks of one kernel that yield to each other. */
#include "guest.h"

const char guest_name[] = "pingpong";

struct shared { volatile u32 counter, rounds, done, magic; };
static u8 page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static struct shared *sh = (struct shared *)page;
static u32 port;
static int ping;
static volatile int finished;

/* My turn: ping moves the counter from even to odd, pong back to even. */
static int my_turn(void) { return (sh->counter & 1) == (ping ? 0u : 1u); }

static void on_event(u32 p)
{
    (void)p;
    if (sh->done) {
        finished = 1;
    } else if (sh->magic && my_turn()) {
        if (ping && sh->counter == 2 * sh->rounds) {
            sh->done = 1;
            finished = 1;
        } else {
            sh->counter++;
        }
        evtchn_send(port);
    }
}

static void native_end(long is_ping)
{
    while (!sh->done) {
        if ((sh->counter & 1) == (is_ping ? 0u : 1u)) {
            if (is_ping && sh->counter == 2 * sh->rounds)
                sh->done = 1;
            else
                sh->counter++;
        }
        schedule();
    }
}

static void wait_finished(void)
{
    pv_ops.irq.disable();
    while (!finished) {
        pv_ops.irq.safe_halt();
        pv_ops.irq.disable();
    }
    pv_ops.irq.enable();
}

int guest_main(void)
{
    u32 rounds = cmdline_uint("rounds", 1000);
    if (!shared_info) {
        sh->rounds = rounds;
        task_create(native_end, 1, 0);
        task_create(native_end, 0, 0);
        while (tasks_live())
            schedule();
        printk("pingpong: no supervisor: both ends are tasks of this kernel\n");
        printk("pingpong: %u round trips, counter %u\n", rounds, sh->counter);
        return sh->counter == 2 * rounds ? 0 : 1;
    }
    ping = pv_domid == 1;
    printk("pingpong: domain %u is %s\n", pv_domid, ping ? "ping" : "pong");
    if (ping) {
        struct pvemu_gnttab_grant g = { 2, 0, 0, (uptr)page >> 12 };
        long r = HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0);
        long p = evtchn_alloc_unbound(2, on_event);
        if (r < 0 || p < 0)
            panic("grant %ld / alloc_unbound %ld", r, p);
        port = (u32)p;
        sh->rounds = rounds;
        sh->magic = 0x50494E47u;        /* "PING": pong's first event starts play */
    } else {
        long r = -1, p = -1;
        for (int tries = 0; tries < 10000 && r < 0; tries++) {
            for (u32 ref = 0; ref < 64 && r < 0; ref++) {
                struct pvemu_gnttab_map m = { 1, 0, ref, (uptr)page >> 12 };
                r = HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0);
            }
            if (r < 0)
                HC(sched_op, PVEMU_SCHEDOP_yield, 0, 0);
        }
        for (u32 remote = 1; remote < 64 && r >= 0 && p < 0; remote++)
            p = evtchn_bind_interdomain(1, remote, on_event);
        if (r < 0 || p < 0)
            panic("found no grant (%ld) or port (%ld) from domain 1", r, p);
        port = (u32)p;
        pv_ops.mmu.flush_tlb_one((uptr)page);
        evtchn_send(port);
    }
    wait_finished();
    printk("pingpong: %u round trips, counter %u\n", sh->rounds, sh->counter);
    return sh->counter == 2 * sh->rounds ? 0 : 1;
}
