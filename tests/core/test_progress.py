"""Progress inside one long computation: a line about every tenth of the steps off a terminal."""

from __future__ import annotations

import re

from symco.core.progress import steps


def test_steps_off_a_terminal_print_a_line_per_share(capsys) -> None:
    with steps(20, "greedy knn100 n=20", every=0.25, seconds=0) as tick:
        for _ in range(19):  # a decode may stop short of the total, an upper bound
            tick()
    lines = capsys.readouterr().err.splitlines()  # pytest's capture is not a terminal
    assert [line.split(": ")[1].split(",")[0] for line in lines] == [
        "25% (5 of about 20 steps)",
        "50% (10 of about 20 steps)",
        "75% (15 of about 20 steps)",
    ]
    assert re.fullmatch(
        r"greedy knn100 n=20: 25% \(5 of about 20 steps\), \d+ s, ETA \d+ s", lines[0]
    )


def test_steps_print_no_more_often_than_every_seconds(capsys) -> None:
    with steps(20, "x", every=0.1, seconds=3600) as tick:
        for _ in range(20):
            tick()
    with steps(20, "x", quiet=True, seconds=0) as tick:
        for _ in range(20):
            tick()
    assert capsys.readouterr().err == ""
