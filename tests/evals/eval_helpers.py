"""Shared data for the eval tests: the project's copies under ../shared/data, read in
place (tests that need them skip when they are absent), and the QASPER fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from minions.evals.datasets import SHARED_DATA

FINANCEBENCH = SHARED_DATA / "financebench"
MEDICAL = SHARED_DATA / "medical" / "records_qa.json"
QASPER_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "qasper_fixture.json"

needs_financebench = pytest.mark.skipif(
    not (FINANCEBENCH / "questions.jsonl").exists(),
    reason=f"the FinanceBench copy is not at {FINANCEBENCH} (see DESIGN.md, data for evals)",
)
needs_medical = pytest.mark.skipif(
    not MEDICAL.exists(),
    reason=f"the medical records QA copy is not at {MEDICAL} (see DESIGN.md, data for evals)",
)
