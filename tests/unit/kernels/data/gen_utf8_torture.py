#!/usr/bin/python3
"""Generate utf8_torture.txt: the tokenizer round-trip corpus.

One case per line, UTF-8, with \\n, \\r, \\t, \\0 and \\\\ escaped (the test
unescapes). Every case is valid UTF-8. Cases cover every script block we
could think of, emoji with skin tones / ZWJ / flags / keycaps, combining
marks (stacked, Zalgo), the UTF-8 length boundaries (U+007F/0080, 07FF/0800,
FFFF/10000, 10FFFF), noncharacters, BOM, bidi controls, whitespace runs of
every White_Space code point, digits of many scripts, contractions, and
long repetitive runs. Deterministic: run

    /usr/bin/python3 tests/unit/kernels/data/gen_utf8_torture.py > tests/unit/kernels/data/utf8_torture.txt
"""
import random

cases = []
add = cases.append

# Scripts.
for s in [
    "Hello, World!", "The quick brown fox jumps over the lazy dog.",
    "Grüße aus Köln, Straße ß ẞ", "Ελληνικά: Καλημέρα κόσμε", "Русский: Съешь же ещё этих мягких французских булок",
    "Українська: ґ є і ї", "Српски: Ђ Ћ Џ", "עברית: שלום עולם", "العربية: مرحبا بالعالم ١٢٣",
    "فارسی: سلام دنیا ۱۲۳", "हिन्दी: नमस्ते दुनिया १२३", "বাংলা: ওহে বিশ্ব", "தமிழ்: வணக்கம் உலகம்",
    "తెలుగు: హలో ప్రపంచం", "ไทย: สวัสดีชาวโลก ๑๒๓", "ລາວ: ສະບາຍດີ", "ភាសាខ្មែរ: សួស្តីពិភពលោក",
    "မြန်မာ: မင်္ဂလာပါ", "ქართული: გამარჯობა", "Հայերեն: Բարեւ աշխարհ", "አማርኛ: ሰላም ልዑል",
    "中文：你好，世界！", "繁體中文：妳好，世界。", "日本語：こんにちは世界、カタカナ、ｶﾀｶﾅ", "한국어: 안녕하세요 세계",
    "Tiếng Việt: Xin chào thế giới", "Türkçe: İstanbul ığdır", "Polski: Zażółć gęślą jaźń",
    "Čeština: Příliš žluťoučký kůň", "Íslenska: Þórður ðæ", "Norsk: Æ Ø Å", "Română: ș ț ă",
    "ᚠᛇᚻ᛫ᛒᛦᚦ runes", "𐌰𐌱𐌲 Gothic", "𓀀𓀁𓀂 hieroglyphs", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝒜𝒷𝒸", "ᐃᓄᒃᑎᑐᑦ syllabics",
    "ꦧꦱꦗꦮ Javanese", "ᠮᠣᠩᠭᠣᠯ Mongolian", "ⴰⵣⵓⵍ Tifinagh", "ߒߞߏ N'Ko", "ܣܘܪܝܝܐ Syriac",
    "ދިވެހި Thaana", "ᏣᎳᎩ Cherokee", "ꆈꌠ Yi", "𖹀 Medefaidrin", "Ω≈ç√∫˜µ≤≥÷",
]:
    add(s)

# Digits and numbers.
for s in ["0", "12", "123", "1234", "12345", "1234567890123", "3.14159", "1,234,567.89", "-42", "+7e-10",
          "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "০১২৩", "๐๑๒๓", "０１２３４", "①②③ ⅠⅡⅢⅣ ½¼¾ ²³¹",
          "𝟎𝟏𝟐𝟑", "2024-03-15T12:34:56Z", "IPv6 ::1 fe80::1%eth0", "0x7fffffff 0b1010 0o777",
          "$9.99 €10,50 £3 ¥1000 ₹500 ₿0.001"]:
    add(s)

# Contractions (both cases), quotes and apostrophes.
for s in ["it's don't we're you've I'm we'll he'd", "IT'S DON'T WE'RE YOU'VE I'M WE'LL HE'D",
          "It'S dOn'T", "'s 't 're 've 'm 'll 'd", "''''", "rock 'n' roll", "‘quoted’ “double” «guillemets» „low“",
          "O'Neil's", "l'été d'Émile"]:
    add(s)

