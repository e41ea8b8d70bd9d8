#!/usr/bin/env python3
"""The bundled default model (models/*.gguf) writes what it wrote when it was
trained: greedy samples from fixed prompts, token ids compared with the ids
recorded in expected.json (the model card shows the same samples as text).

  ARIA_BIN=... python3 test_default_model.py MODEL.gguf [--record]
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected.json")
PROMPTS = ["In the beginning God created",
           "And the LORD said unto Moses,",
           "Blessed are the",
           "The kingdom of heaven is like",
           "And it came to pass, when"]
N = 48
REPEAT_PENALTY = "1.3"


def run(aria, model, prompt, ids):
    args = [aria, "run", "-m", model, "-p", prompt, "-n", str(N), "--temp", "0",
            "--repeat-penalty", REPEAT_PENALTY]
    if ids:
        args.append("--ids")
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        sys.exit("FAIL: %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def main():
    aria = os.environ.get("ARIA_BIN")
    model = sys.argv[1]
    record = "--record" in sys.argv
    got = {p: [int(x) for x in run(aria, model, p, True).split()] for p in PROMPTS}
    if record:
        text = {p: run(aria, model, p, False) for p in PROMPTS}
        with open(EXPECTED, "w") as f:
            json.dump({"model": os.path.basename(model), "n": N,
                       "repeat_penalty": float(REPEAT_PENALTY), "temp": 0, "ids": got,
                       "text": text}, f, indent=1, ensure_ascii=False)
        for p in PROMPTS:
            print("%s|%s" % (p, text[p].replace("\n", " ")))
        return
    exp = json.load(open(EXPECTED))
    if exp["model"] != os.path.basename(model):
        sys.exit("FAIL: expected.json is for %s, not %s" % (exp["model"], model))
    bad = [p for p in PROMPTS if got[p] != exp["ids"][p]]
    for p in bad:
        print("FAIL: %r: got %s\n      want %s" % (p, got[p], exp["ids"][p]))
    if bad:
        sys.exit(1)
    print("default model: %d prompts x %d greedy tokens equal the recorded ids" %
          (len(PROMPTS), N))


if __name__ == "__main__":
    main()
