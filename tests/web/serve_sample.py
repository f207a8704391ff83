#!/usr/bin/env python3
"""serve_sample.py PAGE_DIR CHART_JS PORT_FILE [DOWN_AFTER]

For the page test only: a loopback HTTP server for the live dashboard.
Serves PAGE_DIR (dashboard.html at /), CHART_JS as /chart.js, and
/api/state.json from make_sample_state.make_state(): the run's step starts at
20 and advances by 3 at every request, so two page loads see different steps.
With DOWN_AFTER = N >= 0, /api/state.json answers 503 from its (N+1)th
request on (to show the connection-lost banner). Binds 127.0.0.1 on a free port and writes the port
to PORT_FILE. Python 3 stdlib only.
"""
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_sample_state  # noqa: E402
import json  # noqa: E402

PAGE_DIR, CHART_JS, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
DOWN_AFTER = int(sys.argv[4]) if len(sys.argv) > 4 else -1
lock = threading.Lock()
counter = {"n": 0}


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=PAGE_DIR, **kw)

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/state.json":
            with lock:
                n = counter["n"]
                counter["n"] += 1
            if 0 <= DOWN_AFTER <= n:
                self._send(503, "text/plain", b"down\n")
                return
            step = 20 + 3 * n
            doc = make_sample_state.make_state(live_step=step)
            self._send(200, "application/json", json.dumps(doc).encode())
        elif path == "/chart.js":
            with open(CHART_JS, "rb") as f:
                self._send(200, "text/javascript", f.read())
        elif path == "/":
            with open(os.path.join(PAGE_DIR, "dashboard.html"), "rb") as f:
                self._send(200, "text/html; charset=utf-8", f.read())
        else:
            super().do_GET()


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
