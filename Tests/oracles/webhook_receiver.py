"""A loopback webhook receiver for tests: saves each POST body as <dir>/<n>.json and answers 200.

usage: webhook_receiver.py PORT DIR [STATUS...]
PORT 0 takes a free port; the port listened on is printed as "listening on 127.0.0.1:PORT" once the
socket is bound (tests read it there instead of racing other tests for a "free" port).
With STATUS codes, the n-th POST is answered with the n-th code (the last one repeats); a 429 carries
Retry-After: 7.
"""
import http.server
import os
import sys

port, folder = int(sys.argv[1]), sys.argv[2]
statuses = [int(code) for code in sys.argv[3:]] or [200]
os.makedirs(folder, exist_ok=True)


class Handler(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.count += 1
        with open(os.path.join(folder, f"{Handler.count:04d}.json"), "wb") as out:
            out.write(body)
        with open(os.path.join(folder, f"{Handler.count:04d}.key"), "w") as out:
            out.write(self.headers.get("Idempotency-Key", ""))
        status = statuses[min(Handler.count, len(statuses)) - 1]
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self):
        # A heartbeat: counted as <dir>/beat-<n>.
        Handler.beats = getattr(Handler, "beats", 0) + 1
        open(os.path.join(folder, f"beat-{Handler.beats:04d}"), "w").close()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
