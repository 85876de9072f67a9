"""ONNX export of the model's networks, and ONNX Runtime as a drop-in for them at inference.

    export_onnx(model, folder / "onnx")                     # the train stage does this after saving
    model = load_for_inference(folder, runtime="onnx")      # the service and the CLI

Exported (TorchScript exporter, opset 17, dynamic batch and sides): the colouriser (normalised L
-> ab / 110), the stylizer's encoder (RGB -> content features) and its decoder (features -> RGB).
What stays in torch is arithmetic on a few tensors: Lab conversions, the chroma gain, the AdaIN
fusion, resizing. ONNX Runtime runs a whole graph in C++ with the GIL released, so requests served
side by side do not queue on Python; which runtime is faster is measured, not assumed
(benchmarks/benchmark_model.py), and `package.runtime` / `--runtime` choose.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chromastyle.model.hints import PALETTE_SIZE, POINT_FIELDS

log = logging.getLogger(__name__)

OPSET = 17
FILES = {"colorizer": "colorizer.onnx", "encoder": "style_encoder.onnx", "decoder": "style_decoder.onnx"}
RUNTIMES = ("torch", "onnx")


class _Encode(nn.Module):
    """FeatureNetwork.encode as a module (the last, content-layer feature map)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode(rgb)


def _export(module: nn.Module, samples: dict[str, torch.Tensor], path: Path, output_name: str) -> None:
    """Export with every input's batch (and, for images, sides) dynamic; `samples`: {input name: tensor}."""
    image = {0: "batch", 2: "height", 3: "width"}
    dynamic = {name: image if sample.dim() == 4 else {0: "batch", 1: "points"} if sample.dim() == 3 else {0: "batch"}
               for name, sample in samples.items()}
    with warnings.catch_warnings():  # the exporter's notes on constant folding and its own deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), tuple(samples.values()), str(path), dynamo=False, opset_version=OPSET,
                          input_names=list(samples), output_names=[output_name],
                          dynamic_axes={**dynamic, output_name: image})


def colorizer_samples(colorizer: nn.Module, height: int, width: int) -> dict[str, torch.Tensor]:
    """Example inputs of the colouriser: L, and for a hint model two hint points and a palette."""
    samples = {"lightness": torch.randn(1, 1, height, width)}
    if getattr(colorizer, "hints", False):
        points = torch.tensor([[[height // 2, width // 3, 0.2, -0.3, 1.0], [1, 2, -0.1, 0.4, 1.0]]])
        assert points.shape[-1] == POINT_FIELDS
        palette = torch.rand(1, PALETTE_SIZE)
        samples.update(points=points, palette=torch.cat([palette[:, :-1] / palette[:, :-1].sum(), palette[:, -1:].ceil()],
                                                        dim=1))
    return samples


@torch.no_grad()
def export_onnx(model: nn.Module, folder: Path) -> dict[str, Path]:
    """Write the three graphs into `folder`; returns {part: path}. Runs on CPU, float32."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    multiple = getattr(model.colorizer, "MULTIPLE", 16)
    side = 4 * multiple
    paths = {part: folder / name for part, name in FILES.items()}
    _export(model.colorizer, colorizer_samples(model.colorizer, side, side), paths["colorizer"], "ab")
    rgb = torch.rand(1, 3, side, side)
    _export(_Encode(model.encoder), {"rgb": rgb}, paths["encoder"], "features")
    _export(model.decoder, {"features": model.encoder.encode(rgb)}, paths["decoder"], "rgb")
    log.info("exported ONNX graphs to %s", folder)
    return paths


def _session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Inputs change size with every photo: no arena that grows to the largest one and keeps it (the
    # service's memory ceiling), no memory pattern planned for one shape.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    # No busy-waiting workers after a run: the torch code between two sessions (AdaIN, resizing)
    # would otherwise compete with ORT threads spinning on the same cores (stylise 2× slower).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxModule(nn.Module):
    """An ONNX Runtime session that quacks like the torch module it was exported from."""

    def __init__(self, path: Path, threads: int, **attributes):
        super().__init__()
        self.path = Path(path)
        self.session = _session(self.path, threads)
        self.input_names = [node.name for node in self.session.get_inputs()]
        for key, value in attributes.items():
            setattr(self, key, value)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"{self.path.name} takes {self.input_names}, got {len(inputs)} input(s)")
        feed = {name: np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
                for name, x in zip(self.input_names, inputs)}
        return torch.from_numpy(self.session.run(None, feed)[0])


class OnnxEncoder(OnnxModule):
    """The stylizer's encoder: `encode` is what inference uses (the loss features stay in torch)."""

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.forward(rgb)


def use_onnx(model: nn.Module, folder: Path, threads: int | None = None) -> nn.Module:
    """Swap the model's networks for ONNX Runtime sessions of the graphs in `folder` (in place)."""
    folder = Path(folder)
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no ONNX graphs {missing}; export them with "
                                f"chromastyle.model.onnx_runtime.export_onnx, or use runtime 'torch'")
    threads = threads or torch.get_num_threads() or os.cpu_count() or 1
    model.colorizer = OnnxModule(folder / FILES["colorizer"], threads,
                                 MULTIPLE=getattr(model.colorizer, "MULTIPLE", 16),
                                 hints=getattr(model.colorizer, "hints", False))
    model.encoder = OnnxEncoder(folder / FILES["encoder"], threads, downsampling=model.encoder.downsampling,
                                out_channels=model.encoder.out_channels, spec=getattr(model.encoder, "spec", None))
    model.decoder = OnnxModule(folder / FILES["decoder"], threads)
    return model


@torch.no_grad()
def parity(model: nn.Module, folder: Path, side: int = 96) -> float:
    """Largest |ONNX Runtime − eager| of the colouriser and the style networks on a random input."""
    folder = Path(folder)
    colorizer, encoder, decoder = (OnnxModule(folder / FILES[part], threads=1) for part in FILES)
    multiple = getattr(model.colorizer, "MULTIPLE", 16)
    side = max(multiple, side // multiple * multiple)
    inputs = list(colorizer_samples(model.colorizer, side, side + multiple).values())
    rgb = torch.rand(1, 3, side, side + multiple)
    features = model.encoder.encode(rgb)
    return max(float((model.colorizer(*inputs) - colorizer(*inputs)).abs().max()),
               float((features - encoder(rgb)).abs().max()),
               float((model.decoder(features) - decoder(features)).abs().max()))


def load_for_inference(folder: Path, runtime: str = "torch", threads: int | None = None):
    """A model folder as the service and the CLI use it: torch, or ONNX Runtime for its networks.
    A folder without ONNX graphs (a model trained before they were exported) falls back to torch,
    and says so."""
    from chromastyle.model.integrated import Chromastyle

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime {runtime!r} is not one of {RUNTIMES}")
    model = Chromastyle.load(Path(folder))
    if runtime == "onnx" and not (Path(folder) / "onnx" / FILES["colorizer"]).is_file():
        log.warning("%s has no ONNX graphs (onnx/): running it with torch", folder)
        return model
    return use_onnx(model, Path(folder) / "onnx", threads) if runtime == "onnx" else model
