#!/bin/sh
# Regenerates the golden (16-bit RVC, 32-bit expansion) table in
# tests/unit/test_rvc.c from the real cross assembler, and cross-checks
# src/cpu/rvc.c against objdump over all 65536 16-bit words.
#
# For every case, the compressed form is assembled with `.option rvc` (an
# explicit c.* mnemonic, or `.insn` for the HINT encodings gas refuses to
# spell) and the spec's expansion with `.option norvc`; both objects are
# disassembled and paired up line by line. The C expander plays no part in
# producing the table, so the table is an independent oracle.
#
# Usage: tests/unit/gen_rvc_golden.sh           (rewrite the table in place)
#        tests/unit/gen_rvc_golden.sh --check   (only run the cross-checks)
# Needs riscv64-linux-gnu-as/objdump, python3 and a host cc.
set -eu

cd "$(dirname "$0")/../.."
AS=${AS:-riscv64-linux-gnu-as}
OBJDUMP=${OBJDUMP:-riscv64-linux-gnu-objdump}
CC=${CC:-cc}
TEST=tests/unit/test_rvc.c
MODE=${1:-update}
if [ -n "${RVC_GEN_TMP:-}" ]; then  # keep intermediates for debugging
    TMP=$RVC_GEN_TMP; mkdir -p "$TMP"
else
    TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fi

python3 - "$TMP" <<'EOF'
import sys
tmp = sys.argv[1]
cases = []  # (rvc source, norvc source)

def add(c, full):
    cases.append((c, full))

X = ['x%d' % i for i in range(32)]
XC = ['x%d' % i for i in range(8, 16)]     # rd'/rs1'/rs2' integer
FC = ['f%d' % i for i in range(8, 16)]     # rd'/rs2' float
F = ['f%d' % i for i in range(32)]
s6 = [-32, -31, -16, -1, 1, 2, 15, 31]     # 6-bit signed, non-zero

# Quadrant 0
for i, r in enumerate(XC):
    for imm in ([4, 8, 1020, 512] if i in (0, 7) else [4 << i]):
        add('c.addi4spn %s, sp, %d' % (r, imm), 'addi %s, sp, %d' % (r, imm))
for imm in [4 << k for k in range(8)] + [1020]:
    add('c.addi4spn x10, sp, %d' % imm, 'addi x10, sp, %d' % imm)
for op, full, offs in (('c.lw', 'lw', [0, 4, 8, 16, 32, 64, 124]),
                       ('c.ld', 'ld', [0, 8, 16, 32, 64, 128, 248]),
                       ('c.sw', 'sw', [0, 4, 8, 16, 32, 64, 124]),
                       ('c.sd', 'sd', [0, 8, 16, 32, 64, 128, 248])):
    for o in offs:
        add('%s x9, %d(x14)' % (op, o), '%s x9, %d(x14)' % (full, o))
    for a, b in zip(XC, reversed(XC)):
        add('%s %s, %d(%s)' % (op, a, offs[-1], b), '%s %s, %d(%s)' % (full, a, offs[-1], b))
for op, full in (('c.fld', 'fld'), ('c.fsd', 'fsd')):
    for o in [0, 8, 16, 32, 64, 128, 248]:
        add('%s f9, %d(x14)' % (op, o), '%s f9, %d(x14)' % (full, o))
    for a, b in zip(FC, reversed(XC)):
        add('%s %s, 248(%s)' % (op, a, b), '%s %s, 248(%s)' % (full, a, b))

# Quadrant 1
add('c.nop', 'addi x0, x0, 0')
for imm in s6:  # C.NOP with imm != 0: HINT
    add('c.nop %d' % imm, 'addi x0, x0, %d' % imm)
for r in X[1:]:
    add('c.addi %s, %d' % (r, s6[(int(r[1:])) % 8]), 'addi %s, %s, %d' % (r, r, s6[int(r[1:]) % 8]))
for imm in s6:
    add('c.addi x10, %d' % imm, 'addi x10, x10, %d' % imm)
