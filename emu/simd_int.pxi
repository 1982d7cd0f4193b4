# The integer half of MMX, SSE, SSE2, SSSE3, SSE4.1 and SSE4.2.
#
# Most instructions are a pure computation on vector values, a kernel
#     k_x(Vec* d, const Vec* s, uint32_t n, uint32_t imm)
# that combines the destination d (also the first source) with the second
# source s over n bytes (8 for an MMX register, 16 for an xmm register) and
# the immediate; one kernel serves the MMX and the SSE form.  The handlers
# (one per form: h_x for xmm, h_x_mm for mm) make the checks and fetch the
# operands through the SIMD plumbing (simd.pxi) and call the kernel.  Lanes
# are plain C loops, which the C compiler vectorizes.

from libc.stdint cimport int8_t, int16_t

ctypedef void (*vkern_t)(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil

# --- saturation -------------------------------------------------------------

cdef inline uint8_t sat_s8(int32_t v) noexcept nogil:
    return <uint8_t>(-128 if v < -128 else (127 if v > 127 else v))

cdef inline uint8_t sat_u8(int32_t v) noexcept nogil:
    return <uint8_t>(0 if v < 0 else (255 if v > 255 else v))

cdef inline uint16_t sat_s16(int32_t v) noexcept nogil:
    return <uint16_t>(-32768 if v < -32768 else (32767 if v > 32767 else v))

cdef inline uint16_t sat_u16(int32_t v) noexcept nogil:
    return <uint16_t>(0 if v < 0 else (65535 if v > 65535 else v))

cdef inline int32_t sb(uint8_t v) noexcept nogil:
    return <int8_t>v

cdef inline int32_t sw(uint16_t v) noexcept nogil:
    return <int16_t>v

# --- lane-wise arithmetic ----------------------------------------------------

cdef inline void k_paddb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = <uint8_t>(d.b[k] + s.b[k])

cdef inline void k_paddw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>(d.w[k] + s.w[k])

cdef inline void k_paddd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = d.d[k] + s.d[k]

cdef inline void k_paddq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = d.q[k] + s.q[k]

cdef inline void k_psubb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = <uint8_t>(d.b[k] - s.b[k])

cdef inline void k_psubw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>(d.w[k] - s.w[k])

cdef inline void k_psubd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = d.d[k] - s.d[k]

cdef inline void k_psubq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = d.q[k] - s.q[k]

cdef inline void k_paddsb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = sat_s8(sb(d.b[k]) + sb(s.b[k]))

cdef inline void k_paddsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = sat_s16(sw(d.w[k]) + sw(s.w[k]))

cdef inline void k_paddusb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = sat_u8(<int32_t>d.b[k] + s.b[k])

cdef inline void k_paddusw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = sat_u16(<int32_t>d.w[k] + s.w[k])

cdef inline void k_psubsb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = sat_s8(sb(d.b[k]) - sb(s.b[k]))

cdef inline void k_psubsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = sat_s16(sw(d.w[k]) - sw(s.w[k]))

cdef inline void k_psubusb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = sat_u8(<int32_t>d.b[k] - <int32_t>s.b[k])

cdef inline void k_psubusw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = sat_u16(<int32_t>d.w[k] - <int32_t>s.w[k])

cdef inline void k_pmullw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>(sw(d.w[k]) * sw(s.w[k]))

cdef inline void k_pmulhw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>((sw(d.w[k]) * sw(s.w[k])) >> 16)

cdef inline void k_pmulhuw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>((<uint32_t>d.w[k] * s.w[k]) >> 16)

cdef inline void k_pmulhrsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>((((sw(d.w[k]) * sw(s.w[k])) >> 14) + 1) >> 1)

cdef inline void k_pmulld(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = d.d[k] * s.d[k]

cdef inline void k_pmuludq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """The even (low) dwords of each quadword, unsigned, to a quadword."""
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = <uint64_t>d.d[2 * k] * s.d[2 * k]

cdef inline void k_pmuldq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = <uint64_t>(<int64_t><int32_t>d.d[2 * k] * <int32_t>s.d[2 * k])

cdef inline void k_pmaddwd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """Pairs of signed word products, summed to dwords (0x8000 * 0x8000 * 2
    wraps to 0x80000000, as in hardware)."""
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = <uint32_t>(sw(d.w[2 * k]) * sw(s.w[2 * k])) + \
            <uint32_t>(sw(d.w[2 * k + 1]) * sw(s.w[2 * k + 1]))

cdef inline void k_pmaddubsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """Unsigned bytes of d times signed bytes of s, pairs summed with signed
    saturation."""
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = sat_s16(<int32_t>d.b[2 * k] * sb(s.b[2 * k]) + <int32_t>d.b[2 * k + 1] * sb(s.b[2 * k + 1]))

cdef inline void k_pavgb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = <uint8_t>((<uint32_t>d.b[k] + s.b[k] + 1) >> 1)

cdef inline void k_pavgw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>((<uint32_t>d.w[k] + s.w[k] + 1) >> 1)

cdef inline void k_psadbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """Sum of absolute byte differences, one per quadword, in its low word."""
    cdef uint32_t k, t
    cdef uint32_t sum
    cdef int32_t x
    for k in range(n // 8):
        sum = 0
        for t in range(8):
            x = <int32_t>d.b[8 * k + t] - <int32_t>s.b[8 * k + t]
            sum += <uint32_t>(x if x >= 0 else -x)
        d.q[k] = sum

cdef inline void k_pand(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = d.q[k] & s.q[k]

cdef inline void k_pandn(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = ~d.q[k] & s.q[k]

cdef inline void k_por(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = d.q[k] | s.q[k]

cdef inline void k_pxor(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = d.q[k] ^ s.q[k]

# --- minimum, maximum, sign, absolute value ---------------------------------

cdef inline void k_pminub(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = s.b[k] if s.b[k] < d.b[k] else d.b[k]

cdef inline void k_pmaxub(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = s.b[k] if s.b[k] > d.b[k] else d.b[k]

cdef inline void k_pminsb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = s.b[k] if sb(s.b[k]) < sb(d.b[k]) else d.b[k]

cdef inline void k_pmaxsb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = s.b[k] if sb(s.b[k]) > sb(d.b[k]) else d.b[k]

cdef inline void k_pminuw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = s.w[k] if s.w[k] < d.w[k] else d.w[k]

cdef inline void k_pmaxuw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = s.w[k] if s.w[k] > d.w[k] else d.w[k]

cdef inline void k_pminsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = s.w[k] if sw(s.w[k]) < sw(d.w[k]) else d.w[k]

cdef inline void k_pmaxsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = s.w[k] if sw(s.w[k]) > sw(d.w[k]) else d.w[k]

cdef inline void k_pminud(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = s.d[k] if s.d[k] < d.d[k] else d.d[k]

cdef inline void k_pmaxud(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = s.d[k] if s.d[k] > d.d[k] else d.d[k]

cdef inline void k_pminsd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = s.d[k] if <int32_t>s.d[k] < <int32_t>d.d[k] else d.d[k]

cdef inline void k_pmaxsd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = s.d[k] if <int32_t>s.d[k] > <int32_t>d.d[k] else d.d[k]

cdef inline void k_psignb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = <uint8_t>(0 if s.b[k] == 0 else (-d.b[k] if s.b[k] & 0x80 else d.b[k]))

cdef inline void k_psignw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>(0 if s.w[k] == 0 else (-d.w[k] if s.w[k] & 0x8000 else d.w[k]))

cdef inline void k_psignd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = 0 if s.d[k] == 0 else (-d.d[k] if s.d[k] & 0x80000000U else d.d[k])

cdef inline void k_pabsb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = <uint8_t>(-s.b[k] if s.b[k] & 0x80 else s.b[k])

cdef inline void k_pabsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = <uint16_t>(-s.w[k] if s.w[k] & 0x8000 else s.w[k])

cdef inline void k_pabsd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = -s.d[k] if s.d[k] & 0x80000000U else s.d[k]

# --- compares ------------------------------------------------------------------

cdef inline void k_pcmpeqb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = 0xFF if d.b[k] == s.b[k] else 0

cdef inline void k_pcmpeqw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = 0xFFFF if d.w[k] == s.w[k] else 0

cdef inline void k_pcmpeqd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = 0xFFFFFFFFU if d.d[k] == s.d[k] else 0

cdef inline void k_pcmpeqq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = <uint64_t>-1 if d.q[k] == s.q[k] else 0

cdef inline void k_pcmpgtb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n):
        d.b[k] = 0xFF if sb(d.b[k]) > sb(s.b[k]) else 0

cdef inline void k_pcmpgtw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 2):
        d.w[k] = 0xFFFF if sw(d.w[k]) > sw(s.w[k]) else 0

cdef inline void k_pcmpgtd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 4):
        d.d[k] = 0xFFFFFFFFU if <int32_t>d.d[k] > <int32_t>s.d[k] else 0

cdef inline void k_pcmpgtq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(n // 8):
        d.q[k] = <uint64_t>-1 if <int64_t>d.q[k] > <int64_t>s.q[k] else 0

# --- packs and unpacks -----------------------------------------------------------

cdef inline void k_packsswb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 2
    for k in range(h):
        r.b[k] = sat_s8(sw(d.w[k]))
        r.b[h + k] = sat_s8(sw(s.w[k]))
    memcpy(d, &r, n)

cdef inline void k_packuswb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 2
    for k in range(h):
        r.b[k] = sat_u8(sw(d.w[k]))
        r.b[h + k] = sat_u8(sw(s.w[k]))
    memcpy(d, &r, n)

cdef inline void k_packssdw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 4
    cdef int64_t x, y
    for k in range(h):
        x = <int32_t>d.d[k]
        y = <int32_t>s.d[k]
        r.w[k] = <uint16_t>(-32768 if x < -32768 else (32767 if x > 32767 else x))
        r.w[h + k] = <uint16_t>(-32768 if y < -32768 else (32767 if y > 32767 else y))
    memcpy(d, &r, n)

cdef inline void k_packusdw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 4
    cdef int64_t x, y
    for k in range(h):
        x = <int32_t>d.d[k]
        y = <int32_t>s.d[k]
        r.w[k] = <uint16_t>(0 if x < 0 else (65535 if x > 65535 else x))
        r.w[h + k] = <uint16_t>(0 if y < 0 else (65535 if y > 65535 else y))
    memcpy(d, &r, n)

cdef inline void unpack(Vec* d, const Vec* s, uint32_t n, uint32_t esize, bint high) noexcept nogil:
    """Interleave the low (or high) halves of d and s, esize bytes a lane."""
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t lanes = n // (2 * esize), base = (n // 2) if high else 0
    for k in range(lanes):
        memcpy(&r.b[2 * k * esize], &d.b[base + k * esize], esize)
        memcpy(&r.b[(2 * k + 1) * esize], &s.b[base + k * esize], esize)
    memcpy(d, &r, n)

cdef inline void k_punpcklbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 1, False)

cdef inline void k_punpcklwd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 2, False)

cdef inline void k_punpckldq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 4, False)

cdef inline void k_punpcklqdq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 8, False)

cdef inline void k_punpckhbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 1, True)

cdef inline void k_punpckhwd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 2, True)

cdef inline void k_punpckhdq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 4, True)

cdef inline void k_punpckhqdq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    unpack(d, s, n, 8, True)

# --- shifts: the count is s's low quadword (an immediate form puts imm there) ---

cdef inline void k_psllw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 2):
        d.w[k] = 0 if cnt > 15 else <uint16_t>(d.w[k] << cnt)

cdef inline void k_pslld(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 4):
        d.d[k] = 0 if cnt > 31 else d.d[k] << cnt

cdef inline void k_psllq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 8):
        d.q[k] = 0 if cnt > 63 else d.q[k] << cnt

