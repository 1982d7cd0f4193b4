# The x86 decoder: legacy prefixes, REX, one-, two- and three-byte opcodes,
# ModRM/SIB/displacement (16-, 32-, 64-bit and RIP-relative addressing),
# immediates, and the 15-byte limit.  It fills one Insn; what an opcode
# needs is read from the decode tree generated from the opcode table
# (emu/isa/*.py, emu/gen_opmap.py -> opmap_gen.pxi).

cdef enum:
    # OpNode.flags
    M = 0x0001      # has a ModRM byte
    B = 0x0002      # byte operation
    D64 = 0x0004    # 64-bit operand size by default in 64-bit mode
    F64 = 0x0008    # 64-bit operand size always in 64-bit mode (near branches)
    I64 = 0x0010    # invalid in 64-bit mode
    LK = 0x0020     # LOCK allowed (with a memory destination)
    END = 0x0040    # ends a decoded block
    O64 = 0x0080    # valid only in 64-bit mode
    RMB = 0x0100    # the r/m operand is a byte (MOVZX/MOVSX Eb, SETcc)
    ACC = 0x0400    # the r/m operand is the accumulator (the AL/eAX forms)
    OPR = 0x0800    # the register is in the opcode's low three bits
    MOFFS = 0x1000  # a memory operand given by an address-sized offset
    MREG = 0x2000   # ModRM always names registers, whatever its mod (MOV CRn/DRn)

cdef enum:
    # OpNode.imm: the immediate's kind
    I_NONE = 0
    I_B = 1         # 8 bits, sign-extended
    I_W = 2         # 16 bits
    I_Z = 3         # 8, 16 or 32 bits by operand size, sign-extended
    I_V = 4         # 16, 32 or 64 bits by operand size
    I_AP = 5        # far pointer: offset (16/32) then selector
    I_ENTER = 6     # 16 bits then 8 bits
    I_D = 7         # 32 bits, sign-extended

cdef enum:
    # OpNode.sel: a leaf, or what selects the child
    SEL_LEAF = 0
    SEL_MODE = 1    # 2 children: not 64-bit mode, 64-bit mode
    SEL_PREFIX = 2  # 4: none, 66, F3, F2 (the last of F2/F3 wins, then 66)
    SEL_W = 3       # 2: REX.W clear, set
    SEL_REG = 4     # 8: ModRM.reg
    SEL_MOD = 5     # 2: memory form, register form (ModRM.mod == 3)
    SEL_RM = 6      # 8: ModRM.rm

cdef struct OpNode:
    handler_t fn    # leaf: the handler
    uint16_t flags  # leaf: its flags; a root that selects: M and MREG
    uint8_t imm
    uint8_t sub
    uint8_t sel
    uint16_t child  # the first child (the others follow it)

cdef uint8_t MODRM16_BASE[8]
cdef uint8_t MODRM16_INDEX[8]
MODRM16_BASE[:] = [R_BX, R_BX, R_BP, R_BP, R_SI, R_DI, R_BP, R_BX]
MODRM16_INDEX[:] = [R_SI, R_DI, R_SI, R_DI, R_ZERO, R_ZERO, R_ZERO, R_ZERO]

cdef inline uint8_t enc8(uint32_t r, uint32_t rex) noexcept nogil:
    """Byte register r: without REX, 4-7 are AH CH DH BH."""
    if rex == 0 and 4 <= r < 8:
        return <uint8_t>(0x20 | (r - 4))
    return <uint8_t>r

cdef inline int64_t read_le(const uint8_t* p, int n, bint signed) noexcept nogil:
    cdef uint64_t v = 0
    cdef int k
    for k in range(n):
        v |= (<uint64_t>p[k]) << (8 * k)
    if signed and n < 8:
        return sext(v, 8 * n)
    return <int64_t>v

