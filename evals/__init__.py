"""Evaluations: protocols on FinanceBench, LongHealth and QASPER, accuracy against cost.

- :mod:`minions.evals.datasets`: examples of (id, question, documents, gold, metadata);
- :mod:`minions.evals.scoring`: scores that say how they were decided;
- :mod:`minions.evals.runner`: one JSONL row per (example, protocol), resumable;
- :mod:`minions.evals.report`: ``report.md`` and ``cost_vs_accuracy.png`` of a run folder;
- :mod:`minions.evals.cli`: ``minions eval`` and ``minions eval report``.
"""

from __future__ import annotations

from .datasets import Example, load_examples
from .scoring import Score

__all__ = ["Example", "Score", "load_examples"]
