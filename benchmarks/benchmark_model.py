"""Model benchmark: training throughput, inference latency and FLOPs, against a pix2pix baseline
measured in the same run on the same machine.

    python benchmarks/benchmark_model.py [--device cpu|cuda] [--repeats 5]

The baseline is the pix2pix colourisation architecture (Isola et al. 2017, junyanz's defaults):
U-Net down to 1×1 (ngf 64, BatchNorm, transposed convolutions, dropout in the inner decoder),
70×70 PatchGAN (ndf 64, 3 layers), L1 ×100 + vanilla GAN loss, Adam. It is rebuilt here from the
paper's description so that both models run under identical conditions (threads, batch, data).
Prints figures and ratios; asserts nothing (targets belong in a person's reading, not a test).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from chromastyle.config import load_params
from chromastyle.model.colorizer import PatchDiscriminator, UNetColorizer
from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer
from chromastyle.model.loss_network import efficientnet_network


# -- the pix2pix baseline ---------------------------------------------------------------------------
class Pix2PixUNet(nn.Module):
    """U-Net with log2(size) downsamplings to 1×1, widths 64-128-256-512-512…, as in pix2pix."""

    def __init__(self, size: int, ngf: int = 64, in_ch: int = 1, out_ch: int = 2):
        super().__init__()
        depth = int(math.log2(size))
        widths = [min(ngf * 2 ** i, ngf * 8) for i in range(depth)]
        self.downs = nn.ModuleList()
        previous = in_ch
        for i, width in enumerate(widths):
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous, width, 4, 2, 1, bias=False))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(width))
            self.downs.append(nn.Sequential(*layers))
            previous = width
        self.ups = nn.ModuleList()
        for i in reversed(range(depth)):
            target = out_ch if i == 0 else widths[i - 1]
            in_width = widths[i] if i == depth - 1 else widths[i] * 2
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_width, target, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(target))
                if depth - 4 <= i < depth - 1:
                    layers.append(nn.Dropout(0.5))
            else:
                layers.append(nn.Tanh())
            self.ups.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()
        for index, up in enumerate(self.ups):
            x = up(x)
            if skips and index < len(self.ups) - 1:
                x = torch.cat([x, skips.pop()], dim=1)
        return x


class Pix2PixPatchGAN(nn.Module):
    def __init__(self, ndf: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1))

    def forward(self, lightness, ab):
        return self.net(torch.cat([lightness, ab], dim=1))


# -- measurements -----------------------------------------------------------------------------------
def train_images_per_s(generator, discriminator, size, batch, repeats, device, l1_weight, channels_last,
                       frozen_encoder=False):
    """Images/s of one colouriser training step; discriminator None = an L1-only step (our phases 1-2)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    generator = generator.to(device, memory_format=fmt)
    frozen = {id(p) for p in generator.encoder_parameters()} if frozen_encoder else set()
    for parameter in generator.parameters():
        parameter.requires_grad_(id(parameter) not in frozen)
    if discriminator is None:
        return _l1_images_per_s(generator, size, batch, repeats, device, fmt)
    discriminator = discriminator.to(device, memory_format=fmt)
    opt_g = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    lightness = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=fmt) * 2 - 1
    target = torch.rand(batch, 2, size, size, device=device).contiguous(memory_format=fmt) * 2 - 1
    bce = nn.BCEWithLogitsLoss()
    times = []
    for step in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        fake = generator(lightness)
        real_logits, fake_logits = discriminator(lightness, target), discriminator(lightness, fake.detach())
        d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_logits = discriminator(lightness, fake)
        g_loss = bce(g_logits, torch.ones_like(g_logits)) + l1_weight * F.l1_loss(fake, target)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        _sync(device)
        if step:  # the first step pays one-off allocation costs
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def _l1_images_per_s(generator, size, batch, repeats, device, fmt):
    opt = torch.optim.Adam([p for p in generator.parameters() if p.requires_grad], 1e-3)
    lightness = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=fmt) * 2 - 1
    target = torch.rand(batch, 2, size, size, device=device).contiguous(memory_format=fmt) * 2 - 1
    times = []
    for step in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        loss = F.l1_loss(generator(lightness), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        if step:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


@torch.no_grad()
def latency_ms(fn, repeats, device):
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def gflops(module, *inputs) -> float:
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            module(*inputs)
    return counter.get_total_flops() / 1e9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"device {device}, {args.threads} threads, batch {args.batch}, torch {torch.__version__}")

    print("\n== colouriser training throughput, images/s (pix2pix: its G + D step) ==")
    print("       frozen L1   fine-tune L1   adversarial (G+D)   scratch G+D   pix2pix   frozen/pix2pix")
    lite_cfg = ModelConfig(encoder="efficientnet-lite0")
    for size in (64, 128):
        frozen = train_images_per_s(build_colorizer(lite_cfg, pretrained=True), None, size, args.batch, args.repeats,
                                    device, 10.0, channels_last=True, frozen_encoder=True)
        finetune = train_images_per_s(build_colorizer(lite_cfg, pretrained=True), None, size, args.batch,
                                      args.repeats, device, 10.0, channels_last=True)
        adversarial = train_images_per_s(build_colorizer(lite_cfg, pretrained=True), PatchDiscriminator(32), size,
                                         args.batch, args.repeats, device, 10.0, channels_last=True)
        scratch = train_images_per_s(UNetColorizer(32), PatchDiscriminator(32), size, args.batch, args.repeats,
                                     device, 10.0, channels_last=True)
        base = train_images_per_s(Pix2PixUNet(size), Pix2PixPatchGAN(), size, args.batch, args.repeats, device,
                                  100.0, channels_last=False)
        print(f"{size:>4}²  {frozen:9.1f}   {finetune:12.1f}   {adversarial:17.1f}   {scratch:11.1f}   {base:7.1f}"
              f"   {frozen / base:5.2f}×")

    train = load_params(Path(__file__).resolve().parent.parent / "params.yaml").train  # the working sizes users get
    model = Chromastyle(ModelConfig(work_side=train.work_side, encoder="efficientnet-lite0",
                                    style_work_side=train.style_work_side,
                                    loss_network="efficientnet-lite0"), encoder=efficientnet_network()).to(device).eval()
    print("\n== stylizer phase throughput, images/s ==")
    decoder_opt = torch.optim.Adam(model.decoder.parameters(), 1e-3)
    content, style = torch.rand(args.batch, 3, 64, 64, device=device), torch.rand(args.batch, 3, 64, 64, device=device)

    def stylizer_step():
        with torch.no_grad():
            h_content, h_style = model.encoder.encode(content), model.encoder.encode(style)
        from chromastyle.model.stylizer import adain, style_loss
        out = model.decode_residual(content, h_content, adain(h_content, h_style))
        loss = style_loss(model.encoder(out), model.encoder(style))
        decoder_opt.zero_grad()
        loss.backward()
        decoder_opt.step()

    with torch.enable_grad():
        stylizer_step()
        start = time.perf_counter()
        for _ in range(args.repeats):
            stylizer_step()
        _sync(device)
    print(f"  64²  {args.batch * args.repeats / (time.perf_counter() - start):7.1f}")

    print("\n== inference latency per image (batch 1), ms ==")
    for size in (256, 512):
        lightness = torch.rand(1, 1, size, size, device=device) * 100
        style_image = torch.rand(1, 3, 256, 256, device=device)
        colourise = latency_ms(lambda: model(lightness), args.repeats, device)
        stylise = latency_ms(lambda: model(lightness, style=style_image, alpha=0.7), args.repeats, device)
        baseline = Pix2PixUNet(256).to(device).eval()
        base_input = torch.rand(1, 1, 256, 256, device=device)
        base_ms = latency_ms(lambda: baseline(base_input), args.repeats, device)
        print(f"{size:>4}²  colourise {colourise:7.1f}   stylise {stylise:7.1f}   "
              f"pix2pix@256² {base_ms:7.1f}   colourise speed-up {base_ms / colourise:5.2f}×")

    print("\n== FLOPs per image ==")
    lightness = torch.rand(1, 1, 256, 256, device=device) * 100
    print(f"colourise 256² input (G at {model.cfg.work_side}²): {gflops(model, lightness):6.2f} GFLOP")
    print(f"stylise   256² input:             {gflops(model, lightness, torch.rand(1, 3, 256, 256, device=device)):6.2f} GFLOP")
    print(f"pix2pix G at 256²:                {gflops(Pix2PixUNet(256).to(device).eval(), torch.rand(1, 1, 256, 256, device=device)):6.2f} GFLOP")  # noqa: E501
    params = sum(p.numel() for p in model.colorizer.parameters()) / 1e6  # encoder 3.4 M of it
    print(f"parameters: colouriser {params:.2f} M, pix2pix G {sum(p.numel() for p in Pix2PixUNet(256).parameters()) / 1e6:.2f} M")

    runtime_table(model, args.repeats, args.threads)
    efficiency(model, args.batch, args.repeats, device)