for r in ('x1', 'x10', 'x31'):  # C.ADDI imm=0: HINT
    add('.insn ci 1, 0, %s, 0' % r, 'addi %s, %s, 0' % (r, r))
for r in X[1:]:
    add('c.addiw %s, %d' % (r, s6[int(r[1:]) % 8]), 'addiw %s, %s, %d' % (r, r, s6[int(r[1:]) % 8]))
for imm in s6 + [0]:
    add('c.addiw x10, %d' % imm, 'addiw x10, x10, %d' % imm)
for r in X:
    add('c.li %s, %d' % (r, s6[int(r[1:]) % 8]), 'addi %s, x0, %d' % (r, s6[int(r[1:]) % 8]))
for imm in s6 + [0]:
    add('c.li x10, %d' % imm, 'addi x10, x0, %d' % imm)
    add('c.li x0, %d' % imm, 'addi x0, x0, %d' % imm)
for imm in s6:
    u = imm & 0xfffff
    add('c.lui x10, 0x%x' % u, 'lui x10, 0x%x' % u)
    add('c.lui x0, 0x%x' % u, 'lui x0, 0x%x' % u)    # HINT
for r in X:
    if r != 'x2':
        add('c.lui %s, 0x%x' % (r, 0xfffe0), 'lui %s, 0x%x' % (r, 0xfffe0))
for imm in (-512, -496, -256, -16, 16, 32, 64, 128, 256, 496):
    add('c.addi16sp sp, %d' % imm, 'addi sp, sp, %d' % imm)
for op, full in (('c.srli', 'srli'), ('c.srai', 'srai')):
    for sh in (1, 2, 31, 32, 33, 63):
        add('%s x10, %d' % (op, sh), '%s x10, x10, %d' % (full, sh))
    for i, r in enumerate(XC):
        add('%s %s, %d' % (op, r, 1 << (i % 6)), '%s %s, %s, %d' % (full, r, r, 1 << (i % 6)))
add('.insn 0x8101', 'srli x10, x10, 0')  # C.SRLI64 HINT, gas cannot spell it
add('.insn 0x8501', 'srai x10, x10, 0')  # C.SRAI64 HINT
for imm in s6 + [0]:
    add('c.andi x11, %d' % imm, 'andi x11, x11, %d' % imm)
for r in XC:
    add('c.andi %s, -1' % r, 'andi %s, %s, -1' % (r, r))
for op, full in (('c.sub', 'sub'), ('c.xor', 'xor'), ('c.or', 'or'), ('c.and', 'and'),
                 ('c.subw', 'subw'), ('c.addw', 'addw')):
    for a, b in zip(XC, reversed(XC)):
        add('%s %s, %s' % (op, a, b), '%s %s, %s, %s' % (full, a, a, b))
for off in (-2048, -2046, -1024, -512, -256, -128, -64, -32, -16, -8, -4, -2,
            0, 2, 4, 6, 8, 16, 32, 64, 128, 256, 512, 1024, 1366, 2046):
    add('c.j .%+d' % off, 'jal x0, .%+d' % off)
for off in (-256, -254, -128, -64, -32, -16, -8, -4, -2, 0, 2, 4, 6, 8, 16, 32, 64, 128, 170, 254):
    add('c.beqz x8, .%+d' % off, 'beq x8, x0, .%+d' % off)
    add('c.bnez x15, .%+d' % off, 'bne x15, x0, .%+d' % off)
for r in XC:
    add('c.beqz %s, .-256' % r, 'beq %s, x0, .-256' % r)
    add('c.bnez %s, .+254' % r, 'bne %s, x0, .+254' % r)

# Quadrant 2
for sh in (1, 2, 31, 32, 33, 63):
    add('c.slli x10, %d' % sh, 'slli x10, x10, %d' % sh)
    add('c.slli x0, %d' % sh, 'slli x0, x0, %d' % sh)      # HINT
