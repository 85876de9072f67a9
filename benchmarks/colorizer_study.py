"""The colouriser alone, retrained under changed params and judged on the validation photos: the fast
loop for colouriser decisions (issue "right colours"), ~9 min per seed here instead of a whole
`dvc exp run` (~22 min: it also trains the stylizer and evaluates everything).

    python benchmarks/colorizer_study.py --seeds 42 1 2 --set augment.cutout_p=0.5 [--label cutouts]

It runs the real Trainer's three colouriser phases (the same batches and steps as the train stage;
the stylizer is trained from its own seeded start and never changes the colouriser, so it is
skipped), the train stage's calibration on the validation photos, and the evaluate stage's figures
on the photos of one split, whole and at their own size through the service's code path: PSNR,
ΔCF, hue accuracy and the learned Fréchet distance. The validation split by default (held out by
source: where choices are made); --split test gives the in-source regression photos. external-test
is never read here: its figures come from `dvc exp run` (benchmarks/seed_study.py), for the report.
Prints one line per seed and the mean ± sd; appends them to a JSON lines file (--out). Never used
by the pipeline: an adopted recipe goes to params.yaml and through `dvc repro`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import flows._common  # noqa: E402,F401  (first, as in every stage: telemetry off, numerics pinned)

import argparse
import json
import logging
import statistics
import tempfile
import time

import numpy as np
import torch

from chromastyle.config import Params, load_params
from chromastyle.data.prepare import load_originals
from chromastyle.metrics.evaluate import colourise_photos, system_metrics
from chromastyle.metrics.learned import LEARNED_NAME, LearnedFeatureMetrics
from chromastyle.model.integrated import Chromastyle
from chromastyle.train.calibrate import calibrate_chroma_gain
from chromastyle.train.run import MAX_CALIBRATION_PHOTOS, build_trainer
from benchmarks.stylizer_study import with_overrides

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("psnr", "delta_cf", "hue_accuracy", f"frechet_{LEARNED_NAME}")


def trained_colorizer(params: Params, train_share: float = 1.0) -> tuple[Chromastyle, float]:
    """The colouriser trained and calibrated as the train stage does it; (model, training seconds).
    train_share < 1 trains on a fixed subset of the training photos (the same for every seed): what
    fewer photos cost says what more would buy, before anyone collects them."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as checkpoints:
        trainer = build_trainer(params, ROOT / "data" / "prepared", Path(checkpoints))
        if train_share < 1.0:
            count = len(trainer.train_images)
            kept = np.sort(np.random.default_rng(0).choice(count, max(1, round(count * train_share)), replace=False))
            trainer.train_images = trainer.train_images[kept]
        trainer.steps["stylizer"] = 0
        model = trainer.run().model
    seconds = time.perf_counter() - started
    if params.train.chroma_gain == "calibrate":
        photos, _ = load_originals(ROOT / "data" / "raw", ROOT / "data" / "prepared", "val",
                                   limit=MAX_CALIBRATION_PHOTOS)
        calibrate_chroma_gain(model, photos, params.train.max_chroma_gain, params.train.calibration_max_delta_cf,
                              min_gain=params.train.min_chroma_gain)
    return model, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--label", default="")
    parser.add_argument("--split", choices=("val", "test"), default="val",
                        help="whose photos judge: val (held out by source: where choices are made) or test")
    parser.add_argument("--out", type=Path, default=Path("/tmp/colorizer_study.jsonl"))
    parser.add_argument("--train-share", type=float, default=1.0,
                        help="train on this fixed share of the training photos (the data-scaling screen)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # the phases' progress
    params = with_overrides(load_params(ROOT / "params.yaml"), args.overrides)
    torch.set_num_threads(params.train.threads)
    photos, _ = load_originals(ROOT / "data" / "raw", ROOT / "data" / "prepared", args.split,
                               params.evaluate.max_images)
    learned = LearnedFeatureMetrics(photos)
    rows = []
    for seed in args.seeds:
        model, train_s = trained_colorizer(with_overrides(params, [f"train.seed={seed}"]), args.train_share)
        figures = system_metrics(colourise_photos(model, photos, params.package), photos, learned)
        row = {"label": args.label, "overrides": args.overrides, "train_share": args.train_share, "seed": seed,
               "split": args.split,
               "train_s": round(train_s, 1), "chroma_gain": model.cfg.chroma_gain,
               **{key: round(float(figures[key]), 4) for key in FIGURES}}
        rows.append(row)
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    for key in FIGURES:
        values = [row[key] for row in rows]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{args.label}: {key} {statistics.mean(values):.3f} ± {spread:.3f}")


if __name__ == "__main__":
    main()
