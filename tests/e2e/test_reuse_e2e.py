"""Work is not done twice, across processes, on the SmolLM2 pack: a second question
about the same chunk restores the model state after the chunk from disk, and a
repeated deterministic call is answered from the response cache without the model.

Each process inherits this test's fresh, empty cache folders (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHUNK = (ROOT / "examples" / "3m-2018-10k-pages-45-64.txt").read_text(encoding="utf-8")[:2000]

ASK = """
import json, sys
from minions import get_client
from minions.clients import llamacpp
from minions.types import Message

chunk, question = sys.stdin.read(), sys.argv[1]
client = get_client("llamacpp:smollm2-135m", cache=True)
reply = client.chat_sync(
    [Message.system("You answer questions about a document."),
     Message.user(f"{chunk}\\n---\\nTask: {question}")],
    max_tokens=24, temperature=0.0,
)
print(json.dumps({"usage": reply.usage.model_dump(), "text": reply.text,
                  "loaded": bool(llamacpp._shared)}))
"""


def ask(question: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", ASK, question],
        input=CHUNK,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def evaluated(usage: dict) -> int:
    return usage["input_tokens"] - usage["cached_input_tokens"]


def test_a_second_process_reads_only_the_new_question_and_a_repeat_not_at_all(
    _fresh_caches: Path,
) -> None:
    first = ask("What were the net sales?")
    second = ask("Which segments are reported?")

    assert first["usage"]["input_tokens"] > 400
    assert evaluated(first["usage"]) == first["usage"]["input_tokens"]  # nothing to reuse
    # the chunk's state came from the first process; only the question was read
    assert evaluated(second["usage"]) < 0.1 * evaluated(first["usage"])
    assert second["usage"]["cached_input_tokens"] > 0.9 * second["usage"]["input_tokens"]
    assert (_fresh_caches / "llama-states" / "states.sqlite").is_file()

    again = ask("What were the net sales?")
    assert again["text"] == first["text"]
    assert again["usage"]["cache_hits"] == 1 and again["usage"]["input_tokens"] == 0
    assert again["usage"]["cache_hit_input_tokens"] == first["usage"]["input_tokens"]
    assert not again["loaded"]  # answered without loading the model
