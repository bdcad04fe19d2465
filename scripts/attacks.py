#!/usr/bin/env python3
"""Replays the attacks of the hardening issue against a `frontdesk` binary, each on a fresh
server on loopback, and prints one line per attack: what happened and whether it was stopped.
Run it against two builds to compare them, e.g. an old commit's binary and today's:

    ~/.cache/frontdesk/venv/bin/python scripts/attacks.py BINARY [BINARY...]

ATTACKS=name,name runs only those.

Needs the `websockets` package (pip) and the models (scripts/fetch-model.sh). Not part of the
test command: the regression tests in the crates and tests/ check each fix; this shows the
attacks end to end on whole binaries.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

import websockets

ADMIN = "dev-admin-key-0123456789"
AGENT = "dev-agent-key-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, config="", keys=(ADMIN, AGENT)):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="attack-")
        path = os.path.join(self.dir, "frontdesk.toml")
        with open(path, "w") as f:
            f.write(config)
        args = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir,
                "--kb", os.path.join(ROOT, "tests/fixtures/kb"), "--embedding-model", "none",
                "--config", path, "--admin-key", keys[0], "--agent-key", keys[1]]
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                self.started = False
                return
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                self.started = True
                return
            except Exception:
                time.sleep(0.2)
        self.started = False

    def alive(self):
        return self.process.poll() is None

    def rss_peak_mb(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except OSError:
            return None

    def http(self, method, path, body=None, key=ADMIN, headers=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except Exception as error:  # the server went away
            return None, str(error).encode()

    def ws(self, headers=None):
        return websockets.connect(f"ws://127.0.0.1:{self.port}/v1/ws", additional_headers=headers or {},
                                  max_size=None, open_timeout=5)

    def stop(self):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def frame(socket, wait=5.0):
    return json.loads(await asyncio.wait_for(socket.recv(), wait))


async def until(socket, kinds, wait=20.0):
    while True:
        f = await frame(socket, wait)
        if f.get("type") in kinds:
            return f


async def deep_html(binary):
    server = Server(binary)
    page = "<main><h2>Deep?</h2>" + "<div>" * 32_000 + "x" + "</div>" * 32_000 + "</main>"
    status, _ = server.http("POST", "/api/v1/documents?name=deep.html", page.encode())
    time.sleep(0.5)
    alive = server.alive()
    server.stop()
    return alive, f"a 160 KB page of nested tags: upload answered {status}, server {'up' if alive else 'DEAD'}"


async def long_history(binary):
    server = Server(binary, "messages_per_conversation_burst = 1000\n")
    async with server.ws() as s:
        await s.send(json.dumps({"type": "hello"}))
        welcome = await frame(s)
        # Declined at first, the conversation then waits for a person: each message is only
        # acknowledged.
        for n in range(70):
            await s.send(json.dumps({"type": "message", "id": f"m{n}", "text": f"{n} " + "x" * 1_200}))
            await until(s, {"ack", "error"})
    try:
        async with server.ws() as s:
            await s.send(json.dumps({"type": "hello", "token": welcome["token"]}))
            again = await frame(s, 5)
            ok = again.get("type") == "welcome"
            what = f"welcome with {len(again.get('messages', []))} messages" if ok else str(again)[:60]
    except Exception as error:
        ok, what = False, f"no welcome ({type(error).__name__})"
    server.stop()
    return ok, f"resuming a conversation of ~85 KB: {what}"


async def placeholder_key(binary):
    server = Server(binary, keys=("replace-with-a-long-random-admin-key", AGENT))
    if not server.started:
        server.stop()
        return True, "a placeholder admin key: the server refused to start"
    status, _ = server.http("GET", "/api/v1/documents", key="replace-with-a-long-random-admin-key")
    server.stop()
    return status != 200, f"a placeholder admin key: server started, /api/v1/documents answered {status}"


async def forwarded_for(binary):
    server = Server(binary, "trust_forwarded_for = true\n")
    opened = 0
    sockets = []
    for n in range(40):
        try:
            s = await server.ws({"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.7"}).__aenter__()
            sockets.append(s)
            opened += 1
        except Exception:
            pass
    for s in sockets:
        await s.close()
    server.stop()
    return opened <= 30, f"40 sockets rotating the client-written X-Forwarded-For entry: {opened} opened (limit 30)"


async def csv_formula(binary):
    server = Server(binary)
    async with server.ws() as s:
        await s.send(json.dumps({"type": "hello"}))
        welcome = await frame(s)
        await s.send(json.dumps({"type": "message", "id": "q", "text": '=HYPERLINK("http://evil.example","x")'}))
        await until(s, {"done", "error"})
    _, body = server.http("GET", f"/api/v1/conversations/{welcome['conversation_id']}/export?format=csv", key=AGENT)
    server.stop()
    live = b',=HYPERLINK' in body or b',"=HYPERLINK' in body
    return not live, f"a visitor's =HYPERLINK(...) in a CSV export: {'a live formula' if live else 'text'}"


async def claimed_visitor(binary):
    server = Server(binary)
    async with server.ws() as s:
        await s.send(json.dumps({"type": "hello", "visitor": {"id": "victim-0123456789", "attributes": {"plan": "Plus"}}}))
        welcome = await frame(s)
        victim = welcome.get("visitor_id", "victim-0123456789")
        await s.send(json.dumps({"type": "message", "id": "q", "text": "opening hours?"}))
        await until(s, {"done", "error"})
    async with server.ws() as s:
        await s.send(json.dumps({"type": "hello", "visitor": {"id": victim, "attributes": {"plan": "EVIL"}}}))
        await frame(s)
        await s.send(json.dumps({"type": "message", "id": "q", "text": "parcel?"}))
        await until(s, {"done", "error"})
    _, body = server.http("GET", f"/api/v1/visitors/{victim}")
    server.stop()
    export = json.loads(body or b"{}")
    plan = (export.get("profile") or {}).get("attributes", {}).get("plan")
    owned = len(export.get("conversations", []))
    return plan == "Plus" and owned == 1, f"claiming a victim's visitor id: their plan is {plan!r}, {owned} conversations in their export"


async def anonymous_queue(binary):
    server = Server(binary)
    for _ in range(25):
        async with server.ws() as s:
            await s.send(json.dumps({"type": "hello"}))
            await frame(s)
            await s.send(json.dumps({"type": "handoff"}))
            await frame(s)
    _, body = server.http("GET", "/api/v1/conversations?status=waiting", key=AGENT)
    server.stop()
    waiting = len(json.loads(body).get("conversations", []))
    return waiting == 0, f"25 anonymous hello + handoff: {waiting} entries in the agents' queue"


async def trickled_headers(binary):
    server = Server(binary)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    started = time.time()
    try:
        data = await asyncio.wait_for(reader.read(), 15)
        held = time.time() - started
        closed = True
    except asyncio.TimeoutError:
        held, closed, data = time.time() - started, False, b""
    writer.close()
    server.stop()
    what = f"closed after {held:.1f} s" if closed and not data else ("served" if data else f"still open after {held:.0f} s")
    return closed and not data, f"a request whose headers never end: {what}"


async def feedback_flood(binary):
    server = Server(binary)
    limited = 0
    async with server.ws() as s:
        await s.send(json.dumps({"type": "hello"}))
        await frame(s)
        for _ in range(30):
            await s.send(json.dumps({"type": "feedback", "message_id": "m", "value": "down"}))
        for _ in range(30):
            try:
                f = await frame(s, 2)
            except asyncio.TimeoutError:
                break
            limited += f.get("code") == "rate_limited"
    server.stop()
    return limited > 0, f"30 feedback frames at once: {limited} rate limited"


async def equal_headings(binary):
    server = Server(binary)
    text = "".join("## Same question\nAn answer.\n" for _ in range(16_000)).encode()
    started = time.time()
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/documents?name=same.md", data=text, method="POST")
    request.add_header("Authorization", f"Bearer {ADMIN}")
    try:
        status = urllib.request.urlopen(request, timeout=30).status
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception:
        status = None
    took = time.time() - started
    server.stop()
    return status is not None and took < 30, f"16,000 equal headings: answered {status} after {took:.1f} s"


def bomb_pdf():
    content = ("0 0 m 1 1 l S\n" * 4_681).encode()
    packed = zlib.compress(content, 9)
    refs = " ".join(["4 0 R"] * 1_100)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [{refs}] >>".encode(),
               f"<< /Length {len(packed)} /Filter /FlateDecode >>\nstream\n".encode() + packed + b"\nendstream"]
    pdf, offsets = b"%PDF-1.4\n", []
    for n, o in enumerate(objects):
        offsets.append(len(pdf))
        pdf += f"{n + 1} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(pdf)
    pdf += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    pdf += b"".join(f"{o:010} 00000 n \n".encode() for o in offsets)
    pdf += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return pdf


async def pdf_bomb(binary):
    server = Server(binary)
    before = server.rss_peak_mb()
    pdf = bomb_pdf()
    status, body = server.http("POST", "/api/v1/documents?name=bomb.pdf", pdf)
    after = server.rss_peak_mb()
    server.stop()
    grew = (after or 0) - (before or 0)
    return status == 400 and b"MiB" in body, f"a {len(pdf) // 1024} KB PDF inflating to 70 MB: answered {status}, peak memory +{grew} MB"


ATTACKS = [deep_html, long_history, placeholder_key, forwarded_for, csv_formula, claimed_visitor,
           anonymous_queue, trickled_headers, feedback_flood, pdf_bomb, equal_headings]


async def main():
    only = os.environ.get("ATTACKS")
    attacks = [a for a in ATTACKS if not only or a.__name__ in only.split(",")]
    for binary in sys.argv[1:]:
        print(f"== {binary}")
        for attack in attacks:
            try:
                stopped, what = await attack(binary)
            except Exception as error:
                stopped, what = False, f"{type(error).__name__}: {error}"
            print(f"{'stopped ' if stopped else 'NOT stopped'}  {attack.__name__:18} {what}")


asyncio.run(main())
