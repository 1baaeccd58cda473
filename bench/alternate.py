"""`python -m bench.alternate OUT ROUNDS VARIANT... -- MODULE [ARGS...]`: versions of Herald
measured side by side, one run of each per round, in turn.

This machine's speed drifts within the hour, so a change is compared with the code before it
in alternated runs, never one series after the other. A variant is `name=worktree`, or
`name=worktree:ENV=VALUE,ENV=VALUE` for settings of its own: its run is `python -m MODULE ARGS
--results OUT/name` in that worktree, with that worktree's code and bench on the path, its
output in `OUT/name/log-ROUND.txt`. The whole series holds the bench lock
(`/tmp/herald-bench.lock`), so no other bench shares the cores meanwhile.

For example, the delivery path against the code before issue 22:
`python -m bench.alternate out 3 base=/work/wt/base new=. -- bench --backend postgres --mode
batch --no-celery --no-floor --duration 15`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOCK = Path("/tmp/herald-bench.lock")


@dataclass(frozen=True)
class Variant:
    name: str
    worktree: Path
    env: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, _, rest = text.partition("=")
        where, _, settings = rest.partition(":")
        if not name or not where:
            raise SystemExit(f"a variant is name=worktree[:ENV=VALUE,...], not {text!r}")
        env = dict(s.split("=", 1) for s in settings.split(",") if s)
        return cls(name, Path(where).resolve(), env)


def run(out: Path, rounds: int, variants: list[Variant], command: list[str]) -> None:
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for n in range(1, rounds + 1):
            for v in variants:
                results = (out / v.name).resolve()
                results.mkdir(parents=True, exist_ok=True)
                path = f"{v.worktree / 'src'}{os.pathsep}{v.worktree}"
                env = {**os.environ, "PYTHONPATH": path, **v.env}
                argv = [sys.executable, "-m", *command, "--results", str(results)]
                with (results / f"log-{n}.txt").open("w") as log:
                    rc = subprocess.run(argv, cwd=v.worktree, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
                print(f"{time.strftime('%H:%M:%S')} round {n} {v.name} rc={rc}", flush=True)


def main(argv: list[str]) -> None:
    if "--" not in argv or argv.index("--") < 3:
        raise SystemExit(__doc__)
    cut = argv.index("--")
    out, rounds, *variants = argv[:cut]
    run(Path(out), int(rounds), [Variant.parse(v) for v in variants], argv[cut + 1 :])


if __name__ == "__main__":
    main(sys.argv[1:])
