"""Smoke training, the NoGAN phases, resume-after-kill equality, device resolution. Tiny configs:
seconds each."""

import numpy as np
import pytest
import torch

from chromastyle.config import AugmentConfig, TrainConfig
from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer
from chromastyle.model.loss_network import efficientnet_network
from chromastyle.train.trainer import PHASES, Trainer, resolve_device
from conftest import photo

TINY = dict(device="cpu", image_size=32, batch_size=4, base_channels=8, checkpoint_every=2, sample_every=1000,
            log_every=1, work_side=32, encoder="scratch")


class Killed(Exception):
    pass


def make_trainer(tmp_path, cfg: TrainConfig, name="ckpt") -> Trainer:
    model_cfg = ModelConfig(base_channels=cfg.base_channels, work_side=cfg.work_side, encoder=cfg.encoder,
                            loss_network="efficientnet-lite0" if cfg.encoder != "scratch" else "random")
    encoder = efficientnet_network() if cfg.encoder != "scratch" else None
    torch.manual_seed(cfg.seed)  # as new_model: the same weights whatever ran before in this process
    colorizer = build_colorizer(model_cfg, pretrained=True)
    torch.manual_seed(cfg.seed)
    model = Chromastyle(model_cfg, encoder=encoder, colorizer=colorizer)
    images = np.stack([photo(i, size=(48, 48)) for i in range(6)])
    return Trainer(cfg, AugmentConfig(), model, images, images[:2], images[:2], tmp_path / name, "fp")