for r in X[1:]:
    add('c.slli %s, %d' % (r, int(r[1:]) * 2 + 1), 'slli %s, %s, %d' % (r, r, int(r[1:]) * 2 + 1))
for r in ('x0', 'x10', 'x31'):  # C.SLLI64 HINT (shamt=0), gas cannot spell it
    add('.insn ci 2, 0, %s, 0' % r, 'slli %s, %s, 0' % (r, r))
for op, full, offs in (('c.lwsp', 'lw', [0, 4, 32, 64, 128, 252]),
                       ('c.ldsp', 'ld', [0, 8, 32, 64, 256, 504]),
                       ('c.swsp', 'sw', [0, 4, 32, 64, 128, 252]),
                       ('c.sdsp', 'sd', [0, 8, 32, 64, 256, 504])):
    for o in offs:
        add('%s x1, %d(sp)' % (op, o), '%s x1, %d(sp)' % (full, o))
    regs = X[1:] if op in ('c.lwsp', 'c.ldsp') else X
    for r in regs:
        add('%s %s, %d(sp)' % (op, r, offs[-1]), '%s %s, %d(sp)' % (full, r, offs[-1]))
for op, full in (('c.fldsp', 'fld'), ('c.fsdsp', 'fsd')):
    for o in [0, 8, 32, 64, 256, 504]:
        add('%s f1, %d(sp)' % (op, o), '%s f1, %d(sp)' % (full, o))
    for r in F:
        add('%s %s, 504(sp)' % (op, r), '%s %s, 504(sp)' % (full, r))
for r in X[1:]:
    add('c.jr %s' % r, 'jalr x0, 0(%s)' % r)
    add('c.jalr %s' % r, 'jalr x1, 0(%s)' % r)
add('c.ebreak', 'ebreak')
for r in X:
    for s in ('x1', 'x2', 'x31'):
        add('c.mv %s, %s' % (r, s), 'add %s, x0, %s' % (r, s))     # rd=0: HINT
        add('c.add %s, %s' % (r, s), 'add %s, %s, %s' % (r, r, s))  # rd=0: HINT
for s in X[3:6]:  # C.NTL.* hints: c.add x0, x2..x5
    add('c.add x0, %s' % s, 'add x0, x0, %s' % s)

with open(tmp + '/rvc.s', 'w') as f:
    f.write('.option rvc\n.option norelax\n')
    f.writelines(c + '\n' for c, _ in cases)
with open(tmp + '/full.s', 'w') as f:
    f.write('.option norvc\n.option norelax\n')
    f.writelines(full + '\n' for _, full in cases)
with open(tmp + '/names', 'w') as f:
    f.writelines(c + '\n' for c, _ in cases)
EOF

$AS -march=rv64gc -o "$TMP/rvc.o" "$TMP/rvc.s"
$AS -march=rv64gc -o "$TMP/full.o" "$TMP/full.s"
# One instruction per line (.insn, unlike .hword, is disassembled as code).
dis() { $OBJDUMP -d -M no-aliases "$1" | awk -F'\t' '/^ *[0-9a-f]+:\t/ { gsub(/ /, "", $2); print $2 }'; }
dis "$TMP/rvc.o" > "$TMP/rvc.hex"
dis "$TMP/full.o" > "$TMP/full.hex"

python3 - "$TMP" > "$TMP/table" <<'EOF'
import sys
tmp = sys.argv[1]
names = open(tmp + '/names').read().splitlines()
rvc = open(tmp + '/rvc.hex').read().split()
full = open(tmp + '/full.hex').read().split()
if not (len(names) == len(rvc) == len(full)):
    sys.exit('gen_rvc_golden: count mismatch %d/%d/%d' % (len(names), len(rvc), len(full)))
seen = set()
for n, c, w in zip(names, rvc, full):
    if len(c) != 4 or len(w) != 8:
        sys.exit('gen_rvc_golden: %s did not assemble to 16/32 bits: %s %s' % (n, c, w))
    if c in seen:
        continue
    seen.add(c)
    print('    {0x%s, 0x%su}, /* %s */' % (c, w, n))
