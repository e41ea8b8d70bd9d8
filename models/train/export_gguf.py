#!/usr/bin/python3
"""Export a trained checkpoint to GGUF v3 for ARIA's engine.

Projections are stored as TQ2_0 (llama.cpp's layout: blocks of 256 weights,
64 bytes of 2-bit codes then an fp16 scale; code c means c - 1, and byte
32*h + m holds elements 128*h + 32*l + m at bits 2*l), the tied embedding as
F16, norms as F32, and the byte-level BPE tokenizer in the file.

  /usr/bin/python3 models/train/export_gguf.py --run DIR --out models/aria-web-6m.gguf
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BitNet, Config, export_weights  # noqa: E402

ARCH = "bitnet-b1.58"
ALIGN = 32
T_F32, T_F16, T_TQ2_0 = 0, 1, 35
V_U32, V_I32, V_F32, V_BOOL, V_STR, V_ARR = 4, 5, 6, 7, 8, 9


def s_bytes(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value, elem=None):
    out = s_bytes(key) + struct.pack("<I", vtype)
    if vtype == V_U32:
        out += struct.pack("<I", value)
    elif vtype == V_I32:
        out += struct.pack("<i", value)
    elif vtype == V_F32:
        out += struct.pack("<f", value)
    elif vtype == V_BOOL:
        out += struct.pack("<B", 1 if value else 0)
    elif vtype == V_STR:
        out += s_bytes(value)
    elif vtype == V_ARR:
        out += struct.pack("<IQ", elem, len(value))
        if elem == V_STR:
            out += b"".join(s_bytes(v) for v in value)
        elif elem == V_I32:
            out += struct.pack("<%di" % len(value), *value)
        elif elem == V_F32:
            out += struct.pack("<%df" % len(value), *value)
    return out


def pack_tq2(codes, scale):
    """codes: int8 [rows, cols] in {-1,0,1}, cols % 256 == 0."""
    rows, cols = codes.shape
    assert cols % 256 == 0
    c = (codes.astype(np.int16) + 1).astype(np.uint8).reshape(rows, cols // 256, 2, 4, 32)
    q = (c[:, :, :, 0, :] | (c[:, :, :, 1, :] << 2) | (c[:, :, :, 2, :] << 4) |
         (c[:, :, :, 3, :] << 6)).reshape(rows, cols // 256, 64)
    d = np.full((rows, cols // 256, 1), scale, dtype=np.float16).view(np.uint8).reshape(
        rows, cols // 256, 2)
    return np.concatenate([q, d], axis=2).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="training output directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="aria-web-6m")
    ap.add_argument("--ctx", type=int, default=0,
                    help="context length to declare (default: the training window); RoPE "
                         "extends past it, quality beyond the training window drops")
    a = ap.parse_args()
    ck = torch.load(os.path.join(a.run, "ckpt.pt"))
    cfg = Config(**{k: v for k, v in ck["cfg"].items() if k != "head_dim"})
    model = BitNet(cfg)
    model.load_state_dict(ck["model"])
    with open(os.path.join(a.run, "tokenizer.json")) as f:
        tj = json.load(f)
    tokens, merges = tj["tokens"], tj["merges"]
    w = export_weights(model)

    types = [3 if t.startswith("<|") and t.endswith("|>") else 1 for t in tokens]
    meta = [
        kv("general.architecture", V_STR, ARCH),
        kv("general.name", V_STR, a.name),
        kv("general.license", V_STR, "Public Domain training text (World English Bible); "
                                      "weights: same terms as the ARIA repository"),
        kv(ARCH + ".block_count", V_U32, cfg.layers),
        kv(ARCH + ".context_length", V_U32, a.ctx or cfg.ctx),
        kv(ARCH + ".embedding_length", V_U32, cfg.dim),
        kv(ARCH + ".feed_forward_length", V_U32, cfg.ff),
        kv(ARCH + ".attention.head_count", V_U32, cfg.heads),
        kv(ARCH + ".attention.head_count_kv", V_U32, cfg.kv_heads),
        kv(ARCH + ".rope.freq_base", V_F32, cfg.rope_theta),
        kv(ARCH + ".rope.dimension_count", V_U32, cfg.head_dim),
        kv(ARCH + ".attention.layer_norm_rms_epsilon", V_F32, cfg.eps),
        kv(ARCH + ".vocab_size", V_U32, cfg.vocab),
        kv("tokenizer.ggml.model", V_STR, "gpt2"),
        kv("tokenizer.ggml.pre", V_STR, "gpt-2"),
        kv("tokenizer.ggml.tokens", V_ARR, tokens, V_STR),
        kv("tokenizer.ggml.token_type", V_ARR, types, V_I32),
        kv("tokenizer.ggml.merges", V_ARR, [x + " " + y for x, y in merges], V_STR),
        kv("tokenizer.ggml.bos_token_id", V_U32, tokens.index("<|begin_of_text|>")),
        kv("tokenizer.ggml.eos_token_id", V_U32, tokens.index("<|end_of_text|>")),
        kv("tokenizer.ggml.eot_token_id", V_U32, tokens.index("<|eot_id|>")),
        kv("tokenizer.ggml.add_bos_token", V_BOOL, True),
        kv("tokenizer.ggml.add_eos_token", V_BOOL, False),
    ]
    tensors = []  # (name, ne list, type, bytes)
    for name, val in w.items():
        if isinstance(val, tuple):
            codes, scale = val
            arr = codes.numpy()
            tensors.append((name, [arr.shape[1], arr.shape[0]], T_TQ2_0, pack_tq2(arr, scale)))
        elif name == "token_embd.weight":
            arr = val.numpy().astype(np.float16)
            tensors.append((name, [arr.shape[1], arr.shape[0]], T_F16, arr.tobytes()))
        else:
            arr = val.numpy().astype(np.float32)
            tensors.append((name, [arr.shape[0]], T_F32, arr.tobytes()))
    infos, offset = b"", 0
    for name, ne, t, data in tensors:
        infos += s_bytes(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        infos += struct.pack("<IQ", t, offset)
        offset += (len(data) + ALIGN - 1) // ALIGN * ALIGN
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + infos
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        f.write(b"\0" * ((-len(head)) % ALIGN))
        for _, _, _, data in tensors:
            f.write(data)
            f.write(b"\0" * ((-len(data)) % ALIGN))
    os.replace(tmp, a.out)
    print("wrote %s: %d tensors, %d bytes" % (a.out, len(tensors), os.path.getsize(a.out)))


if __name__ == "__main__":
    main()
