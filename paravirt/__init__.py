"""pvemu's paravirtualization layer: the pv_ops table, the hypercall ABI
(include/pvemu_abi.h, mirrored by paravirt.abi) and the supervisor domain,
written in Python, that runs several guest domains on the emulator core.

    from paravirt import Supervisor
    sup = Supervisor()
    sup.create(open("guest.elf", "rb").read(), name="guest", memory=32 << 20)
    for name, dom in sup.run().items():
        print(dom.describe())
"""
from paravirt.domain import Domain
from paravirt.errors import ConfigError, HypercallError
from paravirt.pvops import NATIVE, GuestFault, PvOp, PvOpsTable
from paravirt.supervisor import Supervisor

__all__ = ["Supervisor", "Domain", "PvOp", "PvOpsTable", "NATIVE", "GuestFault",
           "HypercallError", "ConfigError"]
