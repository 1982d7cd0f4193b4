"""The largest values a Machine takes, in one place for the library's
argument checks and the command line's (pvemu/options.py)."""

#: Guest RAM of Machine(memory=N), bytes.
MAX_MEMORY = 1 << 40
#: Instructions one run(count=N) may retire (the counters are 64-bit).
MAX_COUNT = (1 << 63) - 1
#: Machine.ips, virtual instructions per second: the timers multiply a tick
#: count (up to 2**16 for the PIT) by it in 64 bits.
MAX_IPS = 10 ** 12
