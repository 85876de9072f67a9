"""Train a tiny chromastyle (EfficientNet-Lite0 encoder: oneDNN's depthwise convolutions, MKL's
GEMMs, ATen's vectorised ops; every phase) and print a hash of its weights: the subject of
tests/test_numerics.py, run in a fresh process per CPU cap.

    python tests/helpers/isa_train.py CHECKPOINT_DIR avx2|native
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chromastyle.numerics import pin_cpu_numerics  # noqa: E402

pin_cpu_numerics(sys.argv[2])  # before torch, as flows/_common.py does

import hashlib  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from conftest import photo  # noqa: E402

from chromastyle.config import AugmentConfig, TrainConfig  # noqa: E402
from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer  # noqa: E402
from chromastyle.model.loss_network import efficientnet_network  # noqa: E402
from chromastyle.train.trainer import Trainer  # noqa: E402

ENCODER = "efficientnet-lite0"
CONFIG = TrainConfig(device="cpu", threads=2, image_size=64, batch_size=4, stylizer_batch_size=4, base_channels=8,
                     colorizer_steps=3, finetune_steps=2, adversarial_steps=2, stylizer_steps=2, checkpoint_every=100,
                     sample_every=1000, log_every=1, work_side=64, encoder=ENCODER, seed=3)


def main() -> None:
    model_cfg = ModelConfig(base_channels=8, work_side=64, encoder=ENCODER, loss_network="efficientnet-lite0")
    torch.manual_seed(CONFIG.seed)
    colorizer = build_colorizer(model_cfg, pretrained=True)
    torch.manual_seed(CONFIG.seed)
    model = Chromastyle(model_cfg, encoder=efficientnet_network(), colorizer=colorizer)
    images = np.stack([photo(i, size=(96, 96)) for i in range(8)])
    Trainer(CONFIG, AugmentConfig(), model, images, images[:2], images[:2], Path(sys.argv[1]), "fp").run()
    digest = hashlib.sha256()
    for _, tensor in sorted(model.state_dict().items()):
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    print(torch.backends.cpu.get_cpu_capability(), digest.hexdigest())


if __name__ == "__main__":
    main()
