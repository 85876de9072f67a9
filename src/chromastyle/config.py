"""params.yaml -> typed, validated config objects. The one place that reads params.yaml.

Every stage receives the section it needs as an argument; a wrong value fails here, before any
work starts, with a message naming the key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


DEFAULT_ALPHA = 0.7  # content/style trade-off when a caller does not say: the CLI's and the service's


class ConfigError(ValueError):
    """params.yaml is missing, unreadable, or holds a value that is not allowed."""


class _Section(BaseModel):
    # Unknown keys are typos that would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    source: list[Path] = [Path("data/sample"), Path("data/extra")]  # one folder or a list of folders
    styles: Path = Path("data/styles")
    cutouts: Path = Path("data/cutouts")  # RGBA object photos pasted onto training crops (augment.cutout_p)
    validation_sources: list[str] = ["kphotoalbum", "lomiri", "plasma"]  # held out whole: never trained on
    split_val: float = Field(0.0, ge=0.0, lt=1.0)  # a hash share of the other photos for validation too
    split_test: float = Field(0.15, gt=0.0, lt=1.0)
    prepared_size: int = Field(256, ge=16, le=4096)

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_several_folders(cls, value):
        folders = [value] if isinstance(value, (str, Path)) else value
        if not folders:
            raise ValueError("name at least one photo folder")
        return folders

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> "DataConfig":
        if self.split_val + self.split_test >= 0.9:
            raise ValueError("split_val + split_test must leave at least 10 % for training")
        return self


class ValidateConfig(_Section):
    allowed_modes: list[str] = ["RGB", "L", "RGBA", "P", "CMYK", "I;16", "LA"]
    min_side: int = Field(64, ge=1)
    max_side: int = Field(8192, ge=1)
    min_file_bytes: int = Field(512, ge=0)
    max_file_bytes: int = Field(20_000_000, ge=1)
    min_colourfulness: float = Field(6.0, ge=0.0)
    min_kept_images: int = Field(8, ge=1)
    max_quarantined_fraction: float = Field(0.5, ge=0.0, le=1.0)


class TrainConfig(_Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 42
    threads: int = Field(2, ge=1)
    processes: int = Field(1, ge=1)  # > 1: the train stage runs itself under torchrun (DDP)
    encoder: Literal["efficientnet-lite0", "scratch"] = "efficientnet-lite0"
    image_size: int = Field(128, ge=16, le=1024)
    batch_size: int = Field(16, ge=1)
    colorizer_steps: int = Field(400, ge=1)
    finetune_steps: int = Field(150, ge=0)
    adversarial_steps: int = Field(100, ge=0)
    stylizer_steps: int = Field(400, ge=0)
    stylizer_batch_size: int = Field(8, ge=1)
    base_channels: int = Field(32, ge=4, le=256)
    lr_generator: float = Field(1e-3, gt=0)
    lr_finetune: float = Field(3e-4, gt=0)
    lr_encoder: float = Field(1e-4, gt=0)
    lr_discriminator: float = Field(2e-4, gt=0)
    beta1: float = Field(0.5, ge=0.0, lt=1.0)
    l1_weight: float = Field(10.0, ge=0.0)
    feature_loss_weight: float = Field(0.0, ge=0.0)
    adversarial_weight: float = Field(0.3, ge=0.0)
    chroma_gain: float | Literal["calibrate"] = "calibrate"
    min_chroma_gain: float = Field(0.5, gt=0.0, le=1.0)
    max_chroma_gain: float = Field(2.0, ge=1.0)
    calibration_max_delta_cf: float = Field(15.0, ge=0.0)
    lr_stylizer: float = Field(1e-3, gt=0)
    style_weight: float = Field(20.0, ge=0.0)
    style_loss_stride: Literal[8, 16] = 16
    style_loss: Literal["stats", "gram"] = "stats"  # channel mean/std (AdaIN) or Gram matrices (Gatys), per layer scale
    stylizer_image_size: int = Field(0, ge=0, le=1024)  # the stylizer's training crop side; 0 = image_size
    palette_transfer: bool = True
    palette_bands: int = Field(8, ge=0, le=64)  # 0: per channel over the whole image
    style_strength: float = Field(2.0, ge=0.0, le=10.0)  # × the decoder's painted change at inference
    content_weight: float = Field(1.0, ge=0.0)
    reconstruction_weight: float = Field(1.0, ge=0.0)
    work_side: int = Field(224, ge=16, le=4096)
    style_work_side: int = Field(144, ge=0, le=4096)
    decoder_width: int = Field(32, ge=0, le=1024)
    decoder_padding: Literal["reflect", "zeros"] = "reflect"
    hints: bool = True
    hint_none_p: float = Field(0.5, ge=0.0, le=1.0)
    hint_mean_points: float = Field(8.0, ge=1.0)
    hint_max_points: int = Field(32, ge=1, le=256)
    hint_max_radius: int = Field(2, ge=0, le=16)
    hint_palette_p: float = Field(0.25, ge=0.0, le=1.0)
    checkpoint_every: int = Field(100, ge=1)
    sample_every: int = Field(250, ge=1)
    log_every: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _size_fits_unet(self) -> "TrainConfig":
        multiple = 32 if self.encoder == "efficientnet-lite0" else 16
        if self.image_size % multiple:
            raise ValueError(f"image_size {self.image_size} must be a multiple of {multiple} "
                             f"(the {self.encoder} U-Net's downsampling)")
        if 0 < self.decoder_width < 8:
            raise ValueError(f"decoder_width {self.decoder_width} must be 0 (the loss network's default) or at least 8: "
                             "it halves at each of the decoder's 3 upsamplings")
        return self


class AugmentConfig(_Section):
    crop_scale_min: float = Field(0.5, gt=0.0, le=1.0)
    hflip_p: float = Field(0.5, ge=0.0, le=1.0)
    rotate_limit: float = Field(10.0, ge=0.0, le=180.0)
    cutout_p: float = Field(0.0, ge=0.0, le=1.0)  # share of colouriser crops given a pasted cut-out (data.cutouts)
    cutout_scale: tuple[float, float] = (0.3, 0.7)  # its longer side, as a share of the crop's

    @model_validator(mode="after")
    def _cutout_scale_is_a_range(self) -> "AugmentConfig":
        low, high = self.cutout_scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"cutout_scale {list(self.cutout_scale)} must be [low, high] with 0 < low <= high <= 1")
        return self


class LossNetworkConfig(_Section):
    kind: Literal["auto", "vgg19", "efficientnet-lite0", "random"] = "auto"
    vgg19_path: Path | None = None
    allow_download: bool = False
    random_seed: int = 1234


class EvaluateConfig(_Section):
    external_test: Path = Path("data/external-test")
    styles: list[str] = Field(default_factory=lambda: ["greatwave", "kandinky", "van_gogh_cafe_terrace_at_night",
                                                       "hokusaipoppies"])
    alphas: list[float] = [0.25, 0.5, 0.75, 1.0]
    max_images: int = Field(64, ge=1)
    grid_images: int = Field(6, ge=1)
    style_images: int = Field(16, ge=1)
    style_sheet_side: int = Field(512, ge=32)
    peer_photos: int = Field(16, ge=1)
    peer_side: int = Field(512, ge=32)
    peer_pause_s: float = Field(0.2, ge=0.0, le=10.0)
    peer_sheet_styles: int = Field(8, ge=1)
    hint_counts: list[int] = [1, 5, 20]
    hint_seed: int = 0
    fid_inception_path: Path | None = None

    @model_validator(mode="after")
    def _alphas_in_range(self) -> "EvaluateConfig":
        bad = [a for a in self.alphas if not 0.0 <= a <= 1.0]
        if bad:
            raise ValueError(f"alphas must lie in [0, 1], got {bad}")
        return self


class RegisterConfig(_Section):
    model_name: str = Field("chromastyle", min_length=1)
    frechet_margin: float = Field(0.10, ge=0.0, lt=1.0)
    min_delta_cf_gain: float = Field(-5.0)
    promote: bool | Literal["baseline"] = "baseline"


class PackageConfig(_Section):
    """The bento's name and the HTTP service's limits. The limits travel with the BentoML model as
    metadata (the service reads them there; env CHROMASTYLE_<KEY> overrides one at serve time).
    They bound the work a request can cause, not only its bytes: see README "Serving limits"."""

    bento_model_name: str = Field("chromastyle", pattern=r"^[a-z0-9_.-]+$")
    max_upload_bytes: int = Field(20_000_000, ge=1)
    max_pixels: int = Field(16_000_000, ge=1)
    max_request_pixels: int = Field(20_000_000, ge=1)
    min_side: int = Field(16, ge=1)
    max_aspect_ratio: float = Field(12.0, ge=1.0)
    max_work_side: int = Field(768, ge=16, le=8192)
    max_style_work_side: int = Field(512, ge=16, le=8192)
    style_side: int = Field(256, ge=16, le=2048)
    max_styles: int = Field(4, ge=1)
    max_hints: int = Field(64, ge=0)
    max_jpeg_scans: int = Field(100, ge=1)
    workers: int = Field(1, ge=1, le=64)
    colorize_concurrency: int = Field(2, ge=1)
    stylize_concurrency: int = Field(1, ge=1)
    queue_size: int = Field(8, ge=0)
    queue_timeout_s: float = Field(20.0, gt=0)
    upload_timeout_s: float = Field(30.0, gt=0)
    max_uploads_in_flight: int = Field(64, ge=1)
    memory_limit_mb: int = Field(4096, ge=0)
    torch_threads: int = Field(0, ge=0)
    runtime: Literal["torch", "onnx"] = "onnx"

    def service_limits(self) -> dict[str, int | float]:
        """Everything but the name: what the package stage stores as the BentoML model's metadata."""
        return self.model_dump(exclude={"bento_model_name"})


class NumericsConfig(_Section):
    """CPU code paths of the floating-point kernels (chromastyle.numerics): `avx2` gives the same
    numbers on every x86-64 machine with AVX2; `native` the fastest kernels of this CPU."""

    cpu_isa: Literal["avx2", "native"] = "avx2"


class Params(_Section):
    numerics: NumericsConfig = NumericsConfig()
    data: DataConfig = DataConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()
    loss_network: LossNetworkConfig = LossNetworkConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    register_: RegisterConfig = Field(RegisterConfig(), alias="register")
    package: PackageConfig = PackageConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; raise ConfigError naming the offending key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run from the project root, where params.yaml is)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, source=str(path))


def parse_params(raw: dict, source: str = "params") -> Params:
    """Validate a params mapping (e.g. params.yaml with overrides applied)."""
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in err.errors()
        )
        raise ConfigError(f"{source}: invalid value(s): {problems}") from None