cdef inline void k_psrlw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 2):
        d.w[k] = 0 if cnt > 15 else <uint16_t>(d.w[k] >> cnt)

cdef inline void k_psrld(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 4):
        d.d[k] = 0 if cnt > 31 else d.d[k] >> cnt

cdef inline void k_psrlq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0]
    for k in range(n // 8):
        d.q[k] = 0 if cnt > 63 else d.q[k] >> cnt

cdef inline void k_psraw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0] if s.q[0] < 15 else 15
    for k in range(n // 2):
        d.w[k] = <uint16_t>(sw(d.w[k]) >> cnt)

cdef inline void k_psrad(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef uint64_t cnt = s.q[0] if s.q[0] < 31 else 31
    for k in range(n // 4):
        d.d[k] = <uint32_t>(<int32_t>d.d[k] >> cnt)

cdef inline void k_pslldq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """Shift the whole register left by imm bytes."""
    cdef Vec r
    cdef uint32_t cnt = imm if imm < 16 else 16
    memset(&r, 0, 16)
    memcpy(&r.b[cnt], d, 16 - cnt)
    memcpy(d, &r, 16)

cdef inline void k_psrldq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef Vec r
    cdef uint32_t cnt = imm if imm < 16 else 16
    memset(&r, 0, 16)
    memcpy(&r, &d.b[cnt], 16 - cnt)
    memcpy(d, &r, 16)

# --- shuffles, blends, alignment ----------------------------------------------------

cdef inline void k_pshufw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """PSHUFW and PSHUFLW: the low four words of d from those of s by imm."""
    cdef uint32_t k
    for k in range(4):
        d.w[k] = s.w[(imm >> (2 * k)) & 3]
    if n == 16:
        d.q[1] = s.q[1]

cdef inline void k_pshufhw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    d.q[0] = s.q[0]
    for k in range(4):
        d.w[4 + k] = s.w[4 + ((imm >> (2 * k)) & 3)]

cdef inline void k_pshufd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(4):
        d.d[k] = s.d[(imm >> (2 * k)) & 3]

cdef inline void k_pshufb(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    for k in range(n):
        r.b[k] = d.b[s.b[k] & (n - 1)] & <uint8_t>((s.b[k] >> 7) - 1)   # 0 when bit 7 is set
    memcpy(d, &r, n)

cdef inline void k_palignr(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """d:s (d the high half) shifted right by imm bytes, the low n bytes kept."""
    cdef uint8_t t[64]
    memset(t, 0, sizeof(t))
    memcpy(t, s, n)
    memcpy(&t[n], d, n)
    memcpy(d, &t[imm if imm < 2 * n else 2 * n], n)

cdef inline void k_pblendw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    cdef uint32_t k
    for k in range(8):
        if (imm >> k) & 1:
            d.w[k] = s.w[k]

# --- horizontal arithmetic: pairs of d's lanes, then pairs of s's ------------------

cdef inline void horizontal_w(Vec* d, const Vec* s, uint32_t n, int kind) noexcept nogil:
    """kind 0 add, 1 add with signed saturation, 2 subtract, 3 subtract with
    signed saturation (each even lane minus the odd one after it)."""
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 4
    cdef const Vec* src
    cdef int32_t a, b, v
    for k in range(2 * h):
        src = d if k < h else s
        a = sw(src.w[2 * (k % h)])
        b = sw(src.w[2 * (k % h) + 1])
        v = a + b if kind < 2 else a - b
        r.w[k] = sat_s16(v) if kind & 1 else <uint16_t>v
    memcpy(d, &r, n)

cdef inline void horizontal_d(Vec* d, const Vec* s, uint32_t n, bint sub) noexcept nogil:
    cdef uint32_t k
    cdef Vec r
    cdef uint32_t h = n // 8
    cdef const Vec* src
    for k in range(2 * h):
        src = d if k < h else s
        r.d[k] = src.d[2 * (k % h)] - src.d[2 * (k % h) + 1] if sub else \
            src.d[2 * (k % h)] + src.d[2 * (k % h) + 1]
    memcpy(d, &r, n)

cdef inline void k_phaddw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_w(d, s, n, 0)

cdef inline void k_phaddsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_w(d, s, n, 1)

cdef inline void k_phsubw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_w(d, s, n, 2)

cdef inline void k_phsubsw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_w(d, s, n, 3)

cdef inline void k_phaddd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_d(d, s, n, False)

cdef inline void k_phsubd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    horizontal_d(d, s, n, True)

cdef inline void k_phminposuw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """The smallest unsigned word of s and its (lowest) index."""
    cdef uint32_t k
    cdef uint32_t best = 0
    for k in range(1, 8):
        if s.w[k] < s.w[best]:
            best = k
    d.q[1] = 0
    d.q[0] = s.w[best] | (<uint64_t>best << 16)

cdef inline void k_mpsadbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    """Eight sums of absolute differences: a sliding 4-byte window of d
    (from byte 4 * imm[2]) against the 4-byte block imm[1:0] of s."""
    cdef uint32_t k, t
    cdef Vec r
    cdef uint32_t doff = ((imm >> 2) & 1) * 4, soff = (imm & 3) * 4, sum
    cdef int32_t x
    for k in range(8):
        sum = 0
        for t in range(4):
            x = <int32_t>d.b[doff + k + t] - <int32_t>s.b[soff + t]
            sum += <uint32_t>(x if x >= 0 else -x)
        r.w[k] = <uint16_t>sum
    memcpy(d, &r, 16)

# --- sign and zero extension (PMOVSX*/PMOVZX*): s's low lanes widened -------------

cdef inline void widen(Vec* d, const Vec* s, uint32_t from_size, uint32_t to_size, bint signed) noexcept nogil:
    cdef uint32_t k
    cdef uint32_t lanes = 16 // to_size
    cdef uint64_t v
    cdef Vec r
    for k in range(lanes):
        if from_size == 1:
            v = <uint64_t><int64_t>sb(s.b[k]) if signed else s.b[k]
        elif from_size == 2:
            v = <uint64_t><int64_t>sw(s.w[k]) if signed else s.w[k]
        else:
            v = <uint64_t><int64_t><int32_t>s.d[k] if signed else s.d[k]
        if to_size == 2:
            r.w[k] = <uint16_t>v
        elif to_size == 4:
            r.d[k] = <uint32_t>v
        else:
            r.q[k] = v
    d.q[0] = r.q[0]
    d.q[1] = r.q[1]

cdef inline void k_pmovsxbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 2, True)

cdef inline void k_pmovsxbd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 4, True)

cdef inline void k_pmovsxbq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 8, True)

cdef inline void k_pmovsxwd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 2, 4, True)

cdef inline void k_pmovsxwq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 2, 8, True)

