// Runs a plan of MCP operations with the official TypeScript SDK over Streamable HTTP and prints
// what came back. Usage: node ts_client.mjs PLAN_JSON with
//   {"url": ..., "key": ..., "client_name": ..., "ops": [{"op": "list_tools"} | {"op": "call", "name": ..., "args": {...}}]}
// Prints one JSON object: {"server": ..., "results": [...]}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const plan = JSON.parse(process.argv[2]);
const transport = new StreamableHTTPClientTransport(new URL(plan.url), {
  requestInit: { headers: { Authorization: `Bearer ${plan.key}` } },
});
const client = new Client({ name: plan.client_name, version: "1.0.0" });
await client.connect(transport);
const results = [];
for (const op of plan.ops) {
  if (op.op === "list_tools") {
    results.push((await client.listTools()).tools);
  } else {
    results.push(await client.callTool({ name: op.name, arguments: op.args ?? {} }));
  }
}
const server = { serverInfo: client.getServerVersion(), instructions: client.getInstructions() };
await client.close();
console.log(JSON.stringify({ server, results }));