# Emoji.
for s in ["😀😃😄😁", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 🏴‍☠️", "🇫🇷🇩🇪🇯🇵🇺🇸", "1️⃣ #️⃣ *️⃣",
          "❤️ ❤︎ ♥", "🧑🏽‍💻 coder", "🫠🫡🫥", "👩🏾‍❤️‍💋‍👨🏻", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence"]:
    add(s)

# Combining marks.
for s in ["e\u0301 vs é", "a\u0300\u0301\u0302\u0303\u0304\u0305", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
          "\u0301 leading combining mark", "ñ n\u0303", "क्षत्रिय", "한\u1100\u1161\u11a8 jamo", "ก\u0e49\u0e4a\u0e4b", "ḁ̴̡̛̹"]:
    add(s)

# UTF-8 boundaries and oddities (all valid).
for cps in [[0x7F], [0x80], [0x7FF], [0x800], [0xFFFF], [0xFFFE], [0x10000], [0x10FFFF], [0xFEFF],
            [0xFDD0, 0xFDEF], [0x1FFFE], [0x200B, 0x200C, 0x200D], [0x202E, 0x61, 0x62, 0x202C],
            [0x2066, 0x31, 0x2069], [0xE000, 0xF8FF], [0xF0000, 0x10FFFD], [0x1], [0x1F], [0x7],
            [0x1B, 0x5B, 0x33, 0x31, 0x6D], [0xFFFD], [0xD7FF], [0xE000], [0x2028], [0x2029]]:
    add("".join(chr(c) for c in cps))
add("x" + "".join(chr(c) for c in range(0x20, 0x7F)))
add("".join(chr(c) for c in range(0xA0, 0x180)))
add("".join(chr(c) for c in range(0x370, 0x400) if c not in range(0x378, 0x37A)))

# Whitespace.
ws = [chr(c) for c in [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) +
      [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]]
for s in [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "a  b", "a   b", "a\t\tb", "a \n b",
          "  leading", "trailing  ", "\n\nparagraph\n\n", "a\r\n\r\nb", "x \t \n \r y", "\u00a0nbsp\u00a0",
          "ideographic\u3000space", " " * 40, "\n" * 9, "\t \t \t", "end\n"]:
    add(s)
add("".join(ws))
add("w" + "w".join(ws) + "w")

# Punctuation and code.
for s in ["!!!???...,,,;;;:::", "<html><body class=\"x\">&amp;</body></html>", "if (a && b || !c) { return x->y[0]; }",
          "def f(x):\n    return x ** 2  # square", "SELECT * FROM t WHERE id = 'x';", "C:\\Users\\name\\file.txt",
          "https://example.com/path?q=1&r=%20#frag", "user@example.org", "@@ -1,3 +1,4 @@", "<|not_a_special|>",
          "<s> </s> <unk> [INST] <<SYS>>", "<0x41> <0xZZ>", "▁▁ lower block ▁", "~`^|\\/[]{}", "-- — – ‒ ― ‐",
          "…‥‧", "※†‡•◦‣⁂", "¿¡¡Hola!!", "«»‹›", "\"'\"'\"'", "(((((())))))", "a.b.c.d.e.f", "snake_case_name CamelCaseName kebab-case"]:
    add(s)

# Long and repetitive.
for s in ["a" * 300, "ab" * 150, "😀" * 60, "中" * 100, "1" * 100, " a" * 100, "!?" * 80, "\u0301" * 50, "é" * 120,
          "the " * 60, "Ü" * 64 + "ü" * 64]:
    add(s)

# Random mixes from a fixed seed.
pools = [
    "hello world the of and to in is you that it he was for on are as with his they I at be this have from".split(),
    ["Straße", "naïve", "façade", "Ærøskøbing", "Œuvre", "İzmir", "ǅemal", "ﬁne", "ﬀ", "Ⅻ", "ℌ", "K", "Å"],
    ["東京", "北京", "大阪", "서울", "ひらがな", "カタカナ", "漢字", "𠀋", "𪚥", "鿿"],
    ["😀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "✓", "✔️", "☃", "★", "♫", "⚡"],
    ["0", "7", "42", "1984", "3.5", "100000", "٣", "५", "Ⅷ", "½"],
    [" ", "  ", "\t", "\n", "\r\n", " \n", "\u00a0", "\u3000"],
    [",", ".", "!", "?", ";", ":", "'s", "'ll", "'VE", "—", "(", ")", "\"", "…", "#", "%", "&", "*"],
]
rng = random.Random(20261124)
for _ in range(250):
    k = rng.randint(1, 12)
    add("".join(rng.choice(rng.choice(pools)) for _ in range(k)))


def esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t").replace("\0", "\\0")


for c in cases:
    c.encode("utf-8")  # must be valid
    print(esc(c))
