"""The API depends on narrow services, not on the runtime: importing it imports no worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

FORBIDDEN = ("herald.runtime", "herald.workers", "herald.sandbox", "herald.delivery.pipeline")


def test_importing_the_api_imports_no_worker_runtime_or_simulator() -> None:
    code = "import json, sys, herald.api.app; print(json.dumps(sorted(sys.modules)))"
    # A fresh interpreter: this one has imported everything the other tests needed.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    loaded = json.loads(out.stdout)
    assert "herald.api.app" in loaded and "herald.notifications.acceptance" in loaded
    found = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert found == [], f"importing herald.api.app imported {found}"