cdef int decode_one(uint32_t mode, Insn* i, const uint8_t* p, int avail, bint* ends=NULL) noexcept nogil:
    """Decode the instruction at p, of which `avail` bytes could be fetched.
    Returns its length, or -1 when it runs past the fetchable bytes (the
    fetch then faults at p + avail).  Undefined, malformed or too long
    instructions decode to handlers that raise #UD or #GP.  *ends tells
    whether the instruction ends its block."""
    cdef int pos = 0, n, limit = avail if avail < 15 else 15
    cdef uint32_t b = 0, opc, rex = 0, mod, reg, rm, sib, base, index
    cdef uint32_t flags, immk, osz, asz, k
    cdef bint opsize = False, adsize = False
    cdef int seg = -1
    cdef OpNode* node
    memset(i, 0, sizeof(Insn))
    # --- prefixes ---
    while True:
        if pos >= limit:
            return decode_too_long(i, avail)
        b = p[pos]
        if b == 0x66:
            opsize = True
        elif b == 0x67:
            adsize = True
        elif b == 0xF2 or b == 0xF3:
            i.rep = <uint8_t>b
        elif b == 0xF0:
            i.lock = 1
        elif b == 0x26 or b == 0x2E or b == 0x36 or b == 0x3E:
            if mode != 64:             # ignored in 64-bit mode
                seg = (b >> 3) & 3
        elif b == 0x64 or b == 0x65:
            seg = S_FS + (b & 1)
        elif mode == 64 and (b & 0xF0) == 0x40:
            rex = b
            pos += 1
            if pos >= limit:
                return decode_too_long(i, avail)
            b = p[pos]
            if (b & 0xF0) == 0x40 or b in (0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65):
                rex = 0                # a REX not right before the opcode is ignored
                continue
            break
        else:
            break
        rex = 0
        pos += 1
    i.rex = <uint8_t>rex
    # --- opcode ---
    opc = p[pos]
    pos += 1
    if opc == 0x0F:
        if pos >= limit:
            return decode_too_long(i, avail)
        opc = 0x100 | p[pos]
        pos += 1
        if opc == 0x138 or opc == 0x13A:
            if pos >= limit:
                return decode_too_long(i, avail)
            opc = (0x200 if opc == 0x138 else 0x300) | p[pos]
            pos += 1
    i.opcode = <uint16_t>opc
    # --- the decode tree: select by mode, prefix, REX.W and the ModRM byte ---
    node = &NODES[opc]
    if node.flags & M:
        if pos >= limit:
            return decode_too_long(i, avail)
        b = p[pos]
    while node.sel != SEL_LEAF:
        if node.sel == SEL_MODE:
            k = mode == 64
        elif node.sel == SEL_PREFIX:
            k = 2 if i.rep == 0xF3 else (3 if i.rep == 0xF2 else (1 if opsize else 0))
        elif node.sel == SEL_W:
            k = (rex >> 3) & 1
        elif node.sel == SEL_REG:
            k = (b >> 3) & 7
        elif node.sel == SEL_MOD:
            k = 1 if (b >> 6) == 3 or (node.flags & MREG) else 0
        else:
            k = b & 7
        node = &NODES[node.child + k]
    flags = node.flags
    immk = node.imm
    i.fn = node.fn
    i.sub = node.sub
    if ends != NULL:
        ends[0] = (flags & END) != 0
    # --- operand and address size ---
    if mode == 64:
        asz = 4 if adsize else 8
        if flags & B:
            osz = 1
        elif rex & 8:
            osz = 8
        elif flags & F64:
            osz = 8
        elif opsize:
            osz = 2
        elif flags & D64:
            osz = 8
        else:
            osz = 4
    else:
        asz = 2 if (mode == 16) != adsize else 4
        osz = 1 if flags & B else (2 if (mode == 16) != opsize else 4)
    i.osz = <uint8_t>osz
    i.asz = <uint8_t>asz
    i.amask = 0xFFFF if asz == 2 else (0xFFFFFFFFULL if asz == 4 else <uint64_t>-1)
    i.base = R_ZERO
    i.index = R_ZERO
    i.seg = <uint8_t>(seg if seg >= 0 else (6 if mode == 64 else S_DS))
    i.mod = 3
    # --- ModRM, SIB, displacement ---
    if flags & M:
        pos += 1                        # b is the ModRM byte
        mod = b >> 6
        reg = ((b >> 3) & 7) | ((rex & 4) << 1)
        rm = b & 7
        if flags & MREG:
            mod = 3
        i.mod = <uint8_t>mod
        i.reg = enc8(reg, rex) if flags & B else <uint8_t>reg
        if mod == 3:
            rm |= (rex & 1) << 3
            i.rm = enc8(rm, rex) if flags & (B | RMB) else <uint8_t>rm
        elif asz == 2:
            if mod == 0 and rm == 6:
                n = 2
            else:
                i.base = MODRM16_BASE[rm]
                i.index = MODRM16_INDEX[rm]
                n = 0 if mod == 0 else (1 if mod == 1 else 2)
                if seg < 0 and i.base == R_BP:
                    i.seg = S_SS
            if pos + n > limit:
                return decode_too_long(i, avail)
            i.disp = read_le(p + pos, n, True)
            pos += n
        else:
            n = 0 if mod == 0 else (1 if mod == 1 else 4)
            if rm == 4:
                if pos >= limit:
                    return decode_too_long(i, avail)
                sib = p[pos]
                pos += 1
                index = ((sib >> 3) & 7) | ((rex & 2) << 2)
                base = (sib & 7) | ((rex & 1) << 3)
                i.scale = <uint8_t>(sib >> 6)
                i.index = <uint8_t>(R_ZERO if index == 4 else index)
                if (base & 7) == 5 and mod == 0:
                    n = 4
                else:
                    i.base = <uint8_t>base
            elif rm == 5 and mod == 0:
                n = 4
                if mode == 64:
                    i.base = R_BASE         # build_block adds the end offset
            else:
                i.base = <uint8_t>(rm | ((rex & 1) << 3))
            if seg < 0 and mode != 64 and (i.base == R_SP or i.base == R_BP):
                i.seg = S_SS
            if pos + n > limit:
                return decode_too_long(i, avail)
            i.disp = read_le(p + pos, n, True)
            pos += n
    elif flags & OPR:
        reg = (opc & 7) | ((rex & 1) << 3)
        i.reg = enc8(reg, rex) if flags & B else <uint8_t>reg
        i.rm = i.reg
    elif flags & ACC:
        i.rm = R_AX
    if flags & MOFFS:
        i.mod = 0
        n = asz
        if pos + n > limit:
            return decode_too_long(i, avail)
        i.disp = read_le(p + pos, n, False)
        pos += n
    # --- immediate ---
    if immk != I_NONE:
        if immk == I_B:
            n = 1
        elif immk == I_W:
            n = 2
        elif immk == I_D:
            n = 4
        elif immk == I_Z:
            n = 1 if osz == 1 else (2 if osz == 2 else 4)
        elif immk == I_V:
            n = osz
        elif immk == I_AP:
            n = osz + 2
        else:
            n = 3
        if pos + n > limit:
            return decode_too_long(i, avail)
        if immk == I_AP:
            i.imm = <uint64_t>read_le(p + pos, osz, False)
            i.imm2 = <uint64_t>read_le(p + pos + osz, 2, False)
        elif immk == I_ENTER:
            i.imm = <uint64_t>read_le(p + pos, 2, False)
            i.imm2 = p[pos + 2]
        else:
            i.imm = <uint64_t>read_le(p + pos, n, immk != I_W)
        pos += n
    i.len = <uint8_t>pos
    # --- validity ---
    if (flags & I64) and mode == 64:
        i.fn = h_ud
    elif (flags & O64) and mode != 64:
        i.fn = h_ud
    elif i.lock and not ((flags & LK) and i.mod != 3):
        i.fn = h_ud
    elif opc == 0x90 and not (rex & 1):
        i.fn = h_nop                    # NOP / PAUSE, not XCHG eAX, eAX
    if i.fn == NULL:
        i.fn = h_ud
    return pos

cdef int decode_too_long(Insn* i, int avail) noexcept nogil:
    """Ran out of bytes: either past 15 (#GP) or past what could be fetched."""
    if avail >= 15:
        i.fn = h_gp0
        i.len = 15
        return 15
    return -1
