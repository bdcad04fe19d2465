#!/usr/bin/env python3
"""Records crates/inference/tests/fixtures/tokens.json: strings and the token ids llama.cpp's own
tokenizer gives them with the demo GGUF file, through llama-server's /tokenize endpoint
(add_special false). The engines' tokenisation test compares against it.

Usage: scripts/record-token-fixture.py LLAMA_SERVER_BINARY MODEL.gguf
(scripts/build-llama-server.sh prints the binary's path.)"""

import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

STRINGS = [
    "How long does delivery take?",
    "  Can I return my Aura headphones after 30 days?\n",
    "Hello, World! It's 9:30 a.m. — isn't it?",
    "我想退货，运费是多少？",
    "请问发货需要多长时间",
    "Thanks 🙏🏽 that helped a lot 👍",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}",
    "SELECT id, name FROM orders WHERE total > 49.90;",
    "Crème brûlée für zwölf Personen",
    "tabs\tand   spaces\r\nand CRLF",
    "1234567890 3.14159 €4.90",
]


def main():
    server, model = sys.argv[1], sys.argv[2]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", "1", "-c", "512"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health") as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        cases = []
        for text in STRINGS:
            body = json.dumps({"content": text, "add_special": False, "parse_special": False}).encode()
            req = urllib.request.Request(base + "/tokenize", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                cases.append({"text": text, "ids": json.load(r)["tokens"]})
    finally:
        proc.terminate()
        proc.wait()
    out = pathlib.Path(__file__).resolve().parent.parent / "crates/inference/tests/fixtures/tokens.json"
    out.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