# -- runtimes: the same whole-image code path on each runtime ---------------------------------------------
def _photo(side: int):
    import numpy as np

    rng = np.random.default_rng(side)
    y, x = np.mgrid[0:side, 0:side] / side
    gray = (127 + 60 * np.sin(8 * x) * np.cos(6 * y) + rng.normal(0, 10, (side, side))).clip(0, 255).astype("uint8")
    return np.repeat(gray[..., None], 3, axis=2)


def runtime_table(model, repeats: int, threads: int) -> dict[str, dict]:
    """ms per image of chromastyle.inference (colourise, stylise at α 0.7) at 256², 512², 1024² on
    eager fp32 (NCHW), eager channels_last, torch.compile and ONNX Runtime; the fastest is marked."""
    import copy
    import tempfile

    from chromastyle.inference import colorize_array, stylize_array
    from chromastyle.model.onnx_runtime import export_onnx, use_onnx

    model = model.to("cpu").eval()
    folder = Path(tempfile.mkdtemp(prefix="chromastyle-bench-onnx-"))
    export_onnx(model, folder)
    variants = {"eager fp32": _eager(model, torch.contiguous_format), "channels_last": _eager(model, torch.channels_last)}
    compiled = _compiled(model)
    if compiled is not None:
        variants["torch.compile"] = compiled
    variants["onnxruntime"] = use_onnx(copy.deepcopy(model), folder, threads)
    style = _photo(256)
    table: dict[str, dict] = {}
    print("\n== runtimes: whole image through chromastyle.inference, ms per image (batch 1) ==")
    print(f"{'runtime':<15}" + "".join(f"{f'colourise {s}²':>16}{f'stylise {s}²':>15}" for s in (256, 512, 1024)))
    for name, variant in variants.items():
        row = {}
        for side in (256, 512, 1024):
            photo = _photo(side)
            row[f"colourise {side}"] = latency_ms(lambda: colorize_array(variant, photo, 768), repeats, torch.device("cpu"))
            colour = colorize_array(variant, photo, 768)
            row[f"stylise {side}"] = latency_ms(lambda: stylize_array(variant, colour, [style], None, 0.7, False, 512),
                                                repeats, torch.device("cpu"))
        table[name] = row
        print(f"{name:<15}" + "".join(f"{v:16.1f}" if k.startswith("colourise") else f"{v:15.1f}" for k, v in row.items()))
    for task in ("colourise", "stylise"):
        best = min(table, key=lambda n: sum(v for k, v in table[n].items() if k.startswith(task)))
        print(f"fastest for {task}: {best}")
    return table