cdef inline void k_pmovsxdq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 4, 8, True)

cdef inline void k_pmovzxbw(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 2, False)

cdef inline void k_pmovzxbd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 4, False)

cdef inline void k_pmovzxbq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 1, 8, False)

cdef inline void k_pmovzxwd(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 2, 4, False)

cdef inline void k_pmovzxwq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 2, 8, False)

cdef inline void k_pmovzxdq(Vec* d, const Vec* s, uint32_t n, uint32_t imm) noexcept nogil:
    widen(d, s, 4, 8, False)

# --- PCMPxSTRx: the string compare engine (SDM Vol. 2, 4.1) ---------------------------
# imm8[1:0] element format (unsigned bytes, unsigned words, signed bytes,
# signed words), [3:2] aggregation (equal any, ranges, equal each, equal
# ordered), [5:4] polarity, [6] least/most significant index or bit/unit mask.

cdef inline int32_t str_elem(const Vec* v, uint32_t k, uint32_t imm) noexcept nogil:
    if imm & 1:
        return sw(v.w[k]) if imm & 2 else <int32_t>v.w[k]
    return sb(v.b[k]) if imm & 2 else <int32_t>v.b[k]

# Byte elements (most string code) go word-parallel: the comparison matrix
# is built a row at a time as 16-bit masks from 64-bit lanes.
cdef inline uint32_t zero_bytes(uint64_t q) noexcept nogil:
    """An 8-bit mask of q's zero bytes (bit k: byte k), exact: adding 7F to
    a byte's low seven bits carries into its top bit unless they are 0."""
    cdef uint64_t t = ~(((q & 0x7F7F7F7F7F7F7F7FULL) + 0x7F7F7F7F7F7F7F7FULL) | q | 0x7F7F7F7F7F7F7F7FULL)
    # Gather each byte's top bit: bit 8k+7 >> 7, times the multiplier, lands
    # in bit 56 + k alone (no two partial products meet there).
    return <uint32_t>(((t >> 7) * 0x0102040810204080ULL) >> 56)

cdef inline uint32_t bytes_equal(const Vec* v, uint64_t pattern) noexcept nogil:
    """16-bit mask of the bytes of v equal to those of pattern (two lanes
    alike)."""
    return zero_bytes(v.q[0] ^ pattern) | (zero_bytes(v.q[1] ^ pattern) << 8)

cdef inline uint32_t str_implicit_len(const Vec* v, uint32_t imm) noexcept nogil:
    """Elements before the first null (8 or 16 if none)."""
    cdef uint32_t k
    if not (imm & 1):
        return pv_ctz64(bytes_equal(v, 0) | 0x10000)
    for k in range(8):
        if v.w[k] == 0:
            return k
    return 8

cdef inline uint32_t str_explicit_len(uint64_t reg, bint wide, uint32_t imm) noexcept nogil:
    """|EAX| (|RAX| with REX.W), saturated to the element count."""
    cdef uint32_t n = 8 if imm & 1 else 16
    cdef uint64_t a
    if wide:
        a = (0 - reg) if <int64_t>reg < 0 else reg
    else:
        a = <uint32_t>(0 - <uint32_t>reg) if <int32_t>reg < 0 else <uint32_t>reg
    return n if a > n else <uint32_t>a

