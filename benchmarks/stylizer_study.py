"""The stylizer alone, retrained under changed params and judged beside the peer: the fast loop for
stylizer decisions (issue "style that shows"), ~3 min per seed here instead of a whole `dvc repro`.

    python benchmarks/stylizer_study.py --seeds 42 1 2 --set train.style_weight=40 [--label w40]
    python benchmarks/stylizer_study.py --no-train --set train.style_work_side=512   # inference knobs only

It loads the trained model of the workspace (models/chromastyle: its colouriser, which the stylizer
never changes), gives it a fresh stylizer decoder from the seed exactly as `new_model` does, runs the
real Trainer's stylizer phase (the same batches and steps as the train stage), and runs the evaluate
stage's comparison (chromastyle.metrics.style_peer: 16 colourised photos × the evaluation styles at
512 px, judged by EfficientNet-Lite2), ours in the served runtime (package.runtime: the networks
exported to ONNX, as the evaluate stage runs them). Photos of the validation split by default: held out by source,
where choices are made; --split test gives the evaluate stage's photos, for the report. The peer's
figures do not depend on our model: they are computed once per split and kept in a cache file. Prints
one line per seed and the mean ± sd; appends them to a JSON lines file (--out). Never used by the
pipeline: the adopted params go to params.yaml and through `dvc repro`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import flows._common  # noqa: E402,F401  (first, as in every stage: telemetry off, numerics pinned)

import argparse
import copy
import json
import statistics
import tempfile
import time
from dataclasses import replace

import torch
import yaml

from chromastyle.config import Params, load_params
from chromastyle.data.prepare import load_originals
from chromastyle.data.styles import gallery_paths
from chromastyle.imaging import decode_image
from chromastyle.inference import colorize_photo
from chromastyle.metrics.style_peer import at_side, compare, lite2_judge, peer_engine, systems
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.onnx_runtime import export_onnx, use_onnx
from chromastyle.train.run import build_trainer

ROOT = Path(__file__).resolve().parent.parent


def with_overrides(params: Params, overrides: list[str]) -> Params:
    """params with `section.key=value` items applied (values parsed as YAML), validated again."""
    data = params.model_dump(mode="json")
    for item in overrides:
        dotted, value = item.split("=", 1)
        section, key = dotted.split(".", 1)
        data[section][key] = yaml.safe_load(value)
    return Params.model_validate(data)


def trained_stylizer(params: Params, trained: Chromastyle) -> Chromastyle:
    """The workspace's colouriser with a stylizer decoder trained from scratch under `params`."""
    with tempfile.TemporaryDirectory() as checkpoints:
        trainer = build_trainer(params, ROOT / "data" / "prepared", Path(checkpoints))
        trainer.model.colorizer.load_state_dict(trained.colorizer.state_dict())
        trainer.model.cfg = replace(trainer.model.cfg, chroma_gain=trained.cfg.chroma_gain)
        trainer.phase, trainer.step = "stylizer", 0
        return trainer.run().model


def as_served(model: Chromastyle, params: Params) -> Chromastyle:
    """The model in the served runtime (package.runtime), as the evaluate stage judges and times it: its
    networks exported to ONNX and run by ONNX Runtime (a copy; torch stays as trained)."""
    if params.package.runtime != "onnx":
        return model
    with tempfile.TemporaryDirectory(prefix="stylizer_study_onnx_") as folder:  # sessions hold the graphs in memory
        export_onnx(model, Path(folder))
        return use_onnx(copy.deepcopy(model), Path(folder), params.train.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--label", default="")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:SECTION.KEY=VALUE[,...]",
                        help="also judge each trained stylizer under these inference params (e.g. "
                             "nopalette:train.palette_transfer=false): one training, several figures")
    parser.add_argument("--no-train", action="store_true", help="judge the workspace's stylizer as it is")
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--split", choices=("val", "test"), default="val",
                        help="whose photos judge: val (held out by source: where choices are made) or test (the "
                             "evaluate stage's, to report)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/stylizer_study.jsonl"))
    parser.add_argument("--peer-cache", type=Path, default=None, help="default /tmp/stylizer_study_peer_<split>.json")
    args = parser.parse_args()
    params = with_overrides(load_params(ROOT / "params.yaml"), args.overrides)
    pause_s = params.evaluate.peer_pause_s  # each timed call starts on a quiet machine, as in the evaluate stage
    args.peer_cache = args.peer_cache or Path(f"/tmp/stylizer_study_peer_{args.split}_pause{pause_s}.json")
    torch.set_num_threads(params.train.threads)
    workspace = Chromastyle.load(ROOT / "models" / "chromastyle")
    photos, _ = load_originals(ROOT / "data" / "raw", ROOT / "data" / "prepared", args.split, args.photos)
    side = params.evaluate.peer_side
    contents = [at_side(colorize_photo(workspace, photo, params.package), side) for photo in photos]
    gallery = {name: decode_image(path) for name, path in gallery_paths(ROOT / params.data.styles).items()}
    styles = list(params.evaluate.styles)
    judge = lite2_judge()
    if not args.peer_cache.is_file():
        peer = systems(workspace, params.package, peer_engine(params.train.threads), side)
        # Under another name: compare() pairs "ours" with "peer" only when both ran.
        summary = compare({"alone": peer["peer"]}, judge, contents, gallery, styles, pause_s).summary["alone"]
        args.peer_cache.write_text(json.dumps(summary))
    peer = json.loads(args.peer_cache.read_text())
    variants = [(args.label, [])] + [(v.split(":", 1)[0], v.split(":", 1)[1].split(",")) for v in args.variant]
    rows = []
    for seed in args.seeds:
        run_params = with_overrides(params, [f"train.seed={seed}"])
        started = time.perf_counter()
        model = workspace if args.no_train else trained_stylizer(run_params, workspace)
        train_s = time.perf_counter() - started
        model = as_served(model, params)
        for label, inference in variants:
            knobs = with_overrides(run_params, inference).train
            model.cfg = replace(model.cfg, style_work_side=knobs.style_work_side,
                                palette_transfer=knobs.palette_transfer, palette_bands=knobs.palette_bands,
                                style_strength=knobs.style_strength)
            ours = compare({"ours": systems(model, params.package, None, side)["ours"]}, judge, contents, gallery,
                           styles, pause_s).summary["ours"]
            row = {"label": label, "overrides": args.overrides + inference, "seed": seed, "split": args.split,
                   "train_s": round(train_s, 1), **{k: round(v, 4) for k, v in ours.items()},
                   "latency_ratio": round(ours["median_seconds"] / peer["median_seconds"], 3)}
            rows.append(row)
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print(f"peer: style_drop {peer['style_drop']:.3f} content_loss {peer['content_loss']:.3f} "
          f"distinctness {peer['distinctness']:.4f} median_s {peer['median_seconds']:.3f}")
    for label, _ in variants:
        for key in ("style_drop", "content_loss", "distinctness"):
            values = [row[key] for row in rows if row["label"] == label]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"{label}: {key} {statistics.mean(values):.3f} ± {spread:.3f}")


if __name__ == "__main__":
    main()
