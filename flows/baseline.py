"""Back to the committed baseline after experiments (`make baseline`); experiments stay in `dvc exp show`.

    python -m flows.baseline

git checkout of dvc.lock, params.yaml, metrics/ and reports/, then `dvc checkout`. Where the committed
dvc.lock names outputs this clone's DVC cache does not hold (another machine, another
`numerics.cpu_isa`, an interrupted run), checkout cannot restore them. Then their hashes are dropped
from dvc.lock and `dvc repro` rebuilds them: DVC's run cache gives back a stage this clone already ran
with the same code, data and params, without re-running it. With the foreign hashes left in place DVC
looks only for those outputs, misses them and re-trains (20+ minutes on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chromastyle.offline import disable_telemetry

disable_telemetry()

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ["dvc.lock", "params.yaml", "metrics", "reports"]
HASH_FIELDS = ("md5", "hash", "size", "nfiles", "etag", "checksum")


def outputs_missing_from_cache(root: Path) -> list[str]:
    """`dvc checkout` of the whole workspace; the outputs it could not restore (paths as in dvc.lock)."""
    from dvc.exceptions import CheckoutError
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        try:
            repo.checkout()
        except CheckoutError as error:
            return sorted(str(target) for target in error.target_infos)
    return []


def forget_hashes(lock_file: Path, paths: list[str]) -> list[str]:
    """Drop the hashes of these outputs from dvc.lock (in DVC's own YAML round trip); the stages touched."""
    from dvc.utils.serialize import modify_yaml

    stages = []
    with modify_yaml(str(lock_file)) as lock:
        for name, stage in lock.get("stages", {}).items():
            for out in stage.get("outs", []):
                if out.get("path") in paths:
                    for field in HASH_FIELDS:
                        out.pop(field, None)
                    stages.append(name)
    return sorted(set(stages))


def main() -> int:
    subprocess.run(["git", "checkout", "--", *COMMITTED], cwd=ROOT, check=True)
    missing = outputs_missing_from_cache(ROOT)
    if not missing:
        print("baseline restored from the DVC cache (nothing re-ran)")
        return 0
    stages = forget_hashes(ROOT / "dvc.lock", missing)
    print(f"== some committed outputs are not in this clone's DVC cache ({', '.join(missing)}): rebuilding "
          f"them (dvc repro; stages {', '.join(stages)} come from the run cache where this clone ran them) ==",
          flush=True)
    return subprocess.run([sys.executable, "-m", "flows.with_prefect", "dvc", "repro"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
