"""Drives Frontdesk's OpenAI-compatible API with the official `openai` client.

Usage: openai_client.py BASE_URL API_KEY. Prints one line per check and exits non-zero on the
first failure. tests/tests/openai.rs runs it against the real server.
"""
import sys

import openai
from openai import OpenAI

base_url, key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=120)

models = [m.id for m in client.models.list()]
assert models, "no model listed"
print("models:", models)

question = [{"role": "user", "content": "What are your opening hours?"}]
completion = client.chat.completions.create(model=models[0], messages=question)
text = completion.choices[0].message.content
assert "Monday to Saturday" in text, text
sources = completion.model_extra.get("sources")
assert sources and sources[0]["document_id"] == "store.csv", sources
print("complete answer:", text.replace("\n", " "))
print("sources:", [s["title"] for s in sources])

pieces, last = [], None
for chunk in client.chat.completions.create(model=models[0], messages=question, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    last = chunk
streamed = "".join(pieces)
assert len(pieces) > 1, f"expected several chunks, got {len(pieces)}"
assert streamed == text, (streamed, text)
assert last.choices[0].finish_reason == "stop"
assert last.model_extra.get("sources"), "the last chunk carries the sources"
print(f"streamed in {len(pieces)} chunks, same text")

# Frontdesk's own field picks the answer mode for one request: the model writes this one,
# instead of the curated text the server's `auto` mode sends.
generated = client.chat.completions.create(
    model=models[0], messages=question, extra_body={"answer_mode": "generative"}
)
generated_text = generated.choices[0].message.content
assert generated_text and not generated_text.startswith("Here is what our FAQ says"), generated_text
assert generated.usage is None or generated.usage.completion_tokens > 0
print("answer_mode generative:", generated_text.replace("\n", " ")[:100])

declined = client.chat.completions.create(
    model=models[0], messages=[{"role": "user", "content": "Can you recommend a good pizza recipe?"}]
)
assert "connect you with a member of our support team" in declined.choices[0].message.content
assert declined.model_extra.get("sources") == []
print("out of scope: declined with the offer of a person")

try:
    OpenAI(base_url=base_url, api_key="wrong-key-0123456789", max_retries=0).models.list()
except openai.AuthenticationError as error:
    print("wrong key:", error.status_code)
else:
    raise AssertionError("a wrong key was accepted")
print("ok")