EOF
echo "gen_rvc_golden: $(wc -l < "$TMP/table") unique golden pairs" >&2

# Cross-check the expander over every 16-bit word: each non-zero result must
# disassemble as a known 32-bit instruction, and the set of words we accept
# is compared with the set objdump decodes as RV64GC compressed instructions.
cat > "$TMP/dump.c" <<'EOF'
#include <stdio.h>
#include "cpu/rvc.h"
int main(void)
{
    for (unsigned i = 0; i < 65536; i++) {
        if ((i & 3) == 3)
            continue;
        printf("%u %u\n", i, (unsigned)rvc_expand((uint16_t)i));
    }
    return 0;
}
EOF
$CC -std=gnu11 -O2 -Isrc -o "$TMP/dump" "$TMP/dump.c" src/cpu/rvc.c
"$TMP/dump" > "$TMP/all"
python3 - "$TMP" <<'EOF'
import sys
tmp = sys.argv[1]
pairs = [tuple(map(int, l.split())) for l in open(tmp + '/all')]
with open(tmp + '/w32.s', 'w') as f:
    f.writelines('.insn 0x%08x\n' % w for _, w in pairs if w)
with open(tmp + '/w16.s', 'w') as f:
    f.writelines('.insn 0x%04x\n' % c for c, _ in pairs)
EOF
$AS -march=rv64gc -o "$TMP/w32.o" "$TMP/w32.s"
$AS -march=rv64gc -o "$TMP/w16.o" "$TMP/w16.s"
$OBJDUMP -d -M no-aliases "$TMP/w32.o" | awk -F'\t' '/^ *[0-9a-f]+:\t/ { print $3 }' > "$TMP/w32.dis"
$OBJDUMP -d -M no-aliases "$TMP/w16.o" | awk -F'\t' '/^ *[0-9a-f]+:\t/ { print $3 }' > "$TMP/w16.dis"
python3 - "$TMP" <<'EOF'
import sys
tmp = sys.argv[1]
pairs = [tuple(map(int, l.split())) for l in open(tmp + '/all')]
d32 = open(tmp + '/w32.dis').read().splitlines()
d16 = open(tmp + '/w16.dis').read().splitlines()
bad = lambda s: s.startswith('.') or s.startswith('unimp') or s == ''
ok = [p for p in pairs if p[1]]
assert len(d32) == len(ok) and len(d16) == len(pairs), 'objdump line count mismatch'
errors = 0
for (c, w), s in zip(ok, d32):
    if (w & 3) != 3 or bad(s):
        print('gen_rvc_golden: %04x -> %08x not a valid 32-bit insn (%s)' % (c, w, s))
        errors += 1
disagree = {}
for (c, w), s in zip(pairs, d16):
    if bool(w) != (not bad(s)):
        key = ('we accept' if w else 'we reject') + ', objdump says ' + s.split()[0] if s else ''
        disagree.setdefault(key, []).append(c)
for k, v in sorted(disagree.items()):
    print('gen_rvc_golden: note: %5d words: %s (e.g. %s)' % (len(v), k, ' '.join('%04x' % c for c in v[:4])))
print('gen_rvc_golden: %d legal 16-bit words, all re-decoded by objdump' % len(ok)
      if not errors else 'gen_rvc_golden: %d errors' % errors)
sys.exit(1 if errors else 0)
EOF

[ "$MODE" = "--check" ] && exit 0
python3 - "$TMP/table" "$TEST" <<'EOF'
import sys
table, test = sys.argv[1], sys.argv[2]
src = open(test).read()
begin, end = '/* BEGIN GOLDEN (gen_rvc_golden.sh) */\n', '    /* END GOLDEN */\n'
a, b = src.index(begin) + len(begin), src.index(end)
open(test, 'w').write(src[:a] + open(table).read() + src[b:])
EOF
echo "gen_rvc_golden: updated $TEST" >&2
