"""Byte-level BPE: training and encoding, our own implementation.

Pre-tokenization is GPT-2's regex (the engine's `gpt2`/"default"
pre-tokenizer), bytes are mapped to printable characters with GPT-2's
bytes-to-unicode table, and merges are learned greedily by pair frequency
(ties broken by the pair's text, so training is deterministic).
"""
import collections

import regex

GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable chars."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}


def pretokenize(text):
    return GPT2_SPLIT.findall(text)


def word_symbols(word):
    return tuple(B2U[b] for b in word.encode("utf-8"))


def train(text, vocab_size, specials):
    """Returns (tokens, merges): tokens[i] is the id-i token text in the
    byte-level alphabet; merges are (left, right) pairs in rank order."""
    counts = collections.Counter(pretokenize(text))
    words = {}
    for w, c in counts.items():
        sym = word_symbols(w)
        words[sym] = words.get(sym, 0) + c
    words = [[list(sym), c] for sym, c in words.items()]
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, (sym, c) in enumerate(words):
        for a, b in zip(sym, sym[1:]):
            pairs[(a, b)] += c
            where[(a, b)].add(i)
    base = [B2U[b] for b in range(256)]
    n_merges = vocab_size - len(base) - len(specials)
    merges = []
    for _ in range(n_merges):
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        new = a + b
        for i in list(where[best]):
            sym, c = words[i]
            j = 0
            changed = False
            out = []
            while j < len(sym):
                if j + 1 < len(sym) and sym[j] == a and sym[j + 1] == b:
                    out.append(new)
                    j += 2
                    changed = True
                else:
                    out.append(sym[j])
                    j += 1
            if not changed:
                continue
            for p in zip(sym, sym[1:]):
                pairs[p] -= c
                if pairs[p] <= 0:
                    del pairs[p]
                where[p].discard(i)
            for p in zip(out, out[1:]):
                pairs[p] += c
                where[p].add(i)
            words[i][0] = out
        pairs.pop(best, None)
        where.pop(best, None)
    tokens = base + [a + b for a, b in merges] + list(specials)
    return tokens, merges


class Encoder:
    def __init__(self, tokens, merges):
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.rank = {m: r for r, m in enumerate(merges)}
        self.cache = {}

    def encode_word(self, word):
        got = self.cache.get(word)
        if got is not None:
            return got
        sym = list(word_symbols(word))
        while len(sym) > 1:
            best = None
            for k in range(len(sym) - 1):
                r = self.rank.get((sym[k], sym[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            k = best[1]
            sym[k:k + 2] = [sym[k] + sym[k + 1]]
        ids = [self.ids[s] for s in sym]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        out = []
        for w in pretokenize(text):
            out.extend(self.encode_word(w))
        return out

    def decode(self, ids, tokens):
        s = "".join(tokens[i] for i in ids)
        return bytes(U2B[ch] for ch in s if ch in U2B).decode("utf-8", errors="replace")
