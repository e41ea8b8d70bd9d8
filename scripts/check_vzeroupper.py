#!/usr/bin/python3
"""check_vzeroupper.py BINARY: fail if a function of BINARY can hand dirty
upper halves of ymm/zmm 0-15 to code that may run legacy SSE.

Legacy-SSE code (everything built for plain x86-64, e.g. forward.c's SSE2)
run while those upper halves are dirty is ~3x slower on Zen 5 (see
docs/performance.md, seventh round). GCC 12 does not always emit vzeroupper
before a call from a target("avx2") function into a plain one.

On `objdump -d`, per function: a forward data-flow over its instructions
(jumps inside the function followed, conditional ones both ways) marks the
state dirty after any instruction naming ymm/zmm 0-15 and clean after
vzeroupper or a call that returns; the function starts clean. Each `ret`,
`call` and jump out of the function reached dirty is reported, except
  - a call or jump to a function that itself names ymm/zmm 0-15 (it cleans
    up on its own way out, or takes a vector argument),
  - a `ret` of a function whose every caller names ymm/zmm 0-15 (a helper
    returning a vector register to vector code),
  - calls to functions that never return (assertion failures).
Indirect calls count as calls to plain code; an indirect jump through a
register is taken as a switch inside the function (any block that no
fall-through enters may be its target).
"""
import re
import subprocess
import sys

NORETURN = re.compile(r"(aria_assert_fail|check_range|abort|__stack_chk_fail)")
VEC = re.compile(r"%[yz]mm([0-9]|1[0-5])\b")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(.*)$")


def parse(path):
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    funcs, order, fn = {}, [], None
    for line in dis.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            fn = m.group(1)
            funcs[fn] = []
            order.append(fn)
            continue
        m = INSN.match(line)
        if fn and m:
            funcs[fn].append((int(m.group(1), 16), m.group(2).strip()))
    return funcs, order


def branch(text):
    """(mnemonic class, target address or None, target name or None)."""
    m = re.match(r"^(?:bnd\s+|notrack\s+)?(j[a-z]+|call|ret)\b\s*(.*)$", text)
    if not m:
        return None, None, None
    op, rest = m.group(1), m.group(2)
    t = re.match(r"^([0-9a-f]+) <([^>]+)>", rest)
    addr = int(t.group(1), 16) if t else None
    name = t.group(2) if t else None
    return op, addr, name


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_vzeroupper.py BINARY")
    funcs, order = parse(sys.argv[1])
    uses = {f: any(VEC.search(t) for _, t in b) for f, b in funcs.items()}
    callers = {}
    for f, b in funcs.items():
        for _, t in b:
            op, _, name = branch(t)
            if op in ("call", "jmp") and name and "+" not in name and name != f:
                callers.setdefault(name, set()).add(f)
    bad = []
    for f in order:
        b = funcs[f]
        if not uses[f] or not b:
            continue
        index = {a: i for i, (a, _) in enumerate(b)}
        dirty_in = [None] * len(b)  # None: not reached yet
        dirty_in[0] = False
        work = [0]
        while work:
            i = work.pop()
            st = dirty_in[i]
            a, t = b[i]
            op, addr, name = branch(t)
            if "vzeroupper" in t:
                out = False
            elif VEC.search(t):
                out = True
            else:
                out = st
            if op == "jmp" and addr is None and "*" in t and "(%rip)" not in t:
                # a jump table (switch) inside the function: any block that
                # no fall-through enters may be its target
                for k in range(1, len(b)):
                    pk = branch(b[k - 1][1])[0]
                    if pk in ("jmp", "ret") and (dirty_in[k] is None or (out and not dirty_in[k])):
                        dirty_in[k] = out or bool(dirty_in[k])
                        work.append(k)
                continue
            if op in ("call", "ret") or (op == "jmp" and (addr is None or addr not in index)):
                if st and not (op == "call" and name and (NORETURN.search(name) or
                                                          uses.get(name.split("@")[0], False))) \
                        and not (op == "jmp" and name and uses.get(name, False)) \
                        and not (op == "ret" and callers.get(f) and
                                 all(uses.get(c, False) for c in callers[f])):
                    bad.append("%s: %x: %s" % (f, a, t))
                if op == "call":
                    out = False  # the callee returns with the state clean
                else:
                    continue  # no fall-through after ret or a jump out
            succ = []
            if op and op.startswith("j") and addr in index:
                succ.append(index[addr])
            if not (op == "jmp") and i + 1 < len(b):
                succ.append(i + 1)
            for k in succ:
                if dirty_in[k] is None or (out and not dirty_in[k]):
                    dirty_in[k] = out if dirty_in[k] is None else (dirty_in[k] or out)
                    work.append(k)
    if bad:
        print("dirty upper vector state handed on (add _mm256_zeroupper() before it):")
        for x in sorted(set(bad)):
            print("  " + x)
        sys.exit(1)
    n = sum(1 for f in order if uses[f])
    print("check_vzeroupper: %d functions name ymm/zmm 0-15; none hands on dirty state" % n)


if __name__ == "__main__":
    main()
