"""Evaluations: protocols on FinanceBench, LongHealth and QASPER, accuracy against cost.

- :mod:`evals.datasets`: examples of (id, question, documents, gold, metadata);
- :mod:`evals.scoring`: scores that say how they were decided;
- :mod:`evals.runner`: one JSONL row per (example, protocol), resumable;
- :mod:`evals.report`: ``report.md`` and ``cost_vs_accuracy.png`` of a run folder;
- :mod:`evals.cli`: ``minions eval`` and ``minions eval report``.
"""

from __future__ import annotations

from .datasets import Example, load_examples
from .scoring import Score

__all__ = ["Example", "Score", "load_examples"]
