"""Training in four phases — the colouriser "NoGAN" recipe (DeOldify), then the stylizer:

1. colorizer:   L1 (+ feature loss in the frozen loss network) with the pretrained encoder frozen:
                the decoder learns to paint from fixed ImageNet features (fast: no encoder backward).
2. finetune:    the same loss with the encoder unfrozen: decoder at lr_finetune, encoder at lr_encoder.
3. adversarial: a short conditional-GAN phase (PatchGAN, LSGAN) that adds the vividness L1 averages
                away; adversarial_weight 0 makes it more of phase 2 (the L1-only ablation, same steps).
4. stylizer:    the AdaIN decoder against the loss network.
A scratch encoder has nothing to freeze: phase 1 trains everything and phase 2 continues at the
lower rate, so the ablation differs in the encoder only.

No orchestration here: the caller passes data arrays, a tracker (MLflow or nothing) and a
checkpoint folder. Every random draw is addressed by (seed, step), model init by the seed, and
every state (weights, optimisers, BatchNorm and spectral-norm buffers, RNG) is in the
checkpoint, so a killed run resumes and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from chromastyle.colour import AB_SCALE, l_ab_to_rgb, normalize_l, rgb_to_l_ab, tensor_to_uint8
from chromastyle.config import AugmentConfig, TrainConfig
from chromastyle.data.augment import build_augmentation, sample_batch, step_rng
from chromastyle.data.cutouts import paste_cutouts
from chromastyle.metrics.grid import image_grid
from chromastyle.model.colorizer import PatchDiscriminator
from chromastyle.model.hints import draw_hint_plan, render_plan, shard_plan
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.loss_network import deeper_style_layers
from chromastyle.model.stylizer import adain, relative_content_loss, relative_gram_style_loss, relative_style_loss
from chromastyle.train.checkpoint import load_checkpoint, save_checkpoint
from chromastyle.train.distributed import Distributed, convert_batchnorm

log = logging.getLogger(__name__)

PHASES = ("colorizer", "finetune", "adversarial", "stylizer")
GENERATOR_BETAS = (0.9, 0.99)
COLORIZER_PHASES = PHASES[:3]
SCALAR_LR_FACTOR = 10.0
HINT_STREAM = 3  # step_rng stream of the simulated hints (0: content batch, 1: style batch, 2: stylizer content)
CUTOUT_STREAM = 4  # step_rng stream of the pasted cut-outs (augment.cutout_p)


class Tracker(Protocol):
    """Where metrics and images go (MLflow in the pipeline, nothing in unit tests)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_image(self, image: np.ndarray, name: str) -> None: ...


class NullTracker:
    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_image(self, image: np.ndarray, name: str) -> None:
        pass


@dataclass
class TrainResult:
    model: Chromastyle
    summary: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    calibration: list[dict[str, float]] = field(default_factory=list)  # chroma gain -> validation figures


def resolve_device(choice: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error, not a silent CPU run."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def lsgan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017): smoother gradients than BCE when D is confident."""
    return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))