def state_of(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_smoke_training_lowers_the_l1_loss(tmp_path):
    cfg = TrainConfig(**TINY, finetune_steps=0, adversarial_steps=0, colorizer_steps=30, stylizer_steps=0,
                      adversarial_weight=0.0, lr_generator=2e-3)
    result = make_trainer(tmp_path, cfg).run()
    l1 = [row["g_l1"] for row in result.curve]
    assert np.mean(l1[-5:]) < np.mean(l1[:5])
    assert result.summary["colorizer_images_per_s"] > 0


def test_stylizer_phase_lowers_its_loss(tmp_path):
    cfg = TrainConfig(**TINY, finetune_steps=0, adversarial_steps=0, colorizer_steps=1, stylizer_steps=25, lr_stylizer=3e-3)
    result = make_trainer(tmp_path, cfg).run()
    losses = [row["stylizer_loss"] for row in result.curve if "stylizer_loss" in row]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_a_deeper_style_tap_adds_lite0s_16_stage_to_the_style_loss_only(tmp_path):
    cfg = TrainConfig(**{**TINY, "encoder": "efficientnet-lite0", "image_size": 64}, finetune_steps=0,
                      adversarial_steps=0, colorizer_steps=1, stylizer_steps=2, style_loss_stride=16)
    trainer = make_trainer(tmp_path, cfg)
    features = trainer.model.encoder(torch.rand(2, 3, 64, 64))
    taps = trainer._style_taps(features)
    assert [f.shape[-1] for f in taps] == [32, 16, 8, 4] and taps[-1].shape[1] == 112
    assert not any(p.requires_grad for p in trainer.style_extension.parameters())
    saved = set(trainer.model.state_dict())
    losses = [row["style_loss"] for row in trainer.run().curve if "style_loss" in row]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert set(trainer.model.state_dict()) == saved  # training only: the saved model has the same tensors
    fallback = make_trainer(tmp_path, TrainConfig(**TINY, style_loss_stride=16), name="random")
    assert fallback.style_extension is None  # the random loss network keeps its own taps (a warning says so)


@pytest.mark.parametrize("encoder, dies_in", [("scratch", "stylizer"), ("efficientnet-lite0", "finetune"),
                                             ("efficientnet-lite0", "adversarial")])
def test_resume_after_kill_gives_bit_identical_weights(tmp_path, encoder, dies_in):
    cfg = TrainConfig(**{**TINY, "encoder": encoder}, colorizer_steps=3, finetune_steps=4, adversarial_steps=4,
                      stylizer_steps=4, feature_loss_weight=0.5 if encoder != "scratch" else 0.0)
    uninterrupted = make_trainer(tmp_path, cfg, "a")
    uninterrupted.run()
    expected = state_of(uninterrupted)

    victim = make_trainer(tmp_path, cfg, "b")
    step_name = "_stylizer_step" if dies_in == "stylizer" else "_colorizer_step"
    original_step = getattr(victim, step_name)

    def dies_at_step_3(step):
        if victim.phase == dies_in and step == 3:
            raise Killed
        return original_step(step)

    setattr(victim, step_name, dies_at_step_3)
    with pytest.raises(Killed):
        victim.run()
    # A new process: fresh objects, different initial weights, only the checkpoint folder is shared.
    torch.manual_seed(999)
    resumed = make_trainer(tmp_path, cfg, "b")
    assert resumed.resume() and (resumed.phase, resumed.step) == (dies_in, 2)
    resumed.run()
    got = state_of(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_training_is_bit_reproducible(tmp_path):
    cfg = TrainConfig(**{**TINY, "encoder": "efficientnet-lite0"}, colorizer_steps=2, finetune_steps=2,
                      adversarial_steps=2, stylizer_steps=2)
    first, second = make_trainer(tmp_path, cfg, "a"), make_trainer(tmp_path, cfg, "b")
    first.run()
    second.run()
    assert all(torch.equal(a, b) for a, b in zip(state_of(first).values(), state_of(second).values()))


def test_the_encoder_is_frozen_first_then_fine_tuned(tmp_path):
    cfg = TrainConfig(**{**TINY, "encoder": "efficientnet-lite0"}, colorizer_steps=3, finetune_steps=0,
                      adversarial_steps=0, stylizer_steps=0, lr_generator=1e-2)
    trainer = make_trainer(tmp_path, cfg)
    encoder_before = [p.clone() for p in trainer.model.colorizer.encoder_parameters()]
    decoder_before = trainer.model.colorizer.out.weight.clone()
    trainer.run()
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, trainer.model.colorizer.encoder_parameters()))
    assert not torch.equal(decoder_before, trainer.model.colorizer.out.weight)

    cfg = cfg.model_copy(update={"finetune_steps": 2})
    trainer = make_trainer(tmp_path, cfg, "ft")
    trainer.run()
    assert not all(torch.equal(a, b) for a, b in zip(encoder_before, trainer.model.colorizer.encoder_parameters()))
    # BatchNorm of the pretrained encoder keeps its ImageNet statistics while fine-tuning.
    assert torch.equal(trainer.model.colorizer.encoder[1].running_mean,
                       make_trainer(tmp_path, cfg, "fresh").model.colorizer.encoder[1].running_mean)


def test_the_adversarial_phase_trains_the_discriminator_only_with_a_weight(tmp_path):
    base = dict(**TINY, colorizer_steps=1, finetune_steps=0, adversarial_steps=2, stylizer_steps=0)
    with_gan = make_trainer(tmp_path, TrainConfig(**base, adversarial_weight=0.5), "gan").run()
    l1_only = make_trainer(tmp_path, TrainConfig(**base, adversarial_weight=0.0), "l1").run()
    assert "d_loss" in with_gan.curve[-1] and "g_adv" in with_gan.curve[-1]
    assert "d_loss" not in l1_only.curve[-1]
    assert [row["phase"] for row in l1_only.curve] == [PHASES.index("colorizer")] + [PHASES.index("adversarial")] * 2


def test_checkpoint_of_other_params_is_not_resumed(tmp_path):
    cfg = TrainConfig(**TINY, finetune_steps=0, adversarial_steps=0, colorizer_steps=2, stylizer_steps=0)
    make_trainer(tmp_path, cfg).run()
    other = make_trainer(tmp_path, cfg)
    other.fingerprint = "other params"
    assert not other.resume()


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_step_runs_in_bf16(tmp_path):
    cfg = TrainConfig(**{**TINY, "device": "cuda"}, finetune_steps=0, adversarial_steps=0, colorizer_steps=3, stylizer_steps=2)
    result = make_trainer(tmp_path, cfg).run()
    assert np.isfinite(result.curve[-1]["stylizer_loss"])


