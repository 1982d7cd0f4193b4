"""Why a run stopped: the structured result of :meth:`emu.Machine.run`."""
from __future__ import annotations

from dataclasses import dataclass

#: Exception vector names (Intel SDM vol. 3, table 6-1).
VECTORS = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint",
    4: "#OF overflow", 5: "#BR bound range exceeded", 6: "#UD invalid opcode",
    7: "#NM device not available", 8: "#DF double fault", 10: "#TS invalid TSS",
    11: "#NP segment not present", 12: "#SS stack fault",
    13: "#GP general protection", 14: "#PF page fault", 16: "#MF x87 error",
    17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD error",
}


@dataclass
class Exit:
    """The end of one :meth:`emu.Machine.run` call.

    reason        'hlt' (HLT executed; rip is after it), 'until' (rip reached
                  the `until` address), 'debug-exit' (the guest wrote `status`
                  to the isa-debug-exit port 0xF4), 'count' (the instruction budget ran
                  out), 'triple-fault' (an exception while delivering a double
                  fault: a PC would reset), 'exception' (a guest exception with nowhere to go: a
                  fault leaves rip at the faulting instruction, a software
                  interrupt such as INT n leaves it after), 'unmapped' (an
                  access outside guest memory), 'protection' (an access its
                  mapped region does not permit, see Machine.mem_map),
                  'stop' (Machine.stop() was called), 'shutdown' (a device
                  powered off or reset the machine: see `shutdown`)
    address       the address of the instruction the run stopped at (for
                  'exception' and 'unmapped': the instruction responsible)
    instructions  instructions retired by this run() call
    vector        the exception vector ('exception' only)
    error_code    the exception's error code, or None if it has none
    insn_bytes    the bytes of the instruction at `address` (up to 15)
    registers     the CPU state (Machine.state()) for 'exception',
                  'triple-fault' and 'unmapped'
    access        'read', 'write' or 'fetch' ('unmapped', 'protection')
    access_address  the guest address that could not be accessed
    privop        ('privop' only: a privileged instruction trapped to the
                  supervisor and nobody handled it) its class, e.g. 'write_cr'
    operands      ('privop') the trapped instruction's decoded operands
    shutdown      ('shutdown') 'poweroff' (ACPI S5) or 'reset' (the keyboard
                  controller's reset line)
    cpu           the CPU the reason concerns (Machine(cpus=N); 0 with one CPU)

    Under a supervisor (paravirt/), 'hypercall' (VMCALL), 'privop' and
    'vtimer' (the supervisor's timer is due) end a run only when no handler
    is installed for them (Machine.set_exit_handlers).
    """
    reason: str
    address: int
    instructions: int
    vector: int | None = None
    error_code: int | None = None
    insn_bytes: bytes = b""
    access: str | None = None
    access_address: int | None = None
    status: int | None = None
    registers: dict | None = None
    privop: str | None = None
    operands: tuple | None = None
    shutdown: str | None = None
    cpu: int = 0

    @property
    def vector_name(self) -> str | None:
        if self.vector is None:
            return None
        return VECTORS.get(self.vector, f"vector {self.vector}")

    def __str__(self) -> str:
        where = f"at {self.address:#x}"
        if self.reason == "exception":
            err = "" if self.error_code is None else f" (error code {self.error_code:#x})"
            return (f"exception {self.vector_name}{err} {where}, "
                    f"instruction bytes {self.insn_bytes.hex(' ') or '?'}")
        if self.reason in ("unmapped", "protection"):
            return (f"{self.access} of unmapped address {self.access_address:#x} "
                    f"by the instruction {where} ({self.insn_bytes.hex(' ') or '?'})")
        if self.reason == "triple-fault":
            return f"triple fault at {self.address:#x} (instruction bytes {self.insn_bytes.hex(' ') or '?'})"
        if self.reason == "privop":
            return f"privileged instruction ({self.privop}) trapped {where}, operands {self.operands}"
        if self.reason == "debug-exit":
            return f"debug-exit with status {self.status} {where} after {self.instructions} instructions"
        if self.reason == "shutdown":
            return f"shutdown ({self.shutdown}) {where} after {self.instructions} instructions"
        return f"{self.reason} {where} after {self.instructions} instructions"
