"""A complete image function in one file: the runtime protocol over the unix
socket Brisk names in BRISK_RUNTIME_SOCKET, with http.server (a thread per
connection: the executor keeps one connection open and probes /healthz on
another)."""
import json
import os
import socketserver
import time
from http.server import BaseHTTPRequestHandler

loaded = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the executor reuses its connection

    def log_message(self, *args):  # no access log on stderr
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        self.reply(404, {"error": {"code": "NOT_FOUND", "message": self.path}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path == "/init":
            if loaded:
                return self.reply(409, {"error": {"code": "ALREADY_INITIALIZED", "message": "initialised once only"}})
            loaded.update(name=body["name"], version=body["version"])
            return self.reply(200, {"ok": True})
        if self.path == "/run":
            if not loaded:
                return self.reply(400, {"error": {"code": "NOT_INITIALIZED", "message": "no /init yet"}})
            t0 = time.perf_counter()
            event = json.loads(body["payload"] or "{}")
            if event.get("fail"):
                error = {"errorType": "EchoError", "errorMessage": "asked to fail"}
                return self.reply(200, {"ok": False, "error": error, "logs": ["failing"], "logsTruncated": False, "durationMs": 0})
            result = {"echo": event, "function": loaded["name"], "activationId": body["activationId"], "from": "python-echo image"}
            ms = (time.perf_counter() - t0) * 1000
            return self.reply(200, {"ok": True, "resultJson": json.dumps(result), "logs": ["echoed"], "logsTruncated": False, "durationMs": ms})
        self.reply(404, {"error": {"code": "NOT_FOUND", "message": self.path}})


path = os.environ["BRISK_RUNTIME_SOCKET"]
if os.path.exists(path):
    os.unlink(path)
with socketserver.ThreadingUnixStreamServer(path, Handler) as server:
    os.chmod(path, 0o666)
    server.serve_forever()