class StylizerHead(nn.Module):
    """The decoder's training pass as one module call (x + D(H_SF) − D(H_S), and D(H_S) for the
    reconstruction loss): under DDP a module runs one forward per backward."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, content: torch.Tensor, h_content: torch.Tensor, h_fused: torch.Tensor):
        reconstruction = self.decoder(h_content)
        return content + self.decoder(h_fused) - reconstruction, reconstruction


class Trainer:
    def __init__(self, cfg: TrainConfig, augment_cfg: AugmentConfig, model: Chromastyle,
                 train_images: np.ndarray, style_images: np.ndarray, preview_images: np.ndarray,
                 checkpoint_dir: Path, fingerprint: str, tracker: Tracker | None = None,
                 style_names: list[str] | None = None, distributed: Distributed | None = None,
                 cutouts: list[np.ndarray] | None = None):
        self.cfg = cfg
        self.augment_cfg = augment_cfg
        self.cutouts = cutouts or []
        if augment_cfg.cutout_p > 0 and not self.cutouts:
            raise ValueError("augment.cutout_p > 0 needs cut-outs (data.cutouts)")
        self.dist = distributed or Distributed()
        self.device = self.dist.device(resolve_device(cfg.device))
        if self.device.type == "cpu":  # ranks on one CPU share its cores
            torch.set_num_threads(max(1, cfg.threads // self.dist.world_size))
        # channels_last measured 1.5× faster here on CPU at 64² and is the fast path on CUDA.
        self.memory_format = torch.channels_last
        if self.dist.enabled:  # batch statistics over the global batch, as one process would see them
            model.colorizer = convert_batchnorm(model.colorizer, self.device)
        self.model = model.to(self.device, memory_format=self.memory_format)
        torch.manual_seed(cfg.seed)
        self.discriminator = PatchDiscriminator(cfg.base_channels).to(self.device, memory_format=self.memory_format)
        self.opt_g = self._generator_optimizer()
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_discriminator,
                                      betas=(cfg.beta1, 0.999))
        self.opt_s = torch.optim.Adam(self.model.decoder.parameters(), lr=cfg.lr_stylizer)
        self.train_images = train_images
        self.style_images = style_images
        self.style_names = style_names or []
        self.preview_images = preview_images
        self.augment = build_augmentation(augment_cfg, cfg.image_size)
        self.stylizer_augment = build_augmentation(augment_cfg, cfg.stylizer_image_size or cfg.image_size)
        self.checkpoint_dir = checkpoint_dir
        self.fingerprint = fingerprint
        self.tracker = (tracker or NullTracker()) if self.dist.is_main else NullTracker()
        # What the training steps call: the modules themselves, or their DDP wrappers (per phase).
        self._generator: nn.Module = self.model.colorizer
        self._critic: nn.Module = self.dist.wrap(self.discriminator, self.device)
        self._painter: nn.Module = self.dist.wrap(StylizerHead(self.model.decoder), self.device)
        self.style_extension = deeper_style_layers(self.model.encoder, cfg.style_loss_stride)
        if self.style_extension is not None:
            self.style_extension.to(self.device, memory_format=self.memory_format)
        self._style_loss = relative_gram_style_loss if cfg.style_loss == "gram" else relative_style_loss
        self.curve: list[dict[str, float]] = []
        self.summary: dict[str, float] = {}
        self.phase, self.step = PHASES[0], 0
        self.steps = {"colorizer": cfg.colorizer_steps, "finetune": cfg.finetune_steps,
                      "adversarial": cfg.adversarial_steps, "stylizer": cfg.stylizer_steps}

    # -- public -------------------------------------------------------------------------------
    def resume(self) -> bool:
        """Load the last matching checkpoint; True when there was one."""
        state = load_checkpoint(self.checkpoint_dir, self.fingerprint)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.discriminator.load_state_dict(state["discriminator"])
        for name in ("opt_g", "opt_d", "opt_s"):
            getattr(self, name).load_state_dict(state[name])
        torch.set_rng_state(state["torch_rng"])
        self.phase, self.step = state["phase"], int(state["step"])
        self.curve = json.loads(state["curve"])
        self.summary = json.loads(state["summary"])
        return True

    def run(self) -> TrainResult:
        for phase in PHASES[PHASES.index(self.phase):]:
            if phase != self.phase:
                self.phase, self.step = phase, 0
                if phase == "finetune":
                    # Fresh moments once the encoder joins: those of the frozen phase describe another problem.
                    self.opt_g = self._generator_optimizer()
            self._run_phase(phase, self.steps[phase])
        self.model.eval()
        return TrainResult(self.model.to("cpu", memory_format=torch.contiguous_format), self.summary, self.curve)

    # -- phases -------------------------------------------------------------------------------
    def _generator_optimizer(self) -> torch.optim.Adam:
        """Adam over two groups: the decoder (and a scratch encoder), then the pretrained encoder.
        β = (0.9, 0.99) in every phase, also the adversarial one: with pix2pix's β1 = 0.5 for G the
        validation photos came out more colourful but 0.75 dB less faithful (PSNR 20.40 vs 21.15)."""
        encoder_ids = {id(p) for p in self.model.colorizer.encoder_parameters()}
        scalars = [p for p in self.model.colorizer.parameters() if p.dim() == 0]  # a hint model's GuidedHead
        scalar_ids = {id(p) for p in scalars}
        groups = [{"params": [p for p in self.model.colorizer.parameters()
                              if id(p) not in encoder_ids and id(p) not in scalar_ids]},
                  {"params": self.model.colorizer.encoder_parameters()}]
        if scalars:
            groups.append({"params": scalars})
        return torch.optim.Adam(groups, lr=self.cfg.lr_generator, betas=GENERATOR_BETAS)

    def _configure_phase(self, phase: str) -> None:
        """Which parameters train and at what rate: a function of the phase alone, so a resumed run
        is configured exactly as the uninterrupted one was."""
        cfg = self.cfg
        unfrozen = phase in ("finetune", "adversarial")
        for parameter in self.model.colorizer.encoder_parameters():
            parameter.requires_grad_(unfrozen)
        # Discriminative rates (DeOldify): pretrained features move less than the decoder painting on them.
        decoder_lr, encoder_lr = (cfg.lr_finetune, cfg.lr_encoder) if unfrozen else (cfg.lr_generator, 0.0)
        # The guided head's scalars (how far hints reach, how strongly a palette pulls) at SCALAR_LR_FACTOR×:
        # at the decoder's rate they moved a tenth of the way in 650 steps (validation, seed 42).
        for group, lr in zip(self.opt_g.param_groups, (decoder_lr, encoder_lr, SCALAR_LR_FACTOR * decoder_lr)):
            group["lr"] = lr

    def _run_phase(self, phase: str, total: int) -> None:
        step_fn = self._stylizer_step if phase == "stylizer" else self._colorizer_step
        if phase != "stylizer":
            self._configure_phase(phase)
            # DDP registers the parameters that require gradients when it is built: rebuilt per phase,
            # as the encoder is frozen in one and trained in the next.
            self._generator = self.dist.wrap(self.model.colorizer, self.device)
        self.model.train()
        started, first = time.perf_counter(), self.step
        # A bar on a terminal; without one (dvc repro in CI, a log file) a plain line every 10 %.
        on_terminal = sys.stderr.isatty() and self.dist.is_main
        bar = tqdm(range(self.step, total), desc=phase, unit="step", initial=self.step, total=total,
                   mininterval=5.0, disable=not on_terminal)
        if self.step < total:  # learning rates change only at phase boundaries: logged there, not every step
            self.tracker.log_metrics(self._learning_rates(phase), self._global_step())
        for step in bar:
            losses = step_fn(step)
            self.step = step + 1
            if self.step % self.cfg.log_every == 0 or self.step == total:
                row = {"phase": PHASES.index(phase), "step": self._global_step(), **losses}
                self.curve.append(row)
                self.tracker.log_metrics({f"{phase}/{k}": v for k, v in losses.items()}, self._global_step())
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if self.dist.is_main and not on_terminal and (self.step % max(1, total // 10) == 0 or self.step == total):
                log.info("%s step %d/%d  %s", phase, self.step, total,
                         "  ".join(f"{k} {v:.3f}" for k, v in losses.items()))
            if self.dist.is_main and (self.step % self.cfg.sample_every == 0 or self.step == total):
                self._log_preview(f"samples/step{self._global_step():06d}_{phase}.png")
            if self.step % self.cfg.checkpoint_every == 0 or self.step == total:
                self.save()
        done = self.step - first
        if done:
            seconds = time.perf_counter() - started
            rate = done * (self.cfg.stylizer_batch_size if phase == "stylizer" else self.cfg.batch_size) / seconds
            self.summary[f"{phase}_images_per_s"] = rate
            self.summary[f"{phase}_minutes"] = self.summary.get(f"{phase}_minutes", 0.0) + seconds / 60
            log.info("%s phase: %d steps at %.1f images/s", phase, done, rate)

    def _learning_rates(self, phase: str) -> dict[str, float]:
        if phase == "stylizer":
            return {"stylizer/lr_stylizer": self.opt_s.param_groups[0]["lr"]}
        rates = {f"{phase}/lr_generator": self.opt_g.param_groups[0]["lr"]}
        if phase == "adversarial":
            rates[f"{phase}/lr_discriminator"] = self.opt_d.param_groups[0]["lr"]
        return rates

    def _phase_offset(self, phase: str) -> int:
        return sum(self.steps[p] for p in PHASES[:PHASES.index(phase)])

    def _global_step(self) -> int:
        return self._phase_offset(self.phase) + self.step

    def _batch(self, images: np.ndarray, step: int, stream: int, size: int | None = None,
               augment=None) -> torch.Tensor:
        """This rank's share of the step's seeded global batch (all of it in a single process)."""
        batch = sample_batch(images, size or self.cfg.batch_size, self.cfg.seed, step, augment or self.augment, stream)
        if stream == 0 and self.augment_cfg.cutout_p > 0:  # the colouriser's crops only; the global batch, then shard
            batch = paste_cutouts(batch, self.cutouts, step_rng(self.cfg.seed, step, CUTOUT_STREAM),
                                  self.augment_cfg.cutout_p, self.augment_cfg.cutout_scale)
        return self.dist.shard(batch).to(self.device).contiguous(memory_format=self.memory_format)

    def _autocast(self):
        # bf16 only on CUDA: this CPU has no fast bf16 (0.3 GFLOP/s measured).
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _colorizer_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        # Batches are addressed by the step counted over all colouriser phases: no phase repeats another's.
        batch_step = self._phase_offset(self.phase) + step
        rgb = self._batch(self.train_images, batch_step, stream=0)
        lightness, ab = rgb_to_l_ab(rgb)
        l_in, ab_target = normalize_l(lightness), ab / AB_SCALE
        adversarial = self.phase == "adversarial" and cfg.adversarial_weight > 0
        with self._autocast():
            ab_pred = self._generator(l_in, *self._simulated_hints(ab_target, batch_step)) if cfg.hints \
                else self._generator(l_in)
        losses = {}
        if adversarial:
            with self._autocast():  # real and fake in one pass: one forward per backward, as DDP needs
                real, fake = self._critic(torch.cat([l_in, l_in]), torch.cat([ab_target, ab_pred.detach()])).chunk(2)
                d_loss = 0.5 * (lsgan_loss(real, True) + lsgan_loss(fake, False))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            losses["d_loss"] = d_loss.item()
        with self._autocast():
            l1 = F.l1_loss(ab_pred.float(), ab_target)
            g_loss = cfg.l1_weight * l1
            if cfg.feature_loss_weight > 0:
                feature = self._feature_loss(lightness, ab_pred.float(), rgb)
                g_loss = g_loss + cfg.feature_loss_weight * feature
                losses["g_feature"] = feature.item()
            if adversarial:  # the critic's own weights are not stepped here: no need for its DDP wrapper
                adv = lsgan_loss(self.discriminator(l_in, ab_pred), True)
                g_loss = g_loss + cfg.adversarial_weight * adv
                losses["g_adv"] = adv.item()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        losses.update(g_l1=l1.item(), g_loss=g_loss.item())
        return self._mean_over_ranks(losses)

    def _simulated_hints(self, ab_target: torch.Tensor, batch_step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's simulated user hints and palettes (chromastyle.model.hints), drawn for the global
        batch from (seed, step) like the batch itself, so a resumed or distributed run draws the same."""
        cfg = self.cfg
        plan = draw_hint_plan(step_rng(cfg.seed, batch_step, HINT_STREAM), cfg.batch_size, cfg.image_size,
                              cfg.hint_none_p, cfg.hint_mean_points, cfg.hint_max_points, cfg.hint_max_radius,
                              cfg.hint_palette_p)
        return render_plan(ab_target, shard_plan(plan, self.dist.shard))

    def _feature_loss(self, lightness: torch.Tensor, ab_pred: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """Mean L1 between loss-network features of the colourised and the true photo (DeOldify's
        perceptual loss): colour errors weigh by what they do to recognisable content."""
        encoder = self.model.encoder
        predicted = l_ab_to_rgb(lightness, ab_pred * AB_SCALE)
        with torch.no_grad():
            target = encoder(rgb)
        return sum(F.l1_loss(p, t) for p, t in zip(encoder(predicted), target)) / len(target)

    def _stylizer_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        encoder = self.model.encoder
        self.model.colorizer.eval()
        content = self._batch(self.train_images, step, stream=2, size=cfg.stylizer_batch_size,
                              augment=self.stylizer_augment)
        style = self._batch(self.style_images, step, stream=1, size=cfg.stylizer_batch_size, augment=self.stylizer_augment)
        with torch.no_grad(), self._autocast():
            content_features = encoder(content)
            style_features = encoder(style)
            target = adain(content_features[-1], style_features[-1])
        with self._autocast():
            output, reconstruction = self._painter(content, content_features[-1], target)
            output_features = encoder(output)
            loss_c = relative_content_loss(output_features[-1].float(), target.float())
            style_taps, output_taps = self._style_taps(style_features), self._style_taps(output_features)
            loss_s = self._style_loss([f.float() for f in output_taps], [f.float() for f in style_taps])
            loss_r = F.l1_loss(reconstruction.float(), content)
            loss = cfg.content_weight * loss_c + cfg.style_weight * loss_s + cfg.reconstruction_weight * loss_r
        self.opt_s.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_s.step()
        return self._mean_over_ranks({"content_loss": loss_c.item(), "style_loss": loss_s.item(),
                                      "reconstruction_l1": loss_r.item(), "stylizer_loss": loss.item()})

    def _style_taps(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The loss network's taps, plus the deeper one of train.style_loss_stride when it has one."""
        if self.style_extension is None:
            return features
        return [*features, self.style_extension(features[-1])]

    def _mean_over_ranks(self, losses: dict[str, float]) -> dict[str, float]:
        """Each rank's losses are means over its shard; the logged figure is the global batch's."""
        if not self.dist.enabled:
            return losses
        values = torch.tensor(list(losses.values()), dtype=torch.float64)
        torch.distributed.all_reduce(values)
        return dict(zip(losses, (values / self.dist.world_size).tolist()))

    # -- previews and checkpoints ---------------------------------------------------------------
    @torch.no_grad()
    def _log_preview(self, name: str) -> None:
        was_training = self.model.training
        self.model.eval()
        rgb = torch.from_numpy(self.preview_images).permute(0, 3, 1, 2).float().div(255).to(self.device)
        lightness, _ = rgb_to_l_ab(rgb)
        gray = l_ab_to_rgb(lightness, torch.zeros_like(rgb[:, :2]))
        predicted = self.model.colorize(lightness)
        columns, titles = [gray, predicted, rgb], ["input L", "colourised", "ground truth"]
        if self.phase == "stylizer":
            for index in range(min(2, len(self.style_images))):
                style = torch.from_numpy(self.style_images[index:index + 1]).permute(0, 3, 1, 2).float().div(255)
                columns.append(self.model.stylize(predicted, [style.to(self.device)], alpha=1.0))
                titles.append(self.style_names[index] if index < len(self.style_names) else f"style {index + 1}")
        self.tracker.log_image(image_grid([tensor_to_uint8(c) for c in columns], titles), name)
        self.model.train(was_training)

    def save(self) -> None:
        if not self.dist.is_main:  # every rank holds the same weights; one writes them
            return
        save_checkpoint(self.checkpoint_dir, {
            "fingerprint": self.fingerprint, "phase": self.phase, "step": self.step,
            "model": self.model.state_dict(), "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "opt_s": self.opt_s.state_dict(),
            "torch_rng": torch.get_rng_state(), "curve": json.dumps(self.curve),
            "summary": json.dumps(self.summary),
        })
