/*
 * Bytecode interpreter: a register VM whose dispatch loop is a dense switch
 * (an indirect jump through a table in every build), running a Collatz-length
 * program over a range of starting values each round.
 */
#include "bench.h"

enum op { MOV, MOVI, ADDI, MULI, ANDI, SHRI, ADD, MULADD, JEQI, JZ, JLT, JMP, HALT };

struct insn {
    u8 op, a, b, c;             /* destination / operands (register numbers) */
    u32 imm;                    /* immediate or jump target */
};

/* r0 = first value, r1 = end, r2 = step count, r5 = digest */
static const struct insn collatz[] = {
    /* 0 */  { MOV,    3, 0, 0, 0 },     /* r3 = r0 */
    /* 1 */  { JEQI,   3, 0, 1, 9 },     /* if r3 == 1 goto 9 */
    /* 2 */  { ANDI,   4, 3, 0, 1 },     /* r4 = r3 & 1 */
    /* 3 */  { JZ,     4, 0, 0, 6 },     /* even: goto 6 */
    /* 4 */  { MULI,   3, 3, 3, 1 },     /* r3 = r3 * 3 + 1 */
    /* 5 */  { JMP,    0, 0, 0, 7 },
    /* 6 */  { SHRI,   3, 3, 0, 1 },     /* r3 >>= 1 */
    /* 7 */  { ADDI,   2, 2, 0, 1 },     /* r2++ */
    /* 8 */  { JMP,    0, 0, 0, 1 },
    /* 9 */  { MULADD, 5, 5, 2, 31 },    /* r5 = r5 * 31 + r2 */
    /* 10 */ { ADDI,   0, 0, 0, 1 },     /* r0++ */
    /* 11 */ { JLT,    0, 1, 0, 0 },     /* if r0 < r1 goto 0 */
    /* 12 */ { HALT,   0, 0, 0, 0 },
};

static NOINLINE u32 run(const struct insn *code, u32 *r)
{
    u32 pc = 0, steps = 0;

    for (;;) {
        const struct insn *i = &code[pc++];
        steps++;
        switch (i->op) {
        case MOV:    r[i->a] = r[i->b]; break;
        case MOVI:   r[i->a] = i->imm; break;
        case ADDI:   r[i->a] = r[i->b] + i->imm; break;
        case MULI:   r[i->a] = r[i->b] * i->c + i->imm; break;
        case ANDI:   r[i->a] = r[i->b] & i->imm; break;
        case SHRI:   r[i->a] = r[i->b] >> i->imm; break;
        case ADD:    r[i->a] = r[i->b] + r[i->c]; break;
        case MULADD: r[i->a] = r[i->b] * i->imm + r[i->c]; break;
        case JEQI:   if (r[i->a] == i->c) pc = i->imm; break;
        case JZ:     if (r[i->a] == 0) pc = i->imm; break;
        case JLT:    if (r[i->a] < r[i->b]) pc = i->imm; break;
        case JMP:    pc = i->imm; break;
        case HALT:   return steps;
        default:     return 0;
        }
    }
}

u32 workload(u32 rounds)
{
    u32 rr, h = 0x1B873593u;

    for (rr = 0; rr < rounds; rr++) {
        u32 r[8] = { 0 };
        u32 first = (round_seed(h, rr) & 255u) + 1u;
        r[0] = first;
        r[1] = first + 256u;
        h = mix(h, run(collatz, r));
        h = mix(h, r[2]);
        h = mix(h, r[5]);
    }
    return mix(h, rounds);
}