cdef inline void str_unpack(const Vec* v, uint32_t imm, int32_t* out) noexcept nogil:
    cdef uint32_t k
    for k in range(8 if imm & 1 else 16):
        out[k] = str_elem(v, k, imm)

cdef inline uint32_t pcmpstr_finish(uint32_t res, uint32_t la, uint32_t lb, uint32_t n, uint32_t imm, uint32_t* flags) noexcept nogil:
    """IntRes2 from IntRes1: the polarity; and the arithmetic flags."""
    if imm & 0x10:                       # negative polarity (masked: valid b only)
        res ^= ((1U << lb) - 1) if imm & 0x20 else ((1U << n) - 1)
    flags[0] = ((F_CF if res else 0) | (F_ZF if lb < n else 0) | (F_SF if la < n else 0)
                | (F_OF if res & 1 else 0))
    return res

cdef inline uint32_t pcmpstr_bytes(const Vec* va, const Vec* vb, uint32_t la, uint32_t lb, uint32_t imm) noexcept nogil:
    """IntRes1 for byte elements: row i of the matrix (b's bytes equal to
    a[i]) is one 16-bit mask; the aggregations combine rows."""
    cdef uint32_t valid_b = (1U << lb) - 1, res, i, j, x, lo, hi, flip
    cdef uint32_t agg = (imm >> 2) & 3
    if agg == 0:                         # equal any: b[j] is one of a[0..la)
        res = 0
        for i in range(la):
            res |= bytes_equal(vb, va.b[i] * 0x0101010101010101ULL)
        return res & valid_b
    if agg == 2:                         # equal each: invalid pairs compare equal
        i = la if la < lb else lb
        j = lb if la < lb else la
        x = zero_bytes(va.q[0] ^ vb.q[0]) | (zero_bytes(va.q[1] ^ vb.q[1]) << 8)
        return (x & ((1U << i) - 1)) | (0xFFFF & ~((1U << j) - 1))
    if agg == 3:                         # equal ordered: a matches b from j on
        res = 0xFFFF
        for i in range(la):
            # b[j + i] == a[i] (valid), or j + i past the end: true
            res &= ((bytes_equal(vb, va.b[i] * 0x0101010101010101ULL) & valid_b) >> i) | (0xFFFF & ~(0xFFFF >> i))
            if not (res & (0xFFFF >> (i + 1))):
                break                    # only starts the later rows cannot clear are left
        return res
    flip = 0x80 if imm & 2 else 0        # ranges (signed bytes: ordered as unsigned after flipping the sign bit)
    res = 0
    for j in range(lb):
        x = vb.b[j] ^ flip
        i = 0
        while i + 1 < la:
            lo = va.b[i] ^ flip
            hi = va.b[i + 1] ^ flip
            if lo <= x <= hi:
                res |= 1U << j
                break
            i += 2
    return res

cdef uint32_t pcmpstr(const Vec* va, const Vec* vb, uint32_t la, uint32_t lb, uint32_t imm, uint32_t* flags) noexcept nogil:
    """IntRes2 of comparing va (xmm1, la valid elements) with vb (xmm2/m128,
    lb valid elements), and the arithmetic flags in *flags."""
    cdef uint32_t n = 8 if imm & 1 else 16, res = 0, agg = (imm >> 2) & 3
    cdef uint32_t i, j, bit
    cdef int32_t x
    cdef int32_t a[16]
    cdef int32_t b[16]
    if not (imm & 1):
        res = pcmpstr_bytes(va, vb, la, lb, imm)
        return pcmpstr_finish(res, la, lb, n, imm, flags)
    str_unpack(va, imm, a)
    str_unpack(vb, imm, b)
    for j in range(n):
        bit = 0
        if agg == 0:                     # equal any
            if j < lb:
                x = b[j]
                for i in range(la):
                    if a[i] == x:
                        bit = 1
                        break
        elif agg == 1:                   # ranges: a holds [lo, hi] pairs
            if j < lb:
                x = b[j]
                i = 0
                while i + 1 < la:
                    if a[i] <= x <= a[i + 1]:
                        bit = 1
                        break
                    i += 2
        elif agg == 2:                   # equal each: invalid pairs compare equal
            if j < la and j < lb:
                bit = a[j] == b[j]
            else:
                bit = j >= la and j >= lb
        else:                            # equal ordered: a is a substring of b at j
            bit = 1
            for i in range(n - j):
                if i >= la:
                    break
                if j + i >= lb or a[i] != b[j + i]:
                    bit = 0
                    break
        res |= bit << j
    return pcmpstr_finish(res, la, lb, n, imm, flags)

cdef inline int pcmpstr_op(CPU* c, Insn* i, bint explicit, bint index) noexcept nogil:
    cdef Vec s
    cdef Vec* a
    cdef uint32_t imm = <uint32_t>i.imm, la, lb, res, fl
    if sse_ok(c) or xmm_src(c, i, 16, 0, &s):
        return RC_FAULT
    a = xreg(c, i.reg)
    if explicit:
        la = str_explicit_len(c.r[R_AX], i.rex & 8, imm)
        lb = str_explicit_len(c.r[R_DX], i.rex & 8, imm)
    else:
        la = str_implicit_len(a, imm)
        lb = str_implicit_len(&s, imm)
    res = pcmpstr(a, &s, la, lb, imm, &fl)
    pcmpstr_result(c, res, fl, imm, index)
    return next_insn(c, i)

cdef inline void pcmpstr_result(CPU* c, uint32_t res, uint32_t fl, uint32_t imm, bint index) noexcept nogil:
    """The flags, and ECX (the index forms) or XMM0 (the mask forms), from IntRes2."""
    cdef uint32_t k, n = 8 if imm & 1 else 16
    cdef Vec* a
    # All six arithmetic flags are replaced: the lazy ones need no materializing.
    c.lf_op = LF_NONE
    c.eflags = (c.eflags & ~<uint64_t>F_ARITH) | fl
    if index:
        if res == 0:
            c.r[R_CX] = n
        elif imm & 0x40:
            c.r[R_CX] = 63 - pv_clz64(res)
        else:
            c.r[R_CX] = pv_ctz64(res)
    else:
        a = xreg(c, 0)
        a.q[0] = 0
        a.q[1] = 0
        if imm & 0x40:                   # a byte or word mask
            for k in range(n):
                if (res >> k) & 1:
                    if imm & 1:
                        a.w[k] = 0xFFFF
                    else:
                        a.b[k] = 0xFF
        else:
            a.d[0] = res

