"""Start-up cost of the ``symco`` command: wall time and whether torch is imported.

    python benchmarks/startup.py      # -> benchmarks/results/startup.json

Each command runs ``--repeat`` times in a fresh interpreter (the median is reported);
``python -X importtime`` tells which heavy modules were imported (torch, lightning,
torch_geometric) and their cumulative import time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from symco.core.dataset import atomic_path

HERE = Path(__file__).resolve().parent
COMMANDS = [["--help"], ["plugins", "--help"], ["fit", "--help"], ["plugins"], ["models"]]
HEAVY = ("torch", "lightning", "torch_geometric")


def measure(argv: list[str], repeat: int) -> dict[str, object]:
    code = "import sys; from symco.core.cli import main; sys.exit(main(sys.argv[1:]))"
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv], capture_output=True, text=True
    ).stderr
    cumulative: dict[str, float] = {}
    for line in trace.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and m.group(3) in HEAVY:
            cumulative[m.group(3)] = max(cumulative.get(m.group(3), 0.0), int(m.group(1)) / 1e6)
    return {
        "command": "symco " + " ".join(argv),
        "median_s": statistics.median(times),
        "imports": {name: name in cumulative for name in HEAVY},
        "import_s": cumulative,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "startup.json"))
    args = parser.parse_args()
    rows = [measure(argv, args.repeat) for argv in COMMANDS]
    for r in rows:
        heavy = ", ".join(k for k, v in r["imports"].items() if v) or "none"  # type: ignore[union-attr]
        print(f"{r['command']:<24} {r['median_s']:6.2f} s   heavy imports: {heavy}")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps({"python": sys.version.split()[0], "results": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
