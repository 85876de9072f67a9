"""Smoke training, resume-after-kill equality, device resolution. Tiny configs: seconds each."""

import numpy as np
import pytest
import torch

from chromastyle.config import AugmentConfig, TrainConfig
from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.train.trainer import Trainer, resolve_device
from conftest import photo

TINY = dict(device="cpu", image_size=32, batch_size=4, base_channels=8, checkpoint_every=2, sample_every=1000,
            log_every=1, work_side=32)


class Killed(Exception):
    pass


def make_trainer(tmp_path, cfg: TrainConfig, name="ckpt") -> Trainer:
    torch.manual_seed(cfg.seed)
    model = Chromastyle(ModelConfig(base_channels=cfg.base_channels, work_side=cfg.work_side))
    images = np.stack([photo(i, size=(48, 48)) for i in range(6)])
    return Trainer(cfg, AugmentConfig(), model, images, images[:2], images[:2], tmp_path / name, "fp")


def state_of(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_smoke_training_lowers_the_l1_loss(tmp_path):
    cfg = TrainConfig(**TINY, colorizer_steps=30, stylizer_steps=0, adversarial_weight=0.0, lr_generator=2e-3)
    result = make_trainer(tmp_path, cfg).run()
    l1 = [row["g_l1"] for row in result.curve]
    assert np.mean(l1[-5:]) < np.mean(l1[:5])
    assert result.summary["colorizer_images_per_s"] > 0


def test_stylizer_phase_lowers_its_loss(tmp_path):
    cfg = TrainConfig(**TINY, colorizer_steps=1, stylizer_steps=25, lr_stylizer=3e-3)
    result = make_trainer(tmp_path, cfg).run()
    losses = [row["stylizer_loss"] for row in result.curve if "stylizer_loss" in row]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_resume_after_kill_gives_bit_identical_weights(tmp_path):
    cfg = TrainConfig(**TINY, colorizer_steps=6, stylizer_steps=4)
    uninterrupted = make_trainer(tmp_path, cfg, "a")
    uninterrupted.run()
    expected = state_of(uninterrupted)

    victim = make_trainer(tmp_path, cfg, "b")
    original_step = victim._stylizer_step

    def dies_at_stylizer_step_3(step):
        if step == 3:
            raise Killed
        return original_step(step)

    victim._stylizer_step = dies_at_stylizer_step_3
    with pytest.raises(Killed):
        victim.run()
    # A new process: fresh objects, different initial weights, only the checkpoint folder is shared.
    torch.manual_seed(999)
    resumed = make_trainer(tmp_path, cfg, "b")
    assert resumed.resume() and (resumed.phase, resumed.step) == ("stylizer", 2)
    resumed.run()
    got = state_of(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_checkpoint_of_other_params_is_not_resumed(tmp_path):
    cfg = TrainConfig(**TINY, colorizer_steps=2, stylizer_steps=0)
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
    cfg = TrainConfig(**{**TINY, "device": "cuda"}, colorizer_steps=3, stylizer_steps=2)
    result = make_trainer(tmp_path, cfg).run()
    assert np.isfinite(result.curve[-1]["stylizer_loss"])
