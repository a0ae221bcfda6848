"""A local OpenAI-compatible chat-completions server for the tests.

It plays a model that calls the `figures` tool with the JSON written in the
user's question after `TOOL:`, then answers with the tool's result. A
question containing `SLOW` is answered after 5 s, one containing `FAIL`
with status 500. Every request is appended to the log file (the first
argument) as one JSON line: path, authorization header, body. The port is
printed on the first line of stdout.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]


class Model(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with open(LOG, "a", encoding="utf-8") as log:
            entry = {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
            log.write(json.dumps(entry) + "\n")
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "not found"}})
        messages = body["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        if "FAIL" in question:
            return self.reply(500, {"error": {"message": "the model is down"}})
        if "SLOW" in question:
            time.sleep(5)
        last = messages[-1]
        if last["role"] == "tool":
            result = json.loads(last["content"])
            text = result.get("answer") or "error: " + result.get("error", "")
            return self.reply(200, message({"content": "From your figures: " + text}))
        if "TOOL:" in question:
            arguments = question.split("TOOL:", 1)[1].strip()
            call = {"id": "call_1", "type": "function", "function": {"name": "figures", "arguments": arguments}}
            return self.reply(200, message({"content": None, "tool_calls": [call]}))
        return self.reply(200, message({"content": "I can only talk about your figures."}))

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def message(fields):
    return {"id": "chatcmpl-test", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **fields}}]}


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    print(server.server_address[1], flush=True)
    server.serve_forever()