def _eager(model, memory_format):
    import copy

    variant = copy.deepcopy(model)
    variant.colorizer = variant.colorizer.to(memory_format=memory_format)
    variant.decoder = variant.decoder.to(memory_format=memory_format)
    return variant


def _compiled(model):
    """torch.compile of the three networks, or None (with the reason) where it does not work here."""
    import copy

    try:
        variant = copy.deepcopy(model)
        variant.colorizer = torch.compile(variant.colorizer, dynamic=True)
        variant.decoder = torch.compile(variant.decoder, dynamic=True)
        with torch.no_grad():
            variant.colorizer(torch.rand(1, 1, 160, 160))
        return variant
    except Exception as err:  # noqa: BLE001 - a benchmark reports, it does not fail
        print(f"torch.compile unavailable here: {type(err).__name__}: {str(err)[:200]}")
        return None


# -- efficiency: achieved GFLOP/s against this CPU's fp32 matmul ceiling ------------------------------------
def efficiency(model, batch: int, repeats: int, device) -> None:
    size = 2048
    a, b = torch.rand(size, size, device=device), torch.rand(size, size, device=device)
    matmul_s = latency_ms(lambda: a @ b, repeats, device) / 1000
    ceiling = 2 * size ** 3 / matmul_s / 1e9
    lightness = torch.rand(1, 1, 256, 256, device=device) * 100
    inference_flop = gflops(model, lightness)
    inference_s = latency_ms(lambda: model(lightness), repeats, device) / 1000
    generator = model.colorizer
    # Training FLOPs = 3 × the forward pass (the backward computes gradients for activations and
    # weights, each about one forward): torch's FlopCounterMode over-counts the backward of
    # EfficientNet's depthwise convolutions, which made this row exceed the ceiling.
    train_flop = 3 * gflops(generator, torch.rand(1, 1, 128, 128, device=device) * 2 - 1) * batch
    train_ips = train_images_per_s(generator, None, 128, batch, repeats, device, 10.0, channels_last=True)
    print("\n== efficiency against this machine's fp32 matmul ceiling (measured now) ==")
    print(f"matmul 2048²: {ceiling:7.1f} GFLOP/s (ceiling)")
    print(f"inference (colourise 256², batch 1): {inference_flop / inference_s:7.1f} GFLOP/s "
          f"= {inference_flop / inference_s / ceiling:5.1%} of the ceiling")
    print(f"training (colouriser fine-tune step at 128², batch {batch}): {train_flop / batch * train_ips:7.1f} GFLOP/s "
          f"= {train_flop / batch * train_ips / ceiling:5.1%} of the ceiling")


if __name__ == "__main__":
    main()
