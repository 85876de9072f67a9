"""Cut-outs pasted onto training crops (augment.cutout_p): loading with clear errors, compositing by
alpha, seeded draws, and a default run that draws nothing."""

import numpy as np
import pytest
import torch
from PIL import Image

from chromastyle.config import AugmentConfig, TrainConfig
from chromastyle.data.cutouts import load_cutouts, paste_cutouts
from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.train.trainer import Trainer
from conftest import photo


def red_disc(side: int = 40) -> np.ndarray:
    """An opaque red disc on a transparent square."""
    ys, xs = np.mgrid[:side, :side]
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = np.where((ys - side / 2) ** 2 + (xs - side / 2) ** 2 < (side / 2) ** 2, 255, 0)
    return rgba


def test_cut_outs_load_as_rgba_and_bad_ones_are_refused_by_name(tmp_path):
    Image.fromarray(red_disc()).save(tmp_path / "disc.png")
    (tmp_path / "CREDITS.tsv").write_text("file\tlicence\n")
    assert [c.shape for c in load_cutouts(tmp_path)] == [(40, 40, 4)]
    Image.fromarray(photo(0, size=(32, 32))).save(tmp_path / "opaque.png")
    with pytest.raises(ValueError, match="opaque.png: a cut-out needs an alpha channel"):
        load_cutouts(tmp_path)
    (tmp_path / "opaque.png").unlink()
    Image.fromarray(np.zeros((32, 32, 4), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(ValueError, match="empty.png: less than 5% of the cut-out is opaque"):
        load_cutouts(tmp_path)
    with pytest.raises(FileNotFoundError, match="cut-out folder not found"):
        load_cutouts(tmp_path / "missing")


def test_a_pasted_cut_out_shows_where_it_is_opaque_and_the_crop_elsewhere():
    batch = torch.zeros(3, 3, 64, 64)
    batch[:, 2] = 1.0  # blue crops
    out = paste_cutouts(batch, [red_disc()], np.random.default_rng(0), p=1.0, scale=(0.5, 0.5))
    for crop in out:
        red = (crop[0] > 0.99) & (crop[2] < 0.01)
        blue = (crop[2] > 0.99) & (crop[0] < 0.01)
        # a disc of diameter 32 px: π·16² ≈ 804 px, less the bilinear rim
        assert 650 < int(red.sum()) < 850 and int(blue.sum()) > 64 * 64 - 1000
    assert torch.equal(batch[:, 2], torch.ones(3, 64, 64))  # the input batch is not changed in place
    again = paste_cutouts(batch, [red_disc()], np.random.default_rng(0), p=1.0, scale=(0.5, 0.5))
    assert torch.equal(out, again)  # seeded: a resumed run pastes the same
    assert torch.equal(paste_cutouts(batch, [red_disc()], np.random.default_rng(0), p=0.0, scale=(0.5, 0.5)), batch)


def trainer(tmp_path, cutout_p: float, cutouts=None) -> Trainer:
    cfg = TrainConfig(device="cpu", image_size=32, batch_size=8, base_channels=8, work_side=32, encoder="scratch",
                      hints=False, colorizer_steps=1, finetune_steps=0, adversarial_steps=0, stylizer_steps=0)
    torch.manual_seed(0)
    model = Chromastyle(ModelConfig(base_channels=8, work_side=32))
    images = np.stack([photo(i, size=(48, 48)) for i in range(6)])
    return Trainer(cfg, AugmentConfig(cutout_p=cutout_p), model, images, images[:2], images[:2], tmp_path / "c",
                   "fp", cutouts=cutouts)


def test_cut_outs_change_the_colouriser_batches_only_when_asked(tmp_path):
    plain = trainer(tmp_path, 0.0)
    pasted = trainer(tmp_path, 1.0, [red_disc()])
    images = plain.train_images
    assert torch.equal(plain._batch(images, 5, stream=0), trainer(tmp_path, 0.0)._batch(images, 5, stream=0))
    assert not torch.equal(plain._batch(images, 5, stream=0), pasted._batch(images, 5, stream=0))
    assert torch.equal(plain._batch(images, 5, stream=2), pasted._batch(images, 5, stream=2))  # the stylizer's
    with pytest.raises(ValueError, match="cutout_p > 0 needs cut-outs"):
        trainer(tmp_path, 0.5)


def test_the_cut_out_scale_must_be_a_range_within_the_crop():
    with pytest.raises(ValueError, match="cutout_scale"):
        AugmentConfig(cutout_scale=(0.8, 0.4))
    with pytest.raises(ValueError, match="cutout_scale"):
        AugmentConfig(cutout_scale=(0.0, 0.5))
