/* pingpong: a counter bounced N times (rounds=N, default 1000) through a
 * shared page and event channels.  Under the supervisor: two domains, each
 * told the other's id by peer=D on its command line (`pvemu run
 * --supervised` adds it; without it domains 1 and 2 pair).  The lower id is
 * "ping": it grants its page to the peer, allocates an unbound port for it
 * and publishes both with store_op (KEY_GREF, then KEY_PORT); the other,
 * "pong", polls ping's keys (store_op read, a yield between tries), maps
 * the page and binds the port.  Each side adds
 * 1 when the counter's parity says it is its turn and notifies the other.  Natively (no supervisor) the
 * two ends are two tasks of one kernel that yield to each other. */
#include "guest.h"

const char guest_name[] = "pingpong";

struct shared { volatile u32 counter, rounds, done, magic; };
static u8 page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static struct shared *sh = (struct shared *)page;
static u32 port;
static int ping;
static u16 peer;
static volatile int finished;

/* store_op keys under ping's domain (guests/README.md). */
#define KEY_GREF    0x70700001u         /* the grant ref of ping's page, for pong */
#define KEY_PORT    0x70700002u         /* ping's unbound port for domain 2; written last */
#define POLL_TRIES  100000

static long store_write(u32 key, u64 value)
{
    struct pvemu_store s = { PVEMU_DOMID_SELF, 0, key, value };
    return HC(store_op, PVEMU_STOREOP_write, &s, 0);
}

/* Domain domid's key, polled until present; -errno if it never is. */
static long store_wait(u16 domid, u32 key, u64 *value)
{
    for (int tries = 0; tries < POLL_TRIES; tries++) {
        struct pvemu_store s = { domid, 0, key, 0 };
        long r = HC(store_op, PVEMU_STOREOP_read, &s, 0);
        if (r != -PVEMU_ENOENT) {
            *value = s.value;
            return r;
        }
        HC(sched_op, PVEMU_SCHEDOP_yield, 0, 0);
    }
    return -PVEMU_ENOENT;
}

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
    peer = (u16)cmdline_uint("peer", pv_domid == 1 ? 2 : 1);
    if (peer == pv_domid)
        panic("peer=%u is this domain", peer);
    ping = pv_domid < peer;
    printk("pingpong: domain %u is %s\n", pv_domid, ping ? "ping" : "pong");
    if (ping) {
        struct pvemu_gnttab_grant g = { peer, 0, 0, (uptr)page >> 12 };
        long r = HC(grant_table_op, PVEMU_GNTTABOP_grant, &g, 0);
        long p = evtchn_alloc_unbound(peer, on_event);
        if (r < 0 || p < 0)
            panic("grant %ld / alloc_unbound %ld", r, p);
        port = (u32)p;
        sh->rounds = rounds;
        sh->magic = 0x50494E47u;        /* "PING": pong's first event starts play */
        r = store_write(KEY_GREF, g.ref);
        if (r >= 0)
            r = store_write(KEY_PORT, port);
        if (r < 0)
            panic("store_op write: %ld", r);
    } else {
        u64 gref = 0, rport = 0;
        long r = store_wait(peer, KEY_PORT, &rport);
        if (r >= 0)
            r = store_wait(peer, KEY_GREF, &gref);
        if (r < 0)
            panic("store_op read of domain %u's keys: %ld", peer, r);
        struct pvemu_gnttab_map m = { peer, 0, (u32)gref, (uptr)page >> 12 };
        r = HC(grant_table_op, PVEMU_GNTTABOP_map, &m, 0);
        long p = r < 0 ? r : evtchn_bind_interdomain(peer, (u32)rport, on_event);
        if (r < 0 || p < 0)
            panic("map grant %llu (%ld) / bind port %llu (%ld) of domain %u", gref, r, rport, p, peer);
        port = (u32)p;
        pv_ops.mmu.flush_tlb_one((uptr)page);
        evtchn_send(port);
    }
    wait_finished();
    printk("pingpong: %u round trips, counter %u\n", sh->rounds, sh->counter);
    return sh->counter == 2 * sh->rounds ? 0 : 1;
}
