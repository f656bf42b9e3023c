"""The app's tests import the ``app`` package from the repository root, which an
editable install made before ``app`` joined the distribution does not map."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
