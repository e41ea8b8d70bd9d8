#!/usr/bin/python3
"""Train ARIA's default model: a small BitNet b1.58 (ternary, QAT) on the
World English Bible (public domain), with its own byte-level BPE vocabulary.

Run with Debian's python (it sees python3-torch): see models/README.md.
  /usr/bin/python3 models/train/train.py --out build/model-train
Seeded and deterministic for a given --threads on the same machine.
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
from model import BitNet, Config  # noqa: E402

MODULE = "engWEB2015eb"  # sword-text-web: World English Bible, public domain
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
VERSE = re.compile(r"^(.+?) (\d+):(\d+): (.*)$")


def load_chapters():
    """The WEB as a list of chapter texts, via diatheke (package diatheke)."""
    out = subprocess.run(["diatheke", "-b", MODULE, "-f", "plain", "-k", "Gen 1:1-Rev 22:21"],
                         check=True, capture_output=True, text=True).stdout
    chapters, key, verses = [], None, []
    for line in out.splitlines():
        m = VERSE.match(line)
        if not m:
            continue
        k = (m.group(1), m.group(2))
        text = " ".join(m.group(4).split())
        if not text:
            continue
        if k != key and verses:
            chapters.append(" ".join(verses))
            verses = []
        key = k
        verses.append(text)
    if verses:
        chapters.append(" ".join(verses))
    return chapters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=768)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from this checkpoint's weights (a second phase)")
    ap.add_argument("--anneal", action="store_true",
                    help="no warm-up; lr decays linearly from --lr to --lr/10")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(a.threads)
    t0 = time.time()

    chapters = load_chapters()
    val_ch = chapters[::50]  # every 50th chapter is held out
    train_ch = [c for i, c in enumerate(chapters) if i % 50]
    print("chapters: %d train, %d held out" % (len(train_ch), len(val_ch)), flush=True)

    tok_path = os.path.join(a.out, "tokenizer.json")
    if os.path.exists(tok_path):
        with open(tok_path) as f:
            tj = json.load(f)
        tokens, merges = tj["tokens"], [tuple(m) for m in tj["merges"]]
    else:
        tokens, merges = bpe.train("\n".join(train_ch), a.vocab, SPECIALS)
        with open(tok_path, "w") as f:
            json.dump({"tokens": tokens, "merges": merges}, f)
    print("vocab %d (%d merges) in %.0fs" % (len(tokens), len(merges), time.time() - t0),
          flush=True)
    enc = bpe.Encoder(tokens, merges)
    bos, eos = tokens.index(SPECIALS[0]), tokens.index(SPECIALS[1])

    def stream(chs):
        ids = []
        for c in chs:
            ids.append(bos)
            ids.extend(enc.encode(c))
            ids.append(eos)
        return torch.tensor(ids, dtype=torch.long)

    train_ids, val_ids = stream(train_ch), stream(val_ch)
    torch.save({"train": train_ids, "val": val_ids}, os.path.join(a.out, "data.pt"))
    print("tokens: %d train, %d held out (%.0fs)" % (len(train_ids), len(val_ids),
                                                    time.time() - t0), flush=True)

    cfg = Config(vocab=len(tokens), dim=a.dim, layers=a.layers, heads=a.heads,
                 kv_heads=a.kv_heads, ff=a.ff, ctx=a.seq)
    model = BitNet(cfg)
    if a.init:
        init = torch.load(a.init)
        model.load_state_dict(init["model"])
        print("weights from %s (step %d)" % (a.init, init["step"]), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    warm = max(1, a.steps // 20)

    def lr_at(s):
        if a.anneal:
            return a.lr * (1.0 - 0.9 * s / max(1, a.steps - 1))
        if s < warm:
            return a.lr * (s + 1) / warm
        p = (s - warm) / max(1, a.steps - warm)
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    g = torch.Generator().manual_seed(a.seed)
    log = open(os.path.join(a.out, "loss.csv"), "w")
    log.write("step,seconds,lr,train_loss,val_loss\n")

    @torch.no_grad()
    def val_loss(n_windows=24):
        model.eval()
        tot, cnt = 0.0, 0
        step = max(1, (len(val_ids) - a.seq - 1) // n_windows)
        for i in range(0, len(val_ids) - a.seq - 1, step)[:n_windows]:
            x = val_ids[i:i + a.seq].unsqueeze(0)
            y = val_ids[i + 1:i + a.seq + 1].unsqueeze(0)
            tot += torch.nn.functional.cross_entropy(model(x).reshape(-1, cfg.vocab), y.view(-1),
                                                     reduction="sum").item()
            cnt += y.numel()
        model.train()
        return tot / cnt

    model.train()
    ema = None
    for s in range(a.steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(s)
        ix = torch.randint(0, len(train_ids) - a.seq - 1, (a.batch,), generator=g)
        x = torch.stack([train_ids[i:i + a.seq] for i in ix])
        y = torch.stack([train_ids[i + 1:i + a.seq + 1] for i in ix])
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, cfg.vocab), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        vl = ""
        if s % 50 == 0 or s == a.steps - 1:
            vl = "%.4f" % val_loss()
            torch.save({"model": model.state_dict(), "cfg": cfg.__dict__, "step": s},
                       os.path.join(a.out, "ckpt.pt"))
            print("step %d/%d  %.0fs  lr %.2e  loss %.3f  val %s" %
                  (s, a.steps, time.time() - t0, lr_at(s), ema, vl), flush=True)
        log.write("%d,%.1f,%.3e,%.4f,%s\n" % (s, time.time() - t0, lr_at(s), loss.item(), vl))
        log.flush()
    torch.save({"model": model.state_dict(), "cfg": cfg.__dict__, "step": a.steps},
               os.path.join(a.out, "ckpt.pt"))
    with open(os.path.join(a.out, "train_meta.json"), "w") as f:
        json.dump({"seconds": time.time() - t0, "steps": a.steps, "args": vars(a),
                   "train_tokens": len(train_ids), "val_tokens": len(val_ids),
                   "torch": torch.__version__}, f, indent=1)
    print("done in %.0fs" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