cdef int h_pcmpestri(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pcmpstr_op(c, i, True, True)
cdef int h_pcmpestrm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pcmpstr_op(c, i, True, False)
cdef int h_pcmpistri(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pcmpstr_op(c, i, False, True)
cdef int h_pcmpistrm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pcmpstr_op(c, i, False, False)

# --- CRC32 (SSE4.2): CRC-32C, the Castagnoli polynomial, bit-reflected ---------------

cdef uint32_t CRC32C_TABLE[8][256]  # [0]: the CRC of each byte value; [k]: of it followed by k zero bytes

cdef void init_crc32c() noexcept nogil:
    cdef uint32_t k, bit, crc
    for k in range(256):
        crc = k
        for bit in range(8):
            crc = (crc >> 1) ^ (0x82F63B78U if crc & 1 else 0)
        CRC32C_TABLE[0][k] = crc
    for bit in range(1, 8):
        for k in range(256):
            crc = CRC32C_TABLE[bit - 1][k]
            CRC32C_TABLE[bit][k] = (crc >> 8) ^ CRC32C_TABLE[0][crc & 0xFF]

init_crc32c()

cdef inline uint32_t crc32c(uint32_t crc, uint64_t data, uint32_t size) noexcept nogil:
    """Slicing by 4 or 8: each byte's table accounts for the bytes after it."""
    cdef uint32_t k, x, hi
    if size < 4:
        for k in range(size):
            crc = CRC32C_TABLE[0][(crc ^ <uint32_t>(data >> (8 * k))) & 0xFF] ^ (crc >> 8)
        return crc
    x = crc ^ <uint32_t>data
    k = size - 4                      # tables of the trailing bytes after x's
    crc = (CRC32C_TABLE[k + 3][x & 0xFF] ^ CRC32C_TABLE[k + 2][(x >> 8) & 0xFF]
           ^ CRC32C_TABLE[k + 1][(x >> 16) & 0xFF] ^ CRC32C_TABLE[k][x >> 24])
    if size == 8:
        hi = <uint32_t>(data >> 32)
        crc ^= (CRC32C_TABLE[3][hi & 0xFF] ^ CRC32C_TABLE[2][(hi >> 8) & 0xFF]
                ^ CRC32C_TABLE[1][(hi >> 16) & 0xFF] ^ CRC32C_TABLE[0][hi >> 24])
    return crc

cdef int h_crc32(CPU* c, Insn* i) noexcept nogil:
    """CRC32 r32/r64, r/m8 (F2 0F 38 F0) and r/m16/32/64 (F2 0F 38 F1): the
    source size is the operand size (a byte for F0); the destination is
    r32 or, with REX.W, r64 whose upper half becomes zero.  No flags change.
    Insn.sub is 1 for the byte form."""
    c.cur = i
    cdef uint64_t v
    cdef uint32_t size = 1 if i.sub else i.osz
    if rm_read(c, i, size, &v):
        return RC_FAULT
    c.r[i.reg] = crc32c(<uint32_t>c.r[i.reg], v, size)
    return next_insn(c, i)

# --- handlers --------------------------------------------------------------------

cdef inline uint32_t imm8(Insn* i) noexcept nogil:
    return <uint32_t>(i.imm & 0xFF)

cdef inline int xmm_op(CPU* c, Insn* i, vkern_t k, uint32_t size, uint32_t align) noexcept nogil:
    """xmm1 = k(xmm1, xmm2/m): a memory source is `size` bytes (16, aligned
    by `align`; fewer for PMOVSX/PMOVZX, which need no alignment)."""
    cdef Vec s
    if sse_ok(c) or xmm_src(c, i, size, align, &s):
        return RC_FAULT
    k(xreg(c, i.reg), &s, 16, imm8(i))
    return next_insn(c, i)

cdef inline int mm_op(CPU* c, Insn* i, vkern_t k, uint32_t size) noexcept nogil:
    """mm1 = k(mm1, mm2/m): a memory source is `size` (8, or 4 for
    PUNPCKL*) bytes, never alignment-checked."""
    cdef Vec d, s
    s.q[0] = 0
    if mmx_check(c) or mm_src(c, i, size, &s.q[0]):
        return RC_FAULT
    d.q[0] = mm_get(c, i.reg)
    k(&d, &s, 8, imm8(i))
    mm_set(c, i.reg, d.q[0])
    return next_insn(c, i)

cdef inline int xmm_shift_imm(CPU* c, Insn* i, vkern_t k) noexcept nogil:
    """The shift-by-immediate groups (0F 71-73): the register is ModRM.rm."""
    cdef Vec s
    if sse_ok(c):
        return RC_FAULT
    s.q[0] = imm8(i)
    k(xreg(c, i.rm), &s, 16, imm8(i))
    return next_insn(c, i)

cdef inline int mm_shift_imm(CPU* c, Insn* i, vkern_t k) noexcept nogil:
    cdef Vec d, s
    if mmx_ok(c):
        return RC_FAULT
    s.q[0] = imm8(i)
    d.q[0] = mm_get(c, i.rm)
    k(&d, &s, 8, imm8(i))
    mm_set(c, i.rm, d.q[0])
    return next_insn(c, i)

# Two-operand instructions: h_x is the xmm form, h_x_mm the MMX form.

cdef int h_paddb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddb, 16, 16)
cdef int h_paddb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddb, 8)
cdef int h_paddw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddw, 16, 16)
cdef int h_paddw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddw, 8)
cdef int h_paddd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddd, 16, 16)
cdef int h_paddd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddd, 8)
cdef int h_paddq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddq, 16, 16)
cdef int h_paddq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddq, 8)
cdef int h_psubb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubb, 16, 16)
cdef int h_psubb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubb, 8)
cdef int h_psubw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubw, 16, 16)
cdef int h_psubw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubw, 8)
cdef int h_psubd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubd, 16, 16)
cdef int h_psubd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubd, 8)
cdef int h_psubq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubq, 16, 16)
cdef int h_psubq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubq, 8)
cdef int h_paddsb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddsb, 16, 16)
cdef int h_paddsb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddsb, 8)
cdef int h_paddsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddsw, 16, 16)
cdef int h_paddsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddsw, 8)
cdef int h_paddusb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddusb, 16, 16)
cdef int h_paddusb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddusb, 8)
cdef int h_paddusw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_paddusw, 16, 16)
cdef int h_paddusw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_paddusw, 8)
cdef int h_psubsb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubsb, 16, 16)
cdef int h_psubsb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubsb, 8)
cdef int h_psubsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubsw, 16, 16)
cdef int h_psubsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubsw, 8)
cdef int h_psubusb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubusb, 16, 16)
cdef int h_psubusb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubusb, 8)
cdef int h_psubusw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psubusw, 16, 16)
cdef int h_psubusw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psubusw, 8)
cdef int h_pmullw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmullw, 16, 16)
cdef int h_pmullw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmullw, 8)
cdef int h_pmulhw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmulhw, 16, 16)
cdef int h_pmulhw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmulhw, 8)
cdef int h_pmulhuw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmulhuw, 16, 16)
cdef int h_pmulhuw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmulhuw, 8)
cdef int h_pmuludq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmuludq, 16, 16)
cdef int h_pmuludq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmuludq, 8)
cdef int h_pmaddwd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaddwd, 16, 16)
cdef int h_pmaddwd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmaddwd, 8)
cdef int h_pavgb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pavgb, 16, 16)
cdef int h_pavgb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pavgb, 8)
cdef int h_pavgw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pavgw, 16, 16)
cdef int h_pavgw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pavgw, 8)
cdef int h_psadbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psadbw, 16, 16)
cdef int h_psadbw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psadbw, 8)
cdef int h_pand(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pand, 16, 16)
cdef int h_pand_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pand, 8)
cdef int h_pandn(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pandn, 16, 16)
cdef int h_pandn_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pandn, 8)
cdef int h_por(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_por, 16, 16)
cdef int h_por_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_por, 8)
cdef int h_pxor(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pxor, 16, 16)
cdef int h_pxor_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pxor, 8)
cdef int h_pminub(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminub, 16, 16)
cdef int h_pminub_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pminub, 8)
cdef int h_pmaxub(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxub, 16, 16)
cdef int h_pmaxub_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmaxub, 8)
cdef int h_pminsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminsw, 16, 16)
cdef int h_pminsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pminsw, 8)
cdef int h_pmaxsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxsw, 16, 16)
cdef int h_pmaxsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmaxsw, 8)
cdef int h_pcmpeqb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpeqb, 16, 16)
cdef int h_pcmpeqb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpeqb, 8)
cdef int h_pcmpeqw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpeqw, 16, 16)
cdef int h_pcmpeqw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpeqw, 8)
cdef int h_pcmpeqd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpeqd, 16, 16)
cdef int h_pcmpeqd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpeqd, 8)
cdef int h_pcmpgtb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpgtb, 16, 16)
cdef int h_pcmpgtb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpgtb, 8)
cdef int h_pcmpgtw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpgtw, 16, 16)
cdef int h_pcmpgtw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpgtw, 8)
cdef int h_pcmpgtd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpgtd, 16, 16)
cdef int h_pcmpgtd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pcmpgtd, 8)
cdef int h_packsswb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_packsswb, 16, 16)
cdef int h_packsswb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_packsswb, 8)
cdef int h_packuswb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_packuswb, 16, 16)
cdef int h_packuswb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_packuswb, 8)
cdef int h_packssdw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_packssdw, 16, 16)
cdef int h_packssdw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_packssdw, 8)
cdef int h_punpckhbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpckhbw, 16, 16)
cdef int h_punpckhbw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpckhbw, 8)
cdef int h_punpckhwd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpckhwd, 16, 16)
cdef int h_punpckhwd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpckhwd, 8)
cdef int h_punpckhdq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpckhdq, 16, 16)
cdef int h_punpckhdq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpckhdq, 8)
cdef int h_psllw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psllw, 16, 16)
cdef int h_psllw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psllw, 8)
cdef int h_pslld(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pslld, 16, 16)
cdef int h_pslld_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pslld, 8)
cdef int h_psllq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psllq, 16, 16)
cdef int h_psllq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psllq, 8)
cdef int h_psrlw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psrlw, 16, 16)
cdef int h_psrlw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psrlw, 8)
cdef int h_psrld(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psrld, 16, 16)
cdef int h_psrld_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psrld, 8)
cdef int h_psrlq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psrlq, 16, 16)
cdef int h_psrlq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psrlq, 8)
cdef int h_psraw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psraw, 16, 16)
cdef int h_psraw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psraw, 8)
cdef int h_psrad(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psrad, 16, 16)
cdef int h_psrad_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psrad, 8)
cdef int h_pshufb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pshufb, 16, 16)
cdef int h_pshufb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pshufb, 8)
cdef int h_phaddw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phaddw, 16, 16)
cdef int h_phaddw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phaddw, 8)
cdef int h_phaddd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phaddd, 16, 16)
cdef int h_phaddd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phaddd, 8)
cdef int h_phaddsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phaddsw, 16, 16)
cdef int h_phaddsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phaddsw, 8)
cdef int h_pmaddubsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaddubsw, 16, 16)
cdef int h_pmaddubsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmaddubsw, 8)
cdef int h_phsubw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phsubw, 16, 16)
cdef int h_phsubw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phsubw, 8)
cdef int h_phsubd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phsubd, 16, 16)
cdef int h_phsubd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phsubd, 8)
cdef int h_phsubsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phsubsw, 16, 16)
cdef int h_phsubsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_phsubsw, 8)
cdef int h_psignb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psignb, 16, 16)
cdef int h_psignb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psignb, 8)
cdef int h_psignw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psignw, 16, 16)
cdef int h_psignw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psignw, 8)
cdef int h_psignd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_psignd, 16, 16)
cdef int h_psignd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_psignd, 8)
cdef int h_pmulhrsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmulhrsw, 16, 16)
cdef int h_pmulhrsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pmulhrsw, 8)
cdef int h_pabsb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pabsb, 16, 16)
cdef int h_pabsb_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pabsb, 8)
cdef int h_pabsw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pabsw, 16, 16)
cdef int h_pabsw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pabsw, 8)
cdef int h_pabsd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pabsd, 16, 16)
cdef int h_pabsd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pabsd, 8)
cdef int h_palignr(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_palignr, 16, 16)
cdef int h_palignr_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_palignr, 8)
cdef int h_punpcklbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpcklbw, 16, 16)
cdef int h_punpcklbw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpcklbw, 4)
cdef int h_punpcklwd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpcklwd, 16, 16)
cdef int h_punpcklwd_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpcklwd, 4)
cdef int h_punpckldq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpckldq, 16, 16)
cdef int h_punpckldq_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_punpckldq, 4)
cdef int h_punpcklqdq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpcklqdq, 16, 16)
cdef int h_punpckhqdq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_punpckhqdq, 16, 16)
cdef int h_pmulld(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmulld, 16, 16)
cdef int h_pmuldq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmuldq, 16, 16)
cdef int h_pminsb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminsb, 16, 16)
cdef int h_pminsd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminsd, 16, 16)
cdef int h_pminuw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminuw, 16, 16)
cdef int h_pminud(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pminud, 16, 16)
cdef int h_pmaxsb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxsb, 16, 16)
cdef int h_pmaxsd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxsd, 16, 16)
cdef int h_pmaxuw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxuw, 16, 16)
cdef int h_pmaxud(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmaxud, 16, 16)
cdef int h_packusdw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_packusdw, 16, 16)
cdef int h_pcmpeqq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpeqq, 16, 16)
cdef int h_pcmpgtq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pcmpgtq, 16, 16)
cdef int h_phminposuw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_phminposuw, 16, 16)
cdef int h_mpsadbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_mpsadbw, 16, 16)
cdef int h_pblendw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pblendw, 16, 16)
cdef int h_pshufd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pshufd, 16, 16)
cdef int h_pshufhw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pshufhw, 16, 16)
cdef int h_pshuflw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pshufw, 16, 16)
cdef int h_pshufw_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_op(c, i, k_pshufw, 8)
cdef int h_pmovsxbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxbw, 8, 0)
cdef int h_pmovzxbw(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxbw, 8, 0)
cdef int h_pmovsxbd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxbd, 4, 0)
cdef int h_pmovzxbd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxbd, 4, 0)
cdef int h_pmovsxbq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxbq, 2, 0)
cdef int h_pmovzxbq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxbq, 2, 0)
cdef int h_pmovsxwd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxwd, 8, 0)
cdef int h_pmovzxwd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxwd, 8, 0)
cdef int h_pmovsxwq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxwq, 4, 0)
cdef int h_pmovzxwq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxwq, 4, 0)
cdef int h_pmovsxdq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovsxdq, 8, 0)
cdef int h_pmovzxdq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_op(c, i, k_pmovzxdq, 8, 0)

