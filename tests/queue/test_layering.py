"""The queue carries delivery ids and knows nothing of the send path that claims them."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_queue_package_imports_nothing_of_the_send_path() -> None:
    modules = ["announce", "embedded", "lease", "models", "outbox", "recovery", "redis_streams", "relay", "transport"]
    imports = "; ".join(f"import herald.queue.{m}" for m in modules)
    code = f"import json, sys; {imports}; print(json.dumps(sorted(sys.modules)))"
    # A fresh interpreter: this one has imported everything the other tests needed.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    loaded = json.loads(out.stdout)
    assert "herald.queue.redis_streams" in loaded
    assert [m for m in loaded if m.startswith(("herald.delivery", "herald.workers"))] == []
