"""Where training time goes, and what pinned numerics cost: the real Trainer on the params' sizes.

    python benchmarks/benchmark_training.py [--steps 30] [--rounds 2]

Runs each numerics setting (`native`: this CPU's fastest kernels; `avx2`: numerics.cpu_isa's
default, the same numbers on any x86-64 with AVX2) in its own process (the caps are read when
torch loads), alternating them `--rounds` times so that a machine's drift hits both alike. Each
process trains `--steps` steps of every phase (colouriser frozen, fine-tune, adversarial,
stylizer) on the prepared photos (data/prepared, else data/sample) and times, per phase:
batch sampling + augmentation, the encoder's forward, the decoder's forward, the critic's forward,
the rest of the step (losses, backward, optimizer), checkpoints and previews.
Prints figures and the avx2/native ratio measured in the same run; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("colorizer", "finetune", "adversarial", "stylizer")
PARTS = ("augmentation", "encoder", "decoder", "critic", "backward+optimizer", "checkpoint+preview")


def child(setting: str, steps: int) -> dict:
    """One process: train every phase for `steps` steps and time its parts."""
    from chromastyle.offline import disable_telemetry

    disable_telemetry()
    import numpy as np
    import torch

    import chromastyle.train.trainer as trainer_module
    from chromastyle.config import load_params
    from chromastyle.data.prepare import load_split, square_crop
    from chromastyle.imaging import decode_image
    from chromastyle.train.run import new_model

    params = load_params(ROOT / "params.yaml")
    cfg = params.train.model_copy(update={"colorizer_steps": steps, "finetune_steps": steps,
                                          "adversarial_steps": steps, "stylizer_steps": steps,
                                          "checkpoint_every": steps, "sample_every": steps, "log_every": 10})
    prepared = ROOT / "data" / "prepared"
    if (prepared / "split.csv").is_file():
        images, _ = load_split(prepared, "train")
    else:
        files = sorted((ROOT / "data" / "sample").glob("*.jpg"))[:64]
        images = np.stack([square_crop(decode_image(f), params.data.prepared_size) for f in files])
    styles = images[:8]
    timers: dict[tuple[str, str], float] = defaultdict(float)
    holder: dict = {}

    def timed(part: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timers[(holder["trainer"].phase, part)] += time.perf_counter() - started
        return wrapper

    def hook(module, part: str) -> None:
        starts: list[float] = []
        module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))
        module.register_forward_hook(lambda *_: timers.__setitem__(
            (holder["trainer"].phase, part), timers[(holder["trainer"].phase, part)] + time.perf_counter() - starts.pop()))

    trainer_module.sample_batch = timed("augmentation", trainer_module.sample_batch)
    model = new_model(params)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = trainer_module.Trainer(cfg, params.augment, model, images, styles, images[:4], Path(scratch), "bench")
        holder["trainer"] = trainer
        trainer.save = timed("checkpoint+preview", trainer.save)
        trainer._log_preview = timed("checkpoint+preview", trainer._log_preview)
        colorizer = model.colorizer
        # The pretrained encoder's layers are called one by one (skips): each is timed, the head too.
        for layer in [*getattr(colorizer, "encoder", []), *getattr(colorizer, "head", [])]:
            hook(layer, "encoder")
        hook(colorizer, "colourizer")      # the whole forward: the decoder is that minus the encoder
        hook(model.encoder, "encoder")      # the stylizer's loss network
        hook(model.decoder, "decoder")
        hook(trainer.discriminator, "critic")
        trainer.run()
    figures = {"capability": torch.backends.cpu.get_cpu_capability(), "phases": {}}
    for phase in PHASES:
        seconds = trainer.summary[f"{phase}_minutes"] * 60
        parts = {part: timers[(phase, part)] for part in PARTS}
        if phase != "stylizer":
            parts["decoder"] = timers[(phase, "colourizer")] - timers[(phase, "encoder")]
        parts["backward+optimizer"] = seconds - sum(v for k, v in parts.items() if k != "backward+optimizer")
        figures["phases"][phase] = {"images_per_s": trainer.summary[f"{phase}_images_per_s"], "seconds": seconds,
                                    "parts": parts}
    return figures


def reference_images_per_s() -> float:
    """The pix2pix reference of benchmarks/benchmark_model.py (G + D step, 128², batch 16, native
    kernels): how fast this machine is today, against the figures other machines printed."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmark_model import Pix2PixPatchGAN, Pix2PixUNet, train_images_per_s

    torch.manual_seed(0)
    return train_images_per_s(Pix2PixUNet(128), Pix2PixPatchGAN(), 128, 16, 5, torch.device("cpu"), 100.0,
                              channels_last=False)


def run_child(setting: str, steps: int) -> dict:
    from chromastyle.numerics import CPU_ISA_ENV, environment

    env = {k: v for k, v in os.environ.items() if k not in CPU_ISA_ENV["avx2"]}
    env.update(environment(setting if setting != "reference" else "native"), OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run([sys.executable, __file__, "--child", setting, "--steps", str(steps)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per phase")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of native and avx2")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(2)
        if args.child == "reference":
            print(json.dumps({"pix2pix_128": reference_images_per_s()}))
        else:
            print(json.dumps(child(args.child, args.steps)))
        return
    results: dict[str, list[dict]] = {"native": [], "avx2": []}
    for _ in range(args.rounds):
        for setting in results:
            results[setting].append(run_child(setting, args.steps))
    reference = run_child("reference", 0)["pix2pix_128"]
    print(f"pix2pix reference (128², G+D, native kernels): {reference:.1f} img/s in this run")
    print(f"kernels: native = {results['native'][0]['capability']}, pinned = {results['avx2'][0]['capability']}; "
          f"{args.steps} steps per phase, {args.rounds} round(s), median shown")
    print(f"{'phase':<12} {'native img/s':>12} {'avx2 img/s':>11} {'avx2/native':>11}   share of the phase's time (avx2)")
    for phase in PHASES:
        rate = {s: statistics.median(r["phases"][phase]["images_per_s"] for r in results[s]) for s in results}
        parts = {part: statistics.median(r["phases"][phase]["parts"][part] / r["phases"][phase]["seconds"]
                                         for r in results["avx2"]) for part in PARTS}
        shares = "  ".join(f"{part} {share:.0%}" for part, share in parts.items() if share >= 0.005)
        print(f"{phase:<12} {rate['native']:>12.1f} {rate['avx2']:>11.1f} {rate['avx2'] / rate['native']:>11.2f}   {shares}")


if __name__ == "__main__":
    main()