# Shifts by an immediate (register forms only).
cdef int h_psrlw_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psrlw)
cdef int h_psrlw_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psrlw)
cdef int h_psraw_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psraw)
cdef int h_psraw_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psraw)
cdef int h_psllw_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psllw)
cdef int h_psllw_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psllw)
cdef int h_psrld_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psrld)
cdef int h_psrld_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psrld)
cdef int h_psrad_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psrad)
cdef int h_psrad_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psrad)
cdef int h_pslld_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_pslld)
cdef int h_pslld_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_pslld)
cdef int h_psrlq_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psrlq)
cdef int h_psrlq_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psrlq)
cdef int h_psllq_i(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psllq)
cdef int h_psllq_i_mm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return mm_shift_imm(c, i, k_psllq)
cdef int h_psrldq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_psrldq)
cdef int h_pslldq(CPU* c, Insn* i) noexcept nogil: c.cur = i; return xmm_shift_imm(c, i, k_pslldq)

# --- moves ------------------------------------------------------------------------

cdef inline int mmx_done(CPU* c, Insn* i, int rc) noexcept nogil:
    """An MMX instruction's last step (a store) succeeded: MMX mode, go on."""
    if rc:
        return rc
    mmx_enter(c)
    return next_insn(c, i)

cdef inline uint32_t gpr_size(Insn* i) noexcept nogil:
    """MOVD (4 bytes) or, with REX.W, MOVQ (8) to or from a general register."""
    return 8 if i.rex & 8 else 4

