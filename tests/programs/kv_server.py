"""A Python service on the standard library's http.server, unmodified for
the tests: gtest_fork_env's checkpoint library (Options::preload_checkpoint)
makes it a template when it first waits for a connection. The routes are
the per_test_scope scenario's, plus what the preload tests look at.

  kv_server.py --port N [--warmup-file PATH] [--warmup-entries N]
               [--thread-before-checkpoint] [--threading] [--marker M]
               [--fork-per-line]

--fork-per-line is bench/program_clone_bench's floor: for each line on
stdin the warm process forks a child that answers one request and exits,
reaps it and writes "reaped" on stdout.
"""

import argparse
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.parse

state = {"value": "unset"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes

    def reply(self, body, status=200):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/value":
            self.reply(state["value"])
        elif url.path == "/set":
            state["value"] = query.get("to", [""])[0]
            self.reply(state["value"])
        elif url.path == "/pid":
            self.reply(str(os.getpid()))
        elif url.path == "/crash":
            print("crashing as asked", flush=True)
            os.abort()
        elif url.path == "/child-env":
            # What a program this clone runs finds in its environment.
            name = query.get("name", [""])[0]
            seen = subprocess.run(["/usr/bin/printenv", name], capture_output=True, text=True)
            self.reply(seen.stdout.strip() if seen.returncode == 0 else "<unset>")
        elif url.path == "/cwd":
            self.reply(os.getcwd())
        elif url.path == "/threads":
            self.reply(str(len(os.listdir("/proc/self/task"))))
        else:
            self.reply("no such route", 404)

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--warmup-file")
    parser.add_argument("--warmup-entries", type=int, default=0)
    parser.add_argument("--thread-before-checkpoint", action="store_true")
    parser.add_argument("--threading", action="store_true")
    parser.add_argument("--marker", help="ignored: lets a test find this process")
    parser.add_argument("--fork-per-line", action="store_true")
    args = parser.parse_args()
    if args.warmup_file:
        with open(args.warmup_file, "a") as counter:
            counter.write("%d\n" % os.getpid())
    state["table"] = {i: str(i) for i in range(args.warmup_entries)}
    if args.thread_before_checkpoint:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    server_class = http.server.ThreadingHTTPServer if args.threading else http.server.HTTPServer
    server = server_class(("127.0.0.1", args.port), Handler)
    print("listening on port %d" % args.port, flush=True)
    if args.fork_per_line:
        fork_per_line(server)
    else:
        server.serve_forever()


def fork_per_line(server):
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:
            server.handle_request()
            os._exit(0)
        os.waitpid(pid, 0)
        print("reaped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
