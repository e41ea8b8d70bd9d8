#!/usr/bin/python3
"""Write the model card (models/README.md) from a training run, the engine
check (check_engine.py --json) and the recorded samples
(tests/integration/default_model/expected.json).

  /usr/bin/python3 models/train/card.py --run RUN --gguf models/X.gguf \
      --check check.json --samples tests/integration/default_model/expected.json \
      --out models/README.md
"""
import argparse
import csv
import json
import math
import os

import torch


def main():
    ap = argparse.ArgumentParser()
    for k in ("run", "gguf", "check", "samples", "out"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--phase1", help="the run --run continued from (--init), with its step")
    ap.add_argument("--phase1-step", type=int, default=0)
    ap.add_argument("--phase1-steps", type=int, default=0, help="its planned schedule length")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.run, "train_meta.json")))
    chk = json.load(open(a.check))
    smp = json.load(open(a.samples))
    rows = list(csv.DictReader(open(os.path.join(a.run, "loss.csv"))))
    p1_rows, p1_secs = [], 0.0
    if a.phase1:
        p1_rows = [r for r in csv.DictReader(open(os.path.join(a.phase1, "loss.csv")))
                   if int(r["step"]) <= a.phase1_step]
        p1_secs = float(p1_rows[-1]["seconds"])
        for r in rows:
            r["step"] = str(int(r["step"]) + a.phase1_step + 1)
        rows = p1_rows + rows
    ck = torch.load(os.path.join(a.run, "ckpt.pt"))
    cfg = ck["cfg"]
    n_params = sum(v.numel() for v in ck["model"].values())
    n_tern = sum(v.numel() for k, v in ck["model"].items() if v.dim() == 2 and "emb" not in k)
    size = os.path.getsize(a.gguf)
    args = meta["args"]
    vals = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    # train loss averaged over each 50-step block
    blocks = {}
    for r in rows:
        blocks.setdefault(int(r["step"]) // 50, []).append(float(r["train_loss"]))
    curve = []
    vmax = max(v for _, v in vals)
    for s, v in vals:
        tl = blocks.get(s // 50, [float("nan")])
        t = sum(tl) / len(tl)
        bar = "#" * int(round(40 * v / vmax))
        curve.append("| %4d | %6.3f | %6.3f | %7.1f | `%s` |" % (s, t, v, math.exp(v), bar))
    final_val = vals[-1][1]
    out = []
    w = out.append
    w("# aria-web-6m: the default model\n")
    w("A small BitNet b1.58 model trained from scratch on the World English Bible, so that a")
    w("fresh ARIA testnet answers with English instead of random tokens. It is what")
    w("`aria run` (without `-m`) and `aria testnet up` (without `--model`) use.\n")
    w("| | |\n|---|---|")
    w("| file | `models/%s` (%.2f MiB, GGUF v3) |" % (os.path.basename(a.gguf), size / 2**20))
    w("| architecture | `bitnet-b1.58`: %d layers, n_embd %d, n_ff %d, %d heads / %d KV heads, "
      "ReLU² gated FFN, attention and FFN sub-norms, NEOX RoPE; trained on %d-token windows, the file declares a context of 512 (RoPE runs past the training window; the text gets worse there) |" %
      (cfg["layers"], cfg["dim"], cfg["ff"], cfg["heads"], cfg["kv_heads"], cfg["ctx"]))
    w("| parameters | %.2f M in all; %.2f M ternary (projections, TQ2_0), tied F16 embedding of "
      "%d × %d |" % (n_params / 1e6, n_tern / 1e6, cfg["vocab"], cfg["dim"]))
    w("| tokenizer | byte-level BPE, %d tokens (GPT-2 pre-tokenizer), learned by the script "
      "from the training text; stored in the GGUF |" % cfg["vocab"])
    if a.phase1:
        w("| training | QAT as in the BitNet b1.58 papers: absmean ternary weights and per-token "
          "absmax int8 activations in the forward pass, straight-through estimator; AdamW "
          "(β 0.9/0.95, weight decay 0.05). Phase 1: %d steps of a %d-step schedule (lr 2e-3, "
          "warm-up then cosine), stopped there because the shared machine had slowed it to "
          "a crawl; phase 2 (`--init`, `--anneal`): %d steps with lr decaying linearly from "
          "%.0e to %.0e. Batches of %d sequences × %d tokens (%.1f M tokens seen, about %.1f "
          "epochs); seeds 20261124 and %d |" %
          (a.phase1_step + 1, a.phase1_steps, args["steps"], args["lr"], args["lr"] / 10,
           args["batch"], args["seq"],
           (a.phase1_step + 1 + args["steps"]) * args["batch"] * args["seq"] / 1e6,
           (a.phase1_step + 1 + args["steps"]) * args["batch"] * args["seq"] /
           meta["train_tokens"], args["seed"]))
    else:
        w("| training | QAT as in the BitNet b1.58 papers: absmean ternary weights and "
          "per-token absmax int8 activations in the forward pass, straight-through estimator; "
          "AdamW (lr %.0e, β 0.9/0.95, weight decay 0.05), warm-up then cosine decay; %d "
          "steps × %d sequences × %d tokens; seed %d |" % (args["lr"], args["steps"],
                                                          args["batch"], args["seq"],
                                                          args["seed"]))
    w("| training time | %.0f min of wall time on this machine's 2 cores (Debian python3-torch "
      "%s, CPU), shared with the rest of the session's builds, tests and benchmarks (about "
      "3.6 s per step when the machine was quiet, 2 threads) |" %
      ((meta["seconds"] + p1_secs) / 60, meta["torch"]))
    w("| data | World English Bible (`sword-text-web`, module engWEB2015eb, read with "
      "`diatheke`): **public domain**. %d training tokens (1,360 chapters); %d held-out "
      "tokens (28 chapters: every 50th) |" % (meta["train_tokens"], meta["val_tokens"]))
    w("| validation | loss %.3f nats/token → perplexity %.1f (PyTorch, QAT model, 24 windows) |"
      % (final_val, math.exp(final_val)))
    w("")
    w("## Engine vs PyTorch\n")
    w("`models/train/check_engine.py` compares our engine (`aria model score`, teacher-forced) "
      "with the float64 PyTorch forward pass over the exported weights (`forward_exported`) on "
      "%d held-out windows of %d tokens:\n" % (chk["windows"], chk["window_len"]))
    w("| check | result |\n|---|---|")
    w("| tokenizer ids (C vs bpe.py) | %s texts equal |" % chk["tokenizer_parity"])
    w("| same top-1 token | %d of %d positions = **%.2f%%** (target ≥ 99%%) |" %
      (chk["top1_agree"], chk["positions"], chk["top1_agree_pct"]))
    w("| held-out perplexity | engine %.3f, PyTorch %.3f: **%.3f%% apart** (target ≤ 1%%) |" %
      (chk["ppl_engine"], chk["ppl_torch"], chk["ppl_rel_diff_pct"]))
    w("")
    w("## Samples\n")
    w("Greedy decoding (temperature 0) with a repetition penalty of %.1f over the last 64 "
      "tokens, %d tokens per prompt, exactly as `tests/integration/default_model` checks them "
      "against the recorded token ids:\n" % (smp["repeat_penalty"], smp["n"]))
    for p, t in smp["text"].items():
        w("> **%s**%s\n" % (p, t.replace("\n", " ")))
    w("Without the penalty, greedy decoding of so small a model falls into loops "
      "(\"and the children of Israel, and the children of Israel, …\").\n")
    w("## Loss curve\n")
    w("| step | train loss (50-step mean) | validation loss | validation perplexity | |")
    w("|---|---|---|---|---|")
    out.extend(curve)
    w("")
    w("## Retrain\n")
    w("```sh\napt-get install python3-torch python3-numpy python3-regex sword-text-web diatheke")
    if a.phase1:
        w("/usr/bin/python3 models/train/train.py --out build/train1 --steps %d --seq %d "
          "--batch %d   # stopped after step %d (ckpt.pt is written every 50 steps)" %
          (a.phase1_steps, args["seq"], args["batch"], a.phase1_step))
        w("/usr/bin/python3 models/train/train.py --out build/train --init build/train1/ckpt.pt "
          "--anneal --steps %d --lr %g --seq %d --batch %d --threads 1 --seed %d" %
          (args["steps"], args["lr"], args["seq"], args["batch"], args["seed"]))
    else:
        w("/usr/bin/python3 models/train/train.py --out build/train --steps %d --seq %d "
          "--batch %d" % (args["steps"], args["seq"], args["batch"]))
    w("/usr/bin/python3 models/train/export_gguf.py --run build/train --out models/%s --ctx 512" %
      os.path.basename(a.gguf))
    w("/usr/bin/python3 models/train/check_engine.py --run build/train --gguf models/%s "
      "--aria build/release/node/aria --json build/check.json" % os.path.basename(a.gguf))
    w("ARIA_BIN=build/release/node/aria python3 tests/integration/default_model/"
      "test_default_model.py models/%s --record" % os.path.basename(a.gguf))
    w("```\n")
    w("Seeded: the data order, initialisation and tokenizer are fixed by `--seed`; PyTorch's "
      "CPU kernels may still differ in the last bits between machines and thread counts, so "
      "a retrained model is close to, not bit-equal with, this one (the recorded samples are "
      "for this file). About an hour of training on 2 quiet cores; see models/train/README.md "
      "for why every linear layer is computed as a 1×1 convolution there.\n")
    w("Limits: a 6 M-parameter model trained on one book. It writes Bible-flavoured English "
      "that is grammatical in stretches and meaningless as a whole; it knows nothing else.")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
