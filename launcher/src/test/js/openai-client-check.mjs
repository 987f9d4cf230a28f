// Calls the gateway with OpenAI's official Node client (npm "openai"): a completion, a chat completion,
// a streamed completion, the models list, an error and a batch of two requests (file upload, batch,
// its output file). Prints one JSON object of what came back.
// Usage: node openai-client-check.mjs BASE_URL API_KEY, from a folder whose node_modules has openai
import OpenAI, { toFile } from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: baseURL + "/v1", apiKey, maxRetries: 0 });
const out = {};

const c = await client.completions.create({ model: "legal", prompt: "The ", max_tokens: 6, temperature: 0 });
out.completion = { text: c.choices[0].text, finish: c.choices[0].finish_reason, usage: c.usage };

const chat = await client.chat.completions.create({
  model: "base",
  messages: [{ role: "user", content: "Say hello." }],
  max_tokens: 4,
  temperature: 0,
});
out.chat = { role: chat.choices[0].message.role, content: chat.choices[0].message.content, usage: chat.usage };

const stream = await client.completions.create({
  model: "legal", prompt: "The ", max_tokens: 6, temperature: 0, stream: true,
});
let streamed = "";
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  streamed += chunk.choices[0]?.text ?? "";
}
out.stream = { text: streamed, chunks };

const models = [];
for await (const m of client.models.list()) {
  models.push(m.id);
}
out.models = models;

try {
  await client.completions.create({ model: "no-such-adapter", prompt: "x", max_tokens: 1 });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, type: e.type ?? e.error?.type, code: e.code ?? e.error?.code };
}
const lines = [
  { custom_id: "one", method: "POST", url: "/v1/completions",
    body: { model: "legal", prompt: "The ", max_tokens: 6, temperature: 0 } },
  { custom_id: "two", method: "POST", url: "/v1/completions",
    body: { model: "no-such-adapter", prompt: "x", max_tokens: 1 } },
].map((l) => JSON.stringify(l)).join("\n");
const file = await client.files.create({
  file: await toFile(Buffer.from(lines), "batch.jsonl"),
  purpose: "batch",
});
let batch = await client.batches.create({
  input_file_id: file.id, endpoint: "/v1/completions", completion_window: "24h",
});
const until = Date.now() + 60_000;
while (!["completed", "failed", "expired", "cancelled"].includes(batch.status) && Date.now() < until) {
  await new Promise((r) => setTimeout(r, 100));
  batch = await client.batches.retrieve(batch.id);
}
const output = await (await client.files.content(batch.output_file_id)).text();
const errors = await (await client.files.content(batch.error_file_id)).text();
out.batch = {
  status: batch.status,
  counts: batch.request_counts,
  output: output.trim().split("\n").map((l) => JSON.parse(l)),
  errors: errors.trim().split("\n").map((l) => JSON.parse(l)),
};
console.log(JSON.stringify(out));
