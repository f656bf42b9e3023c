"""Evaluations: protocols on FinanceBench, LongHealth, QASPER or a user's own JSONL
questions, accuracy against cost.

- :mod:`minions.evals.datasets`: the :class:`Dataset` interface (load examples of (id,
  question, documents, gold, metadata), score an answer), registered under the
  entry-point group ``minions.datasets``, and a user's JSONL questions;
- :mod:`minions.evals.scoring`: scores that say how they were decided;
- :mod:`minions.evals.runner`: one JSONL row per (example, protocol), resumable;
- :mod:`minions.evals.report`: ``report.md`` and ``cost_vs_accuracy.png`` of a run folder;
- :mod:`minions.evals.cli`: ``minions eval`` and ``minions eval report``.
"""

from __future__ import annotations

from .datasets import Dataset, Example, get_dataset, load_examples
from .scoring import Score

__all__ = ["Dataset", "Example", "Score", "get_dataset", "load_examples"]
