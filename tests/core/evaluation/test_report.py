"""The evaluate summary's gap distribution (median / p90 / max), shown when improving."""

from __future__ import annotations

import numpy as np

from symco.core.evaluation import Item, gap_spread, summary_rows
from symco.problems.tsp.problem import TSP


def test_spread_column_is_the_per_instance_distribution() -> None:
    problem = TSP()
    inst = problem.generate(5, 6, rng=np.random.default_rng(0))
    items = []
    for i, gap in enumerate([0.0, 1.0, 2.0, 3.0, 10.0]):
        it = Item(f"x:{i}", problem, problem.select(inst, i), 100.0, "lkh")
        it.results["m"] = {"cost": 100.0 * (1 + gap / 100), "time_s": 0.1}
        items.append(it)
    (plain,) = summary_rows(items, ["m"])
    (row,) = summary_rows(items, ["m"], spread=True)
    assert row[:-1] == plain and len(row) == len(plain) + 1
    assert row[-1] == f"2.000 / {np.percentile([0, 1, 2, 3, 10], 90):.3f} / 10.000"
    assert abs(row[5] - 3.2) < 1e-9  # the mean the table already had
    assert gap_spread([]) == "-"
