// Calls the gateway with OpenAI's official Node client (npm "openai"): a completion, a chat completion,
// a streamed completion, the models list and an error. Prints one JSON object of what came back.
// Usage: node openai-client-check.mjs BASE_URL API_KEY, from a folder whose node_modules has openai
import OpenAI from "openai";

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
console.log(JSON.stringify(out));
