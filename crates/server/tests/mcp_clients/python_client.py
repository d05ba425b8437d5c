"""Runs a plan of MCP operations with the official Python SDK and prints what came back.

Usage: python_client.py PLAN_JSON, where the plan is
  {"transport": "http", "url": ..., "key": ..., "client_name": ..., "ops": [...]}
or
  {"transport": "stdio", "command": [...], "env": {...}, "client_name": ..., "ops": [...]}
and each op is {"op": "list_tools"}, {"op": "call", "name": ..., "args": {...}}, or
{"op": "wait_for", "path": ...}: the client writes PATH.waiting and waits until PATH exists (so a
test can restart the server between two calls of one session).
Prints one JSON object: {"server": ..., "results": [...]}; a call the server refuses with a
JSON-RPC error (an unknown tool) is {"jsonrpc_error": {"code": ..., "message": ...}} there.
"""

import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack

from mcp import ClientSession, MCPError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(plan):
    async with AsyncExitStack() as stack:
        if plan["transport"] == "http":
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {plan['key']}"})
            await stack.enter_async_context(http)
            streams = await stack.enter_async_context(streamable_http_client(plan["url"], http_client=http))
        else:
            command = plan["command"]
            params = StdioServerParameters(command=command[0], args=command[1:], env=plan.get("env"))
            streams = await stack.enter_async_context(stdio_client(params))
        read, write = streams[0], streams[1]
        info = types.Implementation(name=plan["client_name"], version="1.0.0")
        session = await stack.enter_async_context(ClientSession(read, write, client_info=info))
        init = await session.initialize()
        results = []
        for op in plan["ops"]:
            if op["op"] == "list_tools":
                listed = await session.list_tools()
                results.append([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools])
            elif op["op"] == "wait_for":
                open(op["path"] + ".waiting", "w").close()
                for _ in range(1200):
                    if os.path.exists(op["path"]):
                        break
                    await asyncio.sleep(0.1)
                results.append(None)
            else:
                try:
                    called = await session.call_tool(op["name"], op.get("args", {}))
                except MCPError as e:
                    results.append({"jsonrpc_error": {"code": e.error.code, "message": e.error.message}})
                    continue
                results.append(called.model_dump(mode="json", by_alias=True, exclude_none=True))
        return {"server": init.model_dump(mode="json", by_alias=True, exclude_none=True), "results": results}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
