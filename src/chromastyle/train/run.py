"""Train stage entry: prepared data + gallery -> trained integrated model folder + summary.

After the training phases, the chroma gain is calibrated on the validation split (whole photos at
their own size, read from data/raw): the one post-hoc choice, made on validation data only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import yaml

from chromastyle.config import Params
from chromastyle.data.cutouts import load_cutouts
from chromastyle.data.prepare import load_originals, load_split
from chromastyle.data.styles import load_gallery_crops
from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer
from chromastyle.model.loss_network import build_loss_network
from chromastyle.train.calibrate import calibrate_chroma_gain
from chromastyle.train.checkpoint import fingerprint
from chromastyle.train.distributed import Distributed
from chromastyle.train.trainer import Tracker, Trainer, TrainResult

log = logging.getLogger(__name__)

PREVIEW_IMAGES = 4
MAX_CALIBRATION_PHOTOS = 200


def new_model(params: Params) -> Chromastyle:
    """Seeded construction: the same params give the same initial weights on every machine (the
    pretrained encoders load their ImageNet weights from the installed package)."""
    loss_net = build_loss_network(params.loss_network.vgg19_path, params.loss_network.allow_download,
                                  params.loss_network.random_seed, params.loss_network.kind)
    gain = params.train.chroma_gain
    cfg = ModelConfig(base_channels=params.train.base_channels, work_side=params.train.work_side,
                      encoder=params.train.encoder, chroma_gain=1.0 if gain == "calibrate" else gain,
                      style_work_side=params.train.style_work_side, loss_network=loss_net.spec.kind,
                      loss_network_source=loss_net.spec.source, random_seed=params.loss_network.random_seed,
                      palette_transfer=params.train.palette_transfer, palette_bands=params.train.palette_bands,
                      style_strength=params.train.style_strength, decoder_width=params.train.decoder_width,
                      decoder_padding=params.train.decoder_padding, hints=params.train.hints)
    # Seeded before anything random is drawn: the colouriser's new (decoder) layers are initialised
    # while it is built, and the process's RNG state before that is not ours to rely on.
    torch.manual_seed(params.train.seed)
    colorizer = build_colorizer(cfg, pretrained=True)
    torch.manual_seed(params.train.seed)
    return Chromastyle(cfg, encoder=loss_net, colorizer=colorizer)


def build_trainer(params: Params, prepared_dir: Path, checkpoint_dir: Path, tracker: Tracker | None = None,
                  data_hash: str = "", distributed: Distributed | None = None) -> Trainer:
    train_images, _ = load_split(prepared_dir, "train")
    preview, _ = load_split(prepared_dir, "val")
    if len(preview) == 0:
        preview = train_images
    styles, style_names = load_gallery_crops(params.data.styles, params.data.prepared_size)
    cutouts = load_cutouts(params.data.cutouts) if params.augment.cutout_p > 0 else None
    return Trainer(params.train, params.augment, new_model(params), train_images, styles,
                   np.ascontiguousarray(preview[:PREVIEW_IMAGES]), checkpoint_dir,
                   training_fingerprint(params, data_hash), tracker, style_names, distributed, cutouts)


def training_fingerprint(params: Params, data_hash: str) -> str:
    """Identity of a training run: a checkpoint or MLflow run is resumed only under the same one
    (same params, same data, same training code — a fixed bug must not resume the buggy run).
    How many processes share the work is not part of it: N processes train the same model as one."""
    return fingerprint(params.train.model_dump(exclude={"processes"}), params.augment.model_dump(),
                       params.numerics.model_dump(),
                       params.loss_network.model_dump(mode="json"), data_hash, training_code_version())


def training_code_files(root: Path | None = None) -> list[Path]:
    """The train stage's code deps in dvc.yaml (the one list of them), as .py files: the code that
    decides what training produces. Without a project around the package, the whole package."""
    from chromastyle.project import find_project_root

    package = Path(__file__).resolve().parent.parent
    root = root or find_project_root(package)
    if root is None or not (root / "dvc.yaml").is_file():
        return sorted(package.rglob("*.py"))
    deps = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["train"]["deps"]
    files: set[Path] = set()
    for dep in (root / str(d) for d in deps if str(d).startswith("src/")):
        files |= {dep.resolve()} if dep.is_file() else {p.resolve() for p in dep.rglob("*.py")}
    return sorted(files)


def training_code_version() -> str:
    """Hash of the training code (training_code_files): a checkpoint of other code is never resumed."""
    package = Path(__file__).resolve().parent.parent
    return fingerprint([(f.relative_to(package).as_posix(), f.read_text()) for f in training_code_files()])


def train(params: Params, prepared_dir: Path, model_dir: Path, checkpoint_dir: Path,
          tracker: Tracker | None = None, data_hash: str = "", raw_dir: Path | None = None,
          distributed: Distributed | None = None) -> TrainResult:
    """Resume or start training, calibrate the chroma gain on the validation photos in raw_dir,
    write model_dir (safetensors + config.json), return the result. Under torchrun every rank
    trains; rank 0 alone calibrates and writes."""
    trainer = build_trainer(params, prepared_dir, checkpoint_dir, tracker, data_hash, distributed)
    trainer.resume()
    result = trainer.run()
    if distributed is not None and not distributed.is_main:
        return result
    if params.train.chroma_gain == "calibrate" and raw_dir is not None:
        photos, _ = load_originals(raw_dir, prepared_dir, "val", limit=MAX_CALIBRATION_PHOTOS)
        _, table = calibrate_chroma_gain(result.model, photos, params.train.max_chroma_gain,
                                         params.train.calibration_max_delta_cf, min_gain=params.train.min_chroma_gain)
        result.calibration = table
        result.summary["chroma_gain"] = result.model.cfg.chroma_gain
    result.model.save(model_dir)
    log.info("saved model to %s", model_dir)
    return result
