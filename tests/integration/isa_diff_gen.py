#!/usr/bin/env python3
"""Random instruction streams of the Zba/Zbb/Zbs (and optionally Zicond) ALU ops
as a static riscv64 Linux program: registers x5-x31 start from seeded random
and edge values, N random ops run on them, the program writes x5-x31 (27
doublewords) to stdout and exits. Used by test_isa_diff.sh to compare kiln
against qemu-riscv64.

usage: isa_diff_gen.py SEED COUNT [--zicond] > prog.S
"""
import random
import sys

RR = ["sh1add", "sh2add", "sh3add", "add.uw", "sh1add.uw", "sh2add.uw", "sh3add.uw",
      "andn", "orn", "xnor", "max", "maxu", "min", "minu", "rol", "ror", "rolw", "rorw",
      "bclr", "bext", "binv", "bset", "add", "sub", "xor", "sll", "srl", "sra", "addw", "subw"]
RI = {"slli.uw": 63, "rori": 63, "roriw": 31, "bclri": 63, "bexti": 63, "binvi": 63, "bseti": 63,
      "addi": None, "xori": None}
R1 = ["clz", "ctz", "cpop", "clzw", "ctzw", "cpopw", "sext.b", "sext.h", "zext.h", "orc.b", "rev8"]
# Zicond through .insn: binutils 2.40 does not know the mnemonics (OP, funct7 7, funct3 5/7).
CZ = {"czero.eqz": 5, "czero.nez": 7}
EDGE = [0, 1, -1, 1 << 63, (1 << 63) - 1, 1 << 31, (1 << 31) - 1, (1 << 32) - 1, 1 << 32,
        0xff, 0x80, 0x8000, 0xffff, 0xffffffff00000000, 63, 64, 32, 31]


def reg(r):
    return "x%d" % r


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    zicond = "--zicond" in sys.argv[3:]
    rnd = random.Random(seed)
    out = ["\t.option arch, +zba, +zbb, +zbs", "\t.text", "\t.globl _start", "_start:"]
    for r in range(5, 32):
        v = rnd.choice(EDGE) if rnd.random() < 0.4 else rnd.getrandbits(64)
        out.append("\tli %s, %d" % (reg(r), v & ((1 << 64) - 1)))
    kinds = ["rr"] * 5 + ["ri"] * 2 + ["r1"] * 2 + (["cz"] if zicond else [])
    for _ in range(count):
        rd, rs1, rs2 = rnd.randrange(5, 32), rnd.randrange(5, 32), rnd.randrange(5, 32)
        if rnd.random() < 0.05:
            rd = 0  # writes to x0 are dropped
        k = rnd.choice(kinds)
        if k == "rr":
            out.append("\t%s %s, %s, %s" % (rnd.choice(RR), reg(rd), reg(rs1), reg(rs2)))
        elif k == "ri":
            op = rnd.choice(sorted(RI))
            imm = rnd.randint(-2048, 2047) if RI[op] is None else rnd.randint(0, RI[op])
            out.append("\t%s %s, %s, %d" % (op, reg(rd), reg(rs1), imm))
        elif k == "r1":
            op = rnd.choice(R1)
            if op == "ctzw":
                # QEMU 7.2 counts past bit 31 when the low word is 0: give it a set bit 31.
                out.append("\tbseti x4, %s, 31" % reg(rs1))
                rs1 = 4
            out.append("\t%s %s, %s" % (op, reg(rd), reg(rs1)))
        else:
            f3 = CZ[rnd.choice(sorted(CZ))]
            out.append("\t.insn r 0x33, %d, 7, %s, %s, %s" % (f3, reg(rd), reg(rs1), reg(rs2)))
    out.append("\tla x1, regs")
    for i, r in enumerate(range(5, 32)):
        out.append("\tsd %s, %d(x1)" % (reg(r), 8 * i))
    out += ["\tli a0, 1", "\tla a1, regs", "\tli a2, %d" % (27 * 8), "\tli a7, 64", "\tecall",
            "\tli a0, 0", "\tli a7, 93", "\tecall", "\t.bss", "\t.align 3", "regs:\t.skip %d" % (27 * 8)]
    print("\n".join(out))


main()
