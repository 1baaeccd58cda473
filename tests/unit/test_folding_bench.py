"""The folding bench: its staged rows are folded, and its check of the counts holds the rollups
to what it staged (a fold that lost or doubled rows would fail it)."""

from __future__ import annotations

from pathlib import Path

import bench.folding
import pytest
from bench.folding import Options, main
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_a_small_run_folds_what_it_staged_and_checks_the_counts(tmp_path: Path) -> None:
    doc = await main(Options(folds=3, rows=10, templates=2, results_dir=tmp_path))
    assert doc["exact"] is True
    assert 0 < doc["rows_per_fold"] <= 10
    assert doc["fold_us"]["wall_mean"] > 0


async def test_the_check_fails_on_a_count_the_rollups_do_not_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = bench.folding._exact

    async def one_more(engine: AsyncEngine, staged: list[int]) -> bool:
        return await original(engine, [staged[0] + 1, *staged[1:]])

    monkeypatch.setattr(bench.folding, "_exact", one_more)
    doc = await main(Options(folds=2, rows=5, templates=1, results_dir=tmp_path))
    assert doc["exact"] is False
