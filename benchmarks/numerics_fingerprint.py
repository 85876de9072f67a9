"""Does this machine train the same weights as the others? The cross-machine check of the pinned
numerics (tests/test_numerics.py can only simulate another CPU on this one; a real AMD EPYC showed
the simulation was not enough: MKL runs other code on AMD than on Intel whatever MKL_CBWR says).

    python benchmarks/numerics_fingerprint.py            # prints this machine's hash and the matches
    python benchmarks/numerics_fingerprint.py --record   # adds this machine to numerics_fingerprints.json

The hash is of the weights of the tiny training of tests/helpers/isa_train.py (every phase, the
EfficientNet encoder) in a fresh process under numerics.cpu_isa; about 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "tests" / "helpers" / "isa_train.py"
REFERENCES = Path(__file__).with_name("numerics_fingerprints.json")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def fingerprint(cpu_isa: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run([sys.executable, str(HELPER), scratch, cpu_isa], capture_output=True, text=True,
                             check=True, timeout=900)
    return out.stdout.split()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-isa", default="avx2")
    parser.add_argument("--record", action="store_true", help="add this machine's hash to the references")
    args = parser.parse_args()
    references = json.loads(REFERENCES.read_text())
    known = references.setdefault(args.cpu_isa, {})
    digest = fingerprint(args.cpu_isa)
    print(f"this machine ({cpu_name()}), cpu_isa {args.cpu_isa}: {digest}")
    for machine, other in known.items():
        print(f"  {'same as' if other == digest else 'DIFFERS from'} {machine}")
    if args.record:
        known[f"{cpu_name()}, {date.today().isoformat()}"] = digest
        REFERENCES.write_text(json.dumps(references, indent=2) + "\n")
    return 0 if all(other == digest for other in known.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
