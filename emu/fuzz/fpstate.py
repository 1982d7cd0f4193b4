"""The x87/SSE state of a fuzzing case: a 512-byte FXSAVE64 image.

A :class:`~emu.fuzz.case.Case` with ``fpu`` set starts from that state on
every oracle (pvemu: ``Machine.set_fpu_image``; the host CPU: XRSTOR of the
image in the child; Unicorn: an FXRSTOR run before the case) and its
:class:`~emu.fuzz.case.Result` carries the final image (FXSAVE or the signal
frame's copy).  Cases without ``fpu`` carry no FP state and cost nothing
more than before.

Compared fields (:func:`fpu_diffs`): FCW, FSW (with TOP), the abridged tag
byte, MXCSR, the eight 80-bit registers ST(0)-ST(7) and XMM0-XMM7 (XMM0-15
in 64-bit cases).  FOP, FIP, FDP and their selectors are not compared: they
describe the last x87 instruction at addresses each engine reports its own
way (a 32-bit case saved by a 64-bit kernel, Unicorn's linear FIP).
"""
from __future__ import annotations

import struct

IMAGE_SIZE = 512
MXCSR_MASK = 0xFFFF        # the MXCSR bits pvemu (and any CPU with DAZ) accepts

_HEAD = struct.Struct("<HHBxHQQII")   # fcw fsw ftw_abridged fop fip fdp mxcsr mxcsr_mask


def make_image(fcw=0x37F, fsw=0, ftw=0, mxcsr=0x1F80, st=(), xmm=()) -> bytes:
    """An FXSAVE64 image: st = up to eight (significand, sign_exponent)
    pairs for ST(0)..ST(7), xmm = up to sixteen 128-bit integers, ftw the
    abridged tag byte (bit k set: physical register k is not empty)."""
    img = bytearray(IMAGE_SIZE)
    _HEAD.pack_into(img, 0, fcw & 0xFFFF, fsw & 0xFFFF, ftw & 0xFF, 0, 0, 0,
                    mxcsr & MXCSR_MASK, 0)
    for k, (sig, se) in enumerate(st):
        struct.pack_into("<QH", img, 32 + 16 * k, sig & (2**64 - 1), se & 0xFFFF)
    for k, v in enumerate(xmm):
        img[160 + 16 * k:176 + 16 * k] = (v & (2**128 - 1)).to_bytes(16, "little")
    return bytes(img)


def sanitize_image(img: bytes) -> bytes:
    """The image as every oracle can load it: 512 bytes, reserved MXCSR bits
    clear (FXRSTOR would #GP), FOP/FIP/FDP and every reserved byte zero."""
    img = bytearray(bytes(img)[:IMAGE_SIZE].ljust(IMAGE_SIZE, b"\0"))
    fcw, fsw, ftw, _, _, _, mxcsr, _ = _HEAD.unpack_from(img, 0)
    _HEAD.pack_into(img, 0, fcw, fsw, ftw, 0, 0, 0, mxcsr & MXCSR_MASK, 0)
    for k in range(8):
        img[42 + 16 * k:48 + 16 * k] = bytes(6)
    img[416:] = bytes(IMAGE_SIZE - 416)
    return bytes(img)


def fields(img: bytes, mode: int) -> dict:
    """The compared fields of an image, by name."""
    fcw, fsw, ftw, _, _, _, mxcsr, _ = _HEAD.unpack_from(img, 0)
    out = {"fcw": fcw, "fsw": fsw, "ftw": ftw, "mxcsr": mxcsr}
    for k in range(8):
        sig, se = struct.unpack_from("<QH", img, 32 + 16 * k)
        out[f"st{k}"] = (se << 64) | sig
    for k in range(16 if mode == 64 else 8):
        out[f"xmm{k}"] = int.from_bytes(img[160 + 16 * k:176 + 16 * k], "little")
    return out


def fpu_diffs(mode: int, a, b, names=("a", "b")) -> list:
    """Differences of the FP state of two results (both must carry one)."""
    if a is None or b is None:
        return []
    fa, fb = fields(a, mode), fields(b, mode)
    na, nb = names
    width = {"fcw": 4, "fsw": 4, "ftw": 2, "mxcsr": 4}
    out = []
    for k, va in fa.items():
        vb = fb[k]
        if va != vb:
            w = width.get(k, 20 if k.startswith("st") else 32)
            out.append(f"{k}: {na}={va:#0{w + 2}x} {nb}={vb:#0{w + 2}x}")
    return out
