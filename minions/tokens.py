"""Tokenizer-free token estimates, shared by chunking, context sizing and test doubles."""

from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approx_tokens(text: str) -> int:
    """Words and punctuation marks, and at least characters / 4.

    Close enough to BPE counts of English prose to size context windows and to report
    realistic usage from test doubles.
    """
    return max(len(_TOKEN_RE.findall(text)), (len(text) + 3) // 4)