cdef int h_movd_mm_rm(CPU* c, Insn* i) noexcept nogil:
    """MOVD/MOVQ mm, r/m32/64 (NP 0F 6E): zero-extended."""
    c.cur = i
    cdef uint64_t v
    if mmx_check(c) or rm_read(c, i, gpr_size(i), &v):
        return RC_FAULT
    mm_set(c, i.reg, v)
    return next_insn(c, i)

cdef int h_movd_rm_mm(CPU* c, Insn* i) noexcept nogil:
    """MOVD/MOVQ r/m32/64, mm (NP 0F 7E)."""
    c.cur = i
    if mmx_check(c):
        return RC_FAULT
    return mmx_done(c, i, rm_write(c, i, gpr_size(i), mm_get(c, i.reg)))

cdef int h_movd_x_rm(CPU* c, Insn* i) noexcept nogil:
    """MOVD/MOVQ xmm, r/m32/64 (66 0F 6E): zero-extended to 128 bits."""
    c.cur = i
    cdef uint64_t v
    cdef Vec* d
    if sse_ok(c) or rm_read(c, i, gpr_size(i), &v):
        return RC_FAULT
    d = xreg(c, i.reg)
    d.q[0] = v
    d.q[1] = 0
    return next_insn(c, i)

cdef int h_movd_rm_x(CPU* c, Insn* i) noexcept nogil:
    """MOVD/MOVQ r/m32/64, xmm (66 0F 7E)."""
    c.cur = i
    if sse_ok(c):
        return RC_FAULT
    return ok_next(c, i, rm_write(c, i, gpr_size(i), xreg(c, i.reg).q[0]))

cdef int h_movq_x_xm(CPU* c, Insn* i) noexcept nogil:
    """MOVQ xmm1, xmm2/m64 (F3 0F 7E): the low quadword, the high one zeroed."""
    c.cur = i
    cdef Vec s
    cdef Vec* d
    if sse_ok(c) or xmm_src(c, i, 8, 0, &s):
        return RC_FAULT
    d = xreg(c, i.reg)
    d.q[0] = s.q[0]
    d.q[1] = 0
    return next_insn(c, i)

cdef int h_movq_xm_x(CPU* c, Insn* i) noexcept nogil:
    """MOVQ xmm2/m64, xmm1 (66 0F D6): a register destination's high
    quadword is zeroed."""
    c.cur = i
    cdef Vec s
    if sse_ok(c):
        return RC_FAULT
    s.q[0] = xreg(c, i.reg).q[0]
    s.q[1] = 0
    return ok_next(c, i, xmm_dst(c, i, 16 if i.mod == 3 else 8, 0, &s))

cdef int h_movq_mm_mmm(CPU* c, Insn* i) noexcept nogil:
    """MOVQ mm, mm/m64 (NP 0F 6F)."""
    c.cur = i
    cdef uint64_t v
    if mmx_check(c) or mm_src(c, i, 8, &v):
        return RC_FAULT
    mm_set(c, i.reg, v)
    return next_insn(c, i)

cdef int h_movq_mmm_mm(CPU* c, Insn* i) noexcept nogil:
    """MOVQ mm/m64, mm (NP 0F 7F) and MOVNTQ m64, mm (NP 0F E7)."""
    c.cur = i
    if mmx_check(c):
        return RC_FAULT
    return mmx_done(c, i, mm_dst(c, i, 8, mm_get(c, i.reg)))

cdef inline int movdq_load(CPU* c, Insn* i, uint32_t align) noexcept nogil:
    cdef Vec s
    if sse_ok(c) or xmm_src(c, i, 16, align, &s):
        return RC_FAULT
    xreg(c, i.reg).q[0] = s.q[0]
    xreg(c, i.reg).q[1] = s.q[1]
    return next_insn(c, i)

cdef inline int movdq_store(CPU* c, Insn* i, uint32_t align) noexcept nogil:
    cdef Vec s
    if sse_ok(c):
        return RC_FAULT
    s = xreg(c, i.reg)[0]
    return ok_next(c, i, xmm_dst(c, i, 16, align, &s))

# MOVDQA (66 0F 6F/7F), MOVNTDQ (66 0F E7) and MOVNTDQA (66 0F 38 2A) need
# 16-byte alignment; MOVDQU (F3 0F 6F/7F) does not.
cdef int h_movdqa_load(CPU* c, Insn* i) noexcept nogil: c.cur = i; return movdq_load(c, i, 16)
cdef int h_movdqu_load(CPU* c, Insn* i) noexcept nogil: c.cur = i; return movdq_load(c, i, 0)
cdef int h_movdqa_store(CPU* c, Insn* i) noexcept nogil: c.cur = i; return movdq_store(c, i, 16)
cdef int h_movdqu_store(CPU* c, Insn* i) noexcept nogil: c.cur = i; return movdq_store(c, i, 0)

cdef int h_movq2dq(CPU* c, Insn* i) noexcept nogil:
    """MOVQ2DQ xmm, mm (F3 0F D6, register form)."""
    c.cur = i
    cdef Vec* d
    if sse_mmx_ok(c):
        return RC_FAULT
    d = xreg(c, i.reg)
    d.q[0] = mm_get(c, i.rm)
    d.q[1] = 0
    mmx_enter(c)
    return next_insn(c, i)

cdef int h_movdq2q(CPU* c, Insn* i) noexcept nogil:
    """MOVDQ2Q mm, xmm (F2 0F D6, register form)."""
    c.cur = i
    if sse_mmx_ok(c):
        return RC_FAULT
    mm_set(c, i.reg, xreg(c, i.rm).q[0])
    return next_insn(c, i)

cdef inline int maskmov(CPU* c, Insn* i, const Vec* v, const Vec* mask, uint32_t n) noexcept nogil:
    """Store the bytes of v whose mask byte has its top bit set at DS:rDI
    (a segment override applies).  The whole n-byte span is checked for
    writing first, so a fault leaves memory unchanged; with an all-zero
    mask it still faults (the SDM leaves that to the implementation; the
    host CPU faults).  0 or RC_FAULT."""
    cdef uint32_t k
    cdef uint64_t base = lin_of(c, i.seg, c.r[R_DI] & i.amask)
    if check_wr(c, base, n):
        return RC_FAULT
    for k in range(n):
        if mask.b[k] & 0x80:
            if wr(c, (base + k) & c.lamask, 1, v.b[k]):
                return RC_FAULT
    return 0

