#!/usr/bin/python3
"""Check an exported model against PyTorch: tokenizer ids (our C tokenizer vs
bpe.py) and greedy top-1 of the engine (`aria run`) vs forward_exported, the
float64 oracle over the exported weights, on held-out windows.

  /usr/bin/python3 models/train/check_engine.py RUN_DIR MODEL.gguf path/to/aria
"""
import json, os, subprocess, sys, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe
from model import BitNet, Config, export_weights, forward_exported
run, gguf, aria = sys.argv[1], sys.argv[2], sys.argv[3]
ck = torch.load(os.path.join(run, "ckpt.pt"))
cfg = Config(**{k: v for k, v in ck["cfg"].items() if k != "head_dim"})
m = BitNet(cfg); m.load_state_dict(ck["model"])
w = export_weights(m)
tj = json.load(open(os.path.join(run, "tokenizer.json")))
enc = bpe.Encoder(tj["tokens"], [tuple(x) for x in tj["merges"]])
data = torch.load(os.path.join(run, "data.pt"))
val = data["val"]
text = "And God said, Let there be light: and there was light. The LORD is my shepherd."
py_ids = [tj["tokens"].index("<|begin_of_text|>")] + enc.encode(text)
c_ids = [int(x) for x in subprocess.run([aria, "model", "tokenize", "-m", gguf, text], capture_output=True, text=True, check=True).stdout.split()]
print("tokenizer parity:", py_ids == c_ids, len(py_ids))
agree = tot = 0
for start in (0, 5000, 12000):
    win = val[start:start + 40]
    logits = forward_exported(w, cfg, win)
    for k in range(8, 40, 4):
        ids = ",".join(str(int(t)) for t in win[:k])
        out = subprocess.run([aria, "run", "-m", gguf, "--prompt-ids", ids, "-n", "1", "--temp", "0", "--ids"], capture_output=True, text=True, check=True).stdout.split()
        tot += 1
        agree += int(out[0]) == int(logits[k - 1].argmax())
print("top-1 agreement engine vs torch oracle: %d/%d" % (agree, tot))
