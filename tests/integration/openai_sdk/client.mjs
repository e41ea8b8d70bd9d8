// client.mjs BASE_URL OPENAI_MODULE — drives the node with the OpenAI SDK.
import assert from "node:assert/strict";

const [base, mod] = process.argv.slice(2);
const { default: OpenAI } = await import(mod);
const client = new OpenAI({ baseURL: base, apiKey: "not-needed-locally", maxRetries: 0 });

const models = await client.models.list();
const id = models.data[0].id;
assert.equal(models.data[0].object, "model");

// stream: false
const r = await client.chat.completions.create({
  model: id, messages: [{ role: "user", content: "Say something." }],
  max_tokens: 16, temperature: 0,
});
assert.equal(r.object, "chat.completion");
assert.equal(r.choices[0].message.role, "assistant");
assert.equal(typeof r.choices[0].message.content, "string");
assert.equal(r.usage.completion_tokens, 16);
if (process.env.EXPECT_PAID) {
  assert.ok(r.aria && r.aria.cost_micro > 0 && r.aria.provider.startsWith("tart1"),
            `not a paid network job: ${JSON.stringify(r.aria)}`);
}
console.log(`openai_sdk: non-streaming ok (${r.usage.completion_tokens} tokens` +
            (r.aria ? `, provider ${r.aria.provider}, cost ${r.aria.cost_micro})` : ")"));

// stream: true — chunks must arrive while the model generates
const t0 = performance.now();
const stream = await client.chat.completions.create({
  model: id, messages: [{ role: "user", content: "Tell me a story." }],
  max_tokens: 48, temperature: 0.7, seed: 1, stream: true,
});
const times = [];
let text = "", finish = null, role = null;
for await (const chunk of stream) {
  assert.equal(chunk.object, "chat.completion.chunk");
  const d = chunk.choices[0].delta;
  if (d.role) role = d.role;
  if (d.content) { text += d.content; times.push(performance.now() - t0); }
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
const total = performance.now() - t0;
assert.equal(role, "assistant");
assert.equal(finish, "length");
assert.ok(times.length >= 4, `only ${times.length} content chunks`);
const spread = times[times.length - 1] - times[0];
console.log(`openai_sdk: streaming ok: ${times.length} chunks, first at ${times[0].toFixed(1)} ms, ` +
            `last at ${times[times.length - 1].toFixed(1)} ms, total ${total.toFixed(1)} ms`);
// tokens arrived over the generation, not in one burst at the end
assert.ok(spread > 0.3 * (total - times[0]) && spread > 5,
          `chunks arrived in a burst: spread ${spread.toFixed(1)} ms of ${total.toFixed(1)} ms`);
