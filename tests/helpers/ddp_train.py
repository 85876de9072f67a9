"""Train a tiny chromastyle under the current process layout (plain, or torchrun), then rank 0 saves
the weights: the subject of tests/test_distributed.py.

    python tests/helpers/ddp_train.py OUT.pt CHECKPOINT_DIR [--die-at PHASE:STEP]
    torchrun --nproc_per_node=2 tests/helpers/ddp_train.py OUT.pt CHECKPOINT_DIR
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import photo  # noqa: E402

from chromastyle.config import AugmentConfig, TrainConfig  # noqa: E402
from chromastyle.model.integrated import Chromastyle, ModelConfig  # noqa: E402
from chromastyle.train.distributed import from_environment, shutdown  # noqa: E402
from chromastyle.train.trainer import Trainer  # noqa: E402

CONFIG = dict(device="cpu", threads=2, image_size=32, batch_size=4, stylizer_batch_size=4, base_channels=8,
              colorizer_steps=4, finetune_steps=0, adversarial_steps=3, stylizer_steps=3, adversarial_weight=1.0,
              checkpoint_every=2, sample_every=1000, log_every=1, work_side=32, encoder="scratch", seed=7)


class Died(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("checkpoints", type=Path)
    parser.add_argument("--die-at", help="PHASE:STEP at which every rank stops as if killed")
    args = parser.parse_args()
    distributed = from_environment()
    cfg = TrainConfig(**{**CONFIG, **json.loads(os.environ.get("DDP_TEST_OVERRIDES", "{}"))})
    torch.manual_seed(cfg.seed)
    model = Chromastyle(ModelConfig(base_channels=cfg.base_channels, work_side=cfg.work_side))
    images = np.stack([photo(i, size=(48, 48)) for i in range(8)])
    trainer = Trainer(cfg, AugmentConfig(), model, images, images[:2], images[:2], args.checkpoints, "fp",
                      distributed=distributed)
    trainer.resume()
    if args.die_at:
        phase, at = args.die_at.split(":")
        for name in ("_colorizer_step", "_stylizer_step"):
            original = getattr(trainer, name)

            def dying(step, original=original):
                if trainer.phase == phase and step == int(at):
                    raise Died
                return original(step)

            setattr(trainer, name, dying)
    try:
        result = trainer.run()
    except Died:
        shutdown()
        os._exit(3)
    if distributed.is_main:
        torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, args.out)
    shutdown()


if __name__ == "__main__":
    main()
