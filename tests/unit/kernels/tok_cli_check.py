#!/usr/bin/python3
"""tok_cli_check.py ARIA_BIN VECTOR_DIR — `aria model tokenize` must print
llama.cpp's recorded prompt ids (bitnet-tiny-A) on one line, exit 2 on a
usage error and 1 on a missing file. Prints 'N passed, N failed'."""
import json
import os
import subprocess
import sys

aria, vdir = sys.argv[1], sys.argv[2]
gguf = os.path.join(vdir, "bitnet-tiny-seedA-f32.gguf")
ref = json.load(open(os.path.join(vdir, "bitnet-tiny-seedA-f32.llamacpp.json"), encoding="utf-8"))
passed = failed = 0


def check(name, args, want_rc, want_out=None, stdin=None):
    global passed, failed
    p = subprocess.run([aria, "model", "tokenize"] + args, input=stdin, capture_output=True, timeout=60)
    ok = p.returncode == want_rc and (want_out is None or p.stdout.decode("utf-8") == want_out)
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: rc %d (want %d) stdout %r (want %r) stderr %r" %
              (name, p.returncode, want_rc, p.stdout, want_out, p.stderr[-300:]))


for i, c in enumerate(ref["cases"]):
    want = " ".join(str(x) for x in c["prompt_ids"]) + "\n"
    check("case %d" % i, ["-m", gguf, c["prompt_text"]], 0, want)
    check("case %d stdin" % i, ["-m", gguf, "-"], 0, want, stdin=c["prompt_text"].encode("utf-8"))
check("no bos, special", ["-m", gguf, "--no-bos", "hi</s>"], 0, "7251 2\n")
check("raw", ["-m", gguf, "--no-bos", "--raw", "</s>"], 0, None)
check("missing -m", ["hello"], 2)
check("unknown option", ["-m", gguf, "--bogus", "x"], 2)
check("missing file", ["-m", "/nonexistent.gguf", "x"], 1)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