cdef int h_maskmovq(CPU* c, Insn* i) noexcept nogil:
    """MASKMOVQ mm1, mm2 (NP 0F F7): MMX mode even if the store faults
    (as the host CPU)."""
    c.cur = i
    cdef Vec v, m
    if mmx_ok(c):
        return RC_FAULT
    v.q[0] = mm_get(c, i.reg)
    m.q[0] = mm_get(c, i.rm)
    return ok_next(c, i, maskmov(c, i, &v, &m, 8))

cdef int h_maskmovdqu(CPU* c, Insn* i) noexcept nogil:
    """MASKMOVDQU xmm1, xmm2 (66 0F F7)."""
    c.cur = i
    if sse_ok(c):
        return RC_FAULT
    return ok_next(c, i, maskmov(c, i, xreg(c, i.reg), xreg(c, i.rm), 16))

# --- element insert and extract, byte masks, PTEST, PBLENDVB -------------------------

cdef int h_pextrw_mm(CPU* c, Insn* i) noexcept nogil:
    """PEXTRW r32/64, mm, imm8 (NP 0F C5): zero-extended."""
    c.cur = i
    if mmx_ok(c):
        return RC_FAULT
    set_r(c, i.reg, 4, (mm_get(c, i.rm) >> (16 * (imm8(i) & 3))) & 0xFFFF)
    return next_insn(c, i)

cdef int h_pextrw(CPU* c, Insn* i) noexcept nogil:
    """PEXTRW r32/64, xmm, imm8 (66 0F C5)."""
    c.cur = i
    if sse_ok(c):
        return RC_FAULT
    set_r(c, i.reg, 4, xreg(c, i.rm).w[imm8(i) & 7])
    return next_insn(c, i)

cdef int h_pinsrw_mm(CPU* c, Insn* i) noexcept nogil:
    """PINSRW mm, r32/m16, imm8 (NP 0F C4)."""
    c.cur = i
    cdef uint64_t v, sh = 16 * (imm8(i) & 3)
    if mmx_check(c) or rm_read(c, i, 2, &v):
        return RC_FAULT
    mm_set(c, i.reg, (mm_get(c, i.reg) & ~(<uint64_t>0xFFFF << sh)) | ((v & 0xFFFF) << sh))
    return next_insn(c, i)

cdef int h_pinsrw(CPU* c, Insn* i) noexcept nogil:
    """PINSRW xmm, r32/m16, imm8 (66 0F C4)."""
    c.cur = i
    cdef uint64_t v
    if sse_ok(c) or rm_read(c, i, 2, &v):
        return RC_FAULT
    xreg(c, i.reg).w[imm8(i) & 7] = <uint16_t>v
    return next_insn(c, i)

cdef inline uint32_t byte_signs(const Vec* v, uint32_t n) noexcept nogil:
    cdef uint32_t k
    cdef uint32_t m = 0
    for k in range(n):
        m |= <uint32_t>(v.b[k] >> 7) << k
    return m

cdef int h_pmovmskb_mm(CPU* c, Insn* i) noexcept nogil:
    """PMOVMSKB r32/64, mm (NP 0F D7): the byte sign bits, zero-extended."""
    c.cur = i
    cdef Vec v
    if mmx_ok(c):
        return RC_FAULT
    v.q[0] = mm_get(c, i.rm)
    set_r(c, i.reg, 4, byte_signs(&v, 8))
    return next_insn(c, i)

cdef int h_pmovmskb(CPU* c, Insn* i) noexcept nogil:
    """PMOVMSKB r32/64, xmm (66 0F D7)."""
    c.cur = i
    if sse_ok(c):
        return RC_FAULT
    set_r(c, i.reg, 4, byte_signs(xreg(c, i.rm), 16))
    return next_insn(c, i)

cdef inline int pextr(CPU* c, Insn* i, uint32_t size) noexcept nogil:
    """PEXTRB/W/D/Q r/m, xmm, imm8 (66 0F 3A 14-16): a register destination
    takes the element zero-extended to 32 bits (64 for PEXTRQ)."""
    cdef Vec* s
    cdef uint32_t k
    cdef uint64_t v
    if sse_ok(c):
        return RC_FAULT
    s = xreg(c, i.reg)
    k = imm8(i) & (16 // size - 1)
    if size == 1:
        v = s.b[k]
    elif size == 2:
        v = s.w[k]
    elif size == 4:
        v = s.d[k]
    else:
        v = s.q[k]
    if i.mod == 3:
        set_r(c, i.rm, 8 if size == 8 else 4, v)
        return next_insn(c, i)
    return ok_next(c, i, wr(c, mem_la(c, i), size, v))

cdef int h_pextrb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pextr(c, i, 1)
cdef int h_pextrw_rm(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pextr(c, i, 2)
cdef int h_pextrd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pextr(c, i, gpr_size(i))

cdef inline int pinsr(CPU* c, Insn* i, uint32_t size) noexcept nogil:
    """PINSRB/D/Q xmm, r/m, imm8 (66 0F 3A 20, 22): a register source gives
    its low `size` bytes."""
    cdef Vec* d
    cdef uint32_t k = imm8(i) & (16 // size - 1)
    cdef uint64_t v
    if sse_ok(c) or rm_read(c, i, 8 if size == 8 else (4 if i.mod == 3 else size), &v):
        return RC_FAULT
    d = xreg(c, i.reg)
    if size == 1:
        d.b[k] = <uint8_t>v
    elif size == 4:
        d.d[k] = <uint32_t>v
    else:
        d.q[k] = v
    return next_insn(c, i)

cdef int h_pinsrb(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pinsr(c, i, 1)
cdef int h_pinsrd(CPU* c, Insn* i) noexcept nogil: c.cur = i; return pinsr(c, i, gpr_size(i))

cdef int h_ptest(CPU* c, Insn* i) noexcept nogil:
    """PTEST xmm1, xmm2/m128 (66 0F 38 17): ZF = (d AND s) == 0,
    CF = (NOT d AND s) == 0, the other arithmetic flags cleared."""
    c.cur = i
    cdef Vec s
    cdef Vec* d
    if sse_ok(c) or xmm_src(c, i, 16, 16, &s):
        return RC_FAULT
    d = xreg(c, i.reg)
    set_arith(c, (F_ZF if ((d.q[0] & s.q[0]) | (d.q[1] & s.q[1])) == 0 else 0)
              | (F_CF if ((~d.q[0] & s.q[0]) | (~d.q[1] & s.q[1])) == 0 else 0))
    return next_insn(c, i)

cdef int h_pblendvb(CPU* c, Insn* i) noexcept nogil:
    """PBLENDVB xmm1, xmm2/m128, <XMM0> (66 0F 38 10): the bytes of s whose
    XMM0 byte has its top bit set."""
    c.cur = i
    cdef uint32_t k
    cdef Vec s
    cdef Vec* d
    cdef Vec* m
    if sse_ok(c) or xmm_src(c, i, 16, 16, &s):
        return RC_FAULT
    d = xreg(c, i.reg)
    m = xreg(c, 0)
    for k in range(16):
        if m.b[k] & 0x80:
            d.b[k] = s.b[k]
    return next_insn(c, i)
