"""A BitNet b1.58 model in PyTorch, shaped like the engine's `bitnet-b1.58`
architecture (BitNet b1.58 2B-4T): RMSNorm, attention with GQA and NEOX
RoPE, attention sub-norm, ReLU^2 gated FFN with FFN sub-norm, tied
embedding.

Quantization-aware training as the BitNet b1.58 papers describe: in the
forward pass every projection uses ternary weights W_q = RoundClip(W /
mean|W|, -1, 1) * mean|W| and per-token absmax int8 activations
x_q = Clip(Round(x * 127 / max|x|), -127, 127) * max|x| / 127; gradients
pass straight through (STE).

`forward_exported` runs the same graph on exported weights (ternary codes,
per-tensor scales rounded as stored in the GGUF), which is the oracle the
engine is compared with.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, vocab=4096, dim=256, layers=6, heads=8, kv_heads=4, ff=768, ctx=256,
                 rope_theta=10000.0, eps=1e-5):
        self.vocab, self.dim, self.layers = vocab, dim, layers
        self.heads, self.kv_heads, self.ff, self.ctx = heads, kv_heads, ff, ctx
        self.rope_theta, self.eps = rope_theta, eps
        self.head_dim = dim // heads


def ternary_codes(w):
    """Absmean ternarization: codes in {-1, 0, 1} and the per-tensor scale."""
    scale = w.abs().mean().clamp(min=1e-5)
    return (w / scale).round().clamp(-1, 1), scale


def round_half_away(x):
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def act_quant(x):
    """Per-token absmax int8 (symmetric, [-127, 127], round half away from
    zero as the engine does), returned dequantized."""
    amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    s = 127.0 / amax
    return round_half_away(x * s).clamp(-127, 127) / s


def fast_linear(x, w):
    """x @ w.T through oneDNN: Debian's torch 1.13 runs plain matmul on a
    generic BLAS (~5 GFLOPS here) but 1x1 convolutions on oneDNN (~130)."""
    shp = x.shape
    y = F.conv1d(x.reshape(-1, shp[-2], shp[-1]).transpose(1, 2), w.unsqueeze(-1))
    return y.transpose(1, 2).reshape(*shp[:-1], w.shape[0])


class BitLinear(nn.Linear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        xq = x + (act_quant(x) - x).detach()
        codes, scale = ternary_codes(self.weight)
        wq = self.weight + (codes * scale - self.weight).detach()
        return fast_linear(xq, wq)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, n, device=None):
    half = cfg.head_dim // 2
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, half, dtype=torch.float64) * 2 / cfg.head_dim))
    t = torch.arange(n, dtype=torch.float64)
    ang = torch.outer(t, inv)
    return ang.cos().float().to(device), ang.sin().float().to(device)


def apply_rope(x, cos, sin):
    # NEOX style: pairs (i, i + head_dim/2). x: [B, H, T, D]
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg.dim, cfg.head_dim
        self.cfg = cfg
        self.attn_norm = RMSNorm(d, cfg.eps)
        self.wq = BitLinear(d, cfg.heads * hd)
        self.wk = BitLinear(d, cfg.kv_heads * hd)
        self.wv = BitLinear(d, cfg.kv_heads * hd)
        self.attn_sub_norm = RMSNorm(cfg.heads * hd, cfg.eps)
        self.wo = BitLinear(cfg.heads * hd, d)
        self.ffn_norm = RMSNorm(d, cfg.eps)
        self.w_gate = BitLinear(d, cfg.ff)
        self.w_up = BitLinear(d, cfg.ff)
        self.ffn_sub_norm = RMSNorm(cfg.ff, cfg.eps)
        self.w_down = BitLinear(cfg.ff, d)

    def forward(self, x, cos, sin):
        cfg = self.cfg
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, cfg.heads, cfg.head_dim).transpose(1, 2)
        k = self.wk(h).view(B, T, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        v = self.wv(h).view(B, T, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = cfg.heads // cfg.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1)
        a = att.masked_fill(mask, float("-inf")).softmax(-1) @ v
        a = a.transpose(1, 2).reshape(B, T, cfg.heads * cfg.head_dim)
        x = x + self.wo(self.attn_sub_norm(a))
        h = self.ffn_norm(x)
        f = F.relu(self.w_gate(h)).pow(2) * self.w_up(h)
        return x + self.w_down(self.ffn_sub_norm(f))


class BitNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.norm = RMSNorm(cfg.dim, cfg.eps)

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin = rope_tables(self.cfg, T, ids.device)
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, cos, sin)
        # tied head, float (the engine computes the F16 head in float)
        return fast_linear(self.norm(x), self.embed.weight)


# ---------------------------------------------------------------------------
# The exported model: what the GGUF holds, run as the engine runs it.
# ---------------------------------------------------------------------------

PROJ = [("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
        ("ffn_gate", "w_gate"), ("ffn_up", "w_up"), ("ffn_down", "w_down")]


def fp16_round(t):
    return t.to(torch.float16).to(torch.float32)


def export_weights(model):
    """Returns dict name -> tensor (float32 values exactly as the engine will
    see them) plus, for projections, the int8 codes and the fp16 scale."""
    out = {"token_embd.weight": fp16_round(model.embed.weight.detach().float()),
           "output_norm.weight": model.norm.weight.detach().float().clone()}
    for i, b in enumerate(model.blocks):
        p = "blk.%d." % i
        out[p + "attn_norm.weight"] = b.attn_norm.weight.detach().float().clone()
        out[p + "attn_sub_norm.weight"] = b.attn_sub_norm.weight.detach().float().clone()
        out[p + "ffn_norm.weight"] = b.ffn_norm.weight.detach().float().clone()
        out[p + "ffn_sub_norm.weight"] = b.ffn_sub_norm.weight.detach().float().clone()
        for gguf_name, attr in PROJ:
            codes, scale = ternary_codes(getattr(b, attr).weight.detach().float())
            s16 = float(fp16_round(scale.reshape(1))[0])
            out[p + gguf_name + ".weight"] = (codes.to(torch.int8), s16)
    return out


@torch.no_grad()
def forward_exported(w, cfg, ids):
    """Logits [T, vocab] for one sequence from exported weights, computed in
    float64 with the engine's quantization rules (int8 activations, ternary
    codes, fp16 per-block scales, float head)."""
    T = ids.shape[0]
    cos, sin = rope_tables(cfg, T)
    cos, sin = cos.double(), sin.double()

    def norm(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg.eps) * g.double()

    def proj(x, name):
        codes, s = w[name]
        amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-30)
        sc = 127.0 / amax
        q = round_half_away(x * sc).clamp(-127, 127)
        acc = q @ codes.double().t()  # exact integers
        return acc / sc * s

    x = w["token_embd.weight"].double()[ids]
    for i in range(cfg.layers):
        p = "blk.%d." % i
        h = norm(x, w[p + "attn_norm.weight"])
        q = proj(h, p + "attn_q.weight").view(T, cfg.heads, cfg.head_dim).transpose(0, 1)
        k = proj(h, p + "attn_k.weight").view(T, cfg.kv_heads, cfg.head_dim).transpose(0, 1)
        v = proj(h, p + "attn_v.weight").view(T, cfg.kv_heads, cfg.head_dim).transpose(0, 1)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = cfg.heads // cfg.kv_heads
        k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        att = q @ k.transpose(1, 2) / math.sqrt(cfg.head_dim)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        a = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, cfg.heads * cfg.head_dim)
        x = x + proj(norm(a, w[p + "attn_sub_norm.weight"]), p + "attn_output.weight")
        h = norm(x, w[p + "ffn_norm.weight"])
        f = torch.relu(proj(h, p + "ffn_gate.weight")).pow(2) * proj(h, p + "ffn_up.weight")
        x = x + proj(norm(f, w[p + "ffn_sub_norm.weight"]), p + "ffn_down.weight")
    x = norm(x, w["output_norm.weight"])
    return x @ w["token_embd.weight"].double().t()
