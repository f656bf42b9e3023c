"""Import paths for the app's tests: the repository root for the ``app`` package (an
editable install made before ``app`` joined the distribution does not map it) and this
directory for ``scripted_clients``."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (str(HERE), str(HERE.parents[1])):
    if path not in sys.path:
        sys.path.insert(0, path)
