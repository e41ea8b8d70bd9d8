#!/usr/bin/python3
"""Check an exported model against PyTorch (issue: default model).

 1. Tokenizer parity: our C tokenizer (`aria model tokenize`) vs bpe.py on
    fixed texts and held-out chapters.
 2. Held-out windows, teacher-forced: the engine (`aria model score`: top-1
    and log-probability of every next token) vs forward_exported, the
    float64 PyTorch forward pass over the exported weights. Reports the
    share of positions where both pick the same top-1 token, and both
    validation perplexities.
Writes the figures as JSON (--json) for the model card.

  /usr/bin/python3 models/train/check_engine.py --run RUN_DIR --gguf MODEL.gguf \
      --aria build/release/node/aria [--windows 8] [--len 128] [--json out.json]
"""
import argparse
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from model import BitNet, Config, export_weights, forward_exported  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--aria", required=True)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--len", type=int, default=128)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(os.path.join(a.run, "ckpt.pt"))
    cfg = Config(**{k: v for k, v in ck["cfg"].items() if k != "head_dim"})
    m = BitNet(cfg)
    m.load_state_dict(ck["model"])
    w = export_weights(m)
    tj = json.load(open(os.path.join(a.run, "tokenizer.json")))
    enc = bpe.Encoder(tj["tokens"], [tuple(x) for x in tj["merges"]])
    bos = tj["tokens"].index("<|begin_of_text|>")
    val = torch.load(os.path.join(a.run, "data.pt"))["val"]

    texts = ["And God said, Let there be light: and there was light.",
             "The LORD is my shepherd; I shall not want.",
             "In the beginning was the Word, and the Word was with God",
             "  spaces,\ttabs\nand newlines: 1234567 ¿qué? ünïcödé 日本語 🙂"]
    tok_ok = 0
    for t in texts:
        py = [bos] + enc.encode(t)
        c = [int(x) for x in subprocess.run([a.aria, "model", "tokenize", "-m", a.gguf, t],
                                            capture_output=True, text=True,
                                            check=True).stdout.split()]
        tok_ok += py == c
    print("tokenizer parity: %d/%d texts" % (tok_ok, len(texts)))

    agree = tot = 0
    nll_e = nll_t = 0.0
    step = max(1, (len(val) - a.len - 1) // a.windows)
    for wi in range(a.windows):
        win = val[wi * step: wi * step + a.len]
        ids = ",".join(str(int(t)) for t in win)
        r = subprocess.run([a.aria, "model", "score", "-m", a.gguf, ids], capture_output=True,
                           text=True, check=True)
        rows = [line.split() for line in r.stdout.splitlines()]
        logits = forward_exported(w, cfg, win)
        lsm = torch.log_softmax(logits, dim=-1)
        for i, best, lp in rows:
            i = int(i)
            tot += 1
            agree += int(best) == int(logits[i].argmax())
            nll_e -= float(lp)
            nll_t -= float(lsm[i, int(win[i + 1])])
    ppl_e, ppl_t = math.exp(nll_e / tot), math.exp(nll_t / tot)
    res = {"tokenizer_parity": "%d/%d" % (tok_ok, len(texts)),
           "positions": tot, "top1_agree": agree, "top1_agree_pct": 100.0 * agree / tot,
           "ppl_engine": ppl_e, "ppl_torch": ppl_t,
           "ppl_rel_diff_pct": 100.0 * abs(ppl_e - ppl_t) / ppl_t,
           "windows": a.windows, "window_len": a.len}
    print("top-1 agreement engine vs PyTorch: %d/%d = %.2f%%" % (agree, tot,
                                                                 res["top1_agree_pct"]))
    print("held-out perplexity: engine %.3f, PyTorch %.3f (%.3f%% apart)" %
          (ppl_e, ppl_t, res["ppl_rel_diff_pct"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    ok = tok_ok == len(texts) and res["top1_agree_pct"] >= 99.0 and res["ppl_rel_diff_pct"] <= 1
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
