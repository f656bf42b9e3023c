"""Run one hostile program through ``minions.ask`` with scripted clients; print JSON.

    python run_attack.py NAME SECRET_FILE OUT_DIR PORT

It is started as its own process (as root, or as an unprivileged user from a
virtualenv of the system's Python) so that a test can check from outside that it
survived, and what the hostile code could reach. It prints what the local and remote
models were sent, so the test can look for the secrets there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attacks import ATTACKS

import minions
from minions.clients.scripted import ScriptedClient
from minions.documents import Document
from minions.types import Message

DOCUMENT = "Acme annual report. Total revenue was $4.2 billion in 2023.\fAuditor's report."


def main() -> None:
    name, secret_file, out_dir, port = sys.argv[1:5]
    code = (
        ATTACKS[name]
        .replace("SECRET_FILE", secret_file)
        .replace("OUT_DIR", out_dir)
        .replace("PORT", port)
    )
    sent: dict[str, list[str]] = {"local": [], "remote": []}

    def text(messages: list[Message]) -> str:
        return "\n".join(m.content for m in messages)

    def local_reply(messages: list[Message]) -> dict[str, object]:
        sent["local"].append(text(messages))
        return {"explanation": "not here", "citation": None, "answer": None}

    def remote_reply(messages: list[Message]) -> object:
        prompt = text(messages)
        sent["remote"].append(prompt)
        if "Write a Python function `prepare_jobs" in messages[-1].content or (
            "Running your code failed" in messages[-1].content
        ):
            return f"```python\n{code}\n```"
        if '{"tasks":' in prompt:
            return {"tasks": [{"task": "What was the total revenue?"}]}
        return {"decision": "final", "answer": "$4.2 billion", "explanation": ""}

    result = minions.ask(
        "What was the total revenue in 2023?",
        Document.from_text(DOCUMENT, name="acme"),
        protocol="minions",
        local=ScriptedClient("local", replies=local_reply, local=True),
        remote=ScriptedClient("remote", replies=remote_reply),
        plan="code",
        max_rounds=1,
        max_code_attempts=2,
    )
    notes = [n for r in result.rounds for n in r.notes]
    print(
        json.dumps({"status": result.status, "error": result.error, "notes": notes, "sent": sent})
    )


if __name__ == "__main__":
    main()