def test_a_new_model_is_the_same_in_every_process():
    """The initial weights depend on params.train.seed alone, not on what the process did before
    (a library reseeding torch at import made two fresh runs train different models)."""
    import subprocess
    import sys

    code = ("import hashlib, torch\n"
            "from chromastyle.config import Params\n"
            "from chromastyle.train.run import new_model\n"
            "torch.seed()  # whatever state the process's RNG is in\n"
            "digest = hashlib.sha256()\n"
            "for key, value in sorted(new_model(Params()).state_dict().items()):\n"
            "    digest.update(value.numpy().tobytes())\n"
            "print(digest.hexdigest())\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64


def test_a_change_of_training_code_starts_a_fresh_run(tmp_path, monkeypatch):
    from chromastyle.config import Params
    from chromastyle.train import run

    params = Params()
    before = run.training_fingerprint(params, "data")
    assert before == run.training_fingerprint(params, "data")
    monkeypatch.setattr(run, "training_code_version", lambda: "edited")
    assert run.training_fingerprint(params, "data") != before


def test_loss_curves_keep_their_columns_and_each_part_counts_its_own_steps(tmp_path, monkeypatch):
    """`dvc plots diff main <exp>` needs every field in every revision (an L1-only run logs no g_adv)
    and x values that line up between runs with other phase lengths."""
    import pandas as pd

    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    from flows import train as train_flow

    monkeypatch.setattr(train_flow, "METRICS_DIR", tmp_path)
    curve = [{"phase": 0, "step": 10, "g_l1": 0.5, "g_loss": 5.0}, {"phase": 0, "step": 20, "g_l1": 0.4, "g_loss": 4.0},
             {"phase": 3, "step": 30, "style_loss": 1.0, "content_loss": 0.5, "reconstruction_l1": 0.2,
              "stylizer_loss": 21.0}]
    train_flow.write_curves(curve, {"colorizer": 20, "finetune": 0, "adversarial": 0, "stylizer": 10})
    colorizer = pd.read_csv(tmp_path / "colorizer_curve.csv")
    stylizer = pd.read_csv(tmp_path / "stylizer_curve.csv")
    assert {"g_l1", "g_adv", "d_loss"} <= set(colorizer.columns) and colorizer["g_adv"].isna().all()
    assert list(colorizer["step"]) == [10, 20]
    assert list(stylizer["step"]) == [10] and stylizer["style_loss"].tolist() == [1.0]


def test_the_stylizer_trains_on_crops_of_its_own_size(tmp_path):
    cfg = TrainConfig(**TINY, finetune_steps=0, adversarial_steps=0, colorizer_steps=1, stylizer_steps=2,
                      stylizer_image_size=48)
    trainer = make_trainer(tmp_path, cfg)
    seen = []
    painter = trainer._painter.forward
    trainer._painter.forward = lambda content, *rest: seen.append(content.shape[-1]) or painter(content, *rest)
    trainer.run()
    assert seen == [48, 48]
    assert trainer._batch(trainer.train_images, 0, stream=0).shape[-1] == 32  # the colouriser's stay image_size


def test_the_gram_style_loss_sees_channel_correlations_the_statistics_miss():
    from chromastyle.model.stylizer import relative_gram_style_loss, relative_style_loss

    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 1, 16, 16, generator=generator)
    b = (b - b.mean()) / b.std() * a.std() + a.mean()  # exactly a's mean and std
    style = [torch.cat([a, a], dim=1)]  # two channels that move together
    output = [torch.cat([a, b], dim=1)]  # the same per-channel statistics, independent channels
    assert relative_style_loss(output, style) < 1e-4
    assert relative_gram_style_loss(output, style) > 0.5
    assert relative_gram_style_loss(style, style) == 0
    rescaled = relative_gram_style_loss([output[0] * 50], [style[0] * 50])
    assert rescaled == pytest.approx(relative_gram_style_loss(output, style).item(), rel=1e-4)
