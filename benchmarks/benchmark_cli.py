"""CLI start-up benchmark: one photo through `chromastyle colorize` with the champion asked from MLflow
(empty champion cache) against the same call with the champion cached, and both against the floor of
any call (`chromastyle --version`), in one run on one machine, alternating so that load drifts hit both.

    python benchmarks/benchmark_cli.py [--photo data/external-test/<file>] [--repeats 3]

Run it from a project where `make run` has registered a champion. Prints medians and ratios; asserts
nothing (timings belong in a person's reading, not a test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path.cwd()  # the project whose registry the CLI finds (from the current folder upwards)


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=next(iter(sorted((ROOT / "data/external-test").glob("*.jpg")))))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "chromastyle.cli"]
    times: dict[str, list[float]] = {"--version": [], "champion asked": [], "champion cached": []}
    with tempfile.TemporaryDirectory(prefix="chromastyle-bench-cli-") as scratch:
        out, cache = Path(scratch) / "out", Path(scratch) / "cache"
        colorize = cli + ["colorize", str(args.photo.resolve()), "-o", str(out), "--overwrite"]
        for repeat in range(args.repeats):
            times["--version"].append(timed(cli + ["--version"], dict(os.environ)))
            cold = dict(os.environ, CHROMASTYLE_CACHE_DIR=str(cache / f"cold{repeat}"))
            times["champion asked"].append(timed(colorize, cold))  # fills cold<repeat>, then reads it:
            times["champion cached"].append(timed(colorize, cold))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"one photo ({args.photo.name}), median of {args.repeats} on {os.cpu_count()} cores:")
    for name, median in medians.items():
        print(f"  {name:16s} {median:6.2f} s   ({', '.join(f'{v:.2f}' for v in times[name])})")
    print(f"cached / asked: {medians['champion cached'] / medians['champion asked']:.2f}; "
          f"cached − --version floor: {medians['champion cached'] - medians['--version']:.2f} s "
          f"(torch, ONNX Runtime, the photo)")


if __name__ == "__main__":
    main()
