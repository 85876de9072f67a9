#!/usr/bin/env bash
# The CUDA path, checked on a GPU machine (not part of CI, which has none):
# the gpu-marked tests, the model benchmark on CUDA, and a short bf16 training at 128² on the
# prepared photos (needs data/prepared from `dvc repro prepare`). Writes what it shows to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export NO_ALBUMENTATIONS_UPDATE=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_model.py tests/test_distributed.py 2>&1 | tail -4
# DDP on the GPUs at hand (NCCL): 2 processes against 1 at the same global batch
GPUS=$(python3 -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -ge 2 ]; then
  python3 tests/helpers/ddp_train.py "$OUT/single.pt" "$OUT/ck1" && \
  python3 -m torch.distributed.run --standalone --nproc_per_node=2 tests/helpers/ddp_train.py "$OUT/ddp.pt" "$OUT/ck2" && \
  python3 -c "import torch; a, b = torch.load('$OUT/single.pt'), torch.load('$OUT/ddp.pt'); print('DDP vs 1 process, max |diff|', max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()))"
fi
python3 benchmarks/benchmark_model.py --device cuda --threads 8 --batch 64 --repeats 10 2>&1 | tee "$OUT/benchmark_cuda.txt"
python3 - <<'PY' 2>&1 | tee "$OUT/train_cuda.txt"
import os, time, yaml
from pathlib import Path
from PIL import Image
from chromastyle.config import parse_params
from chromastyle.train.run import build_trainer
raw = yaml.safe_load(open("params.yaml"))
raw["train"].update(device="cuda", image_size=128, batch_size=64, colorizer_steps=1500, stylizer_steps=300,
                    sample_every=1500, checkpoint_every=500, log_every=100)
class Saver:
    def log_metrics(self, metrics, step): pass
    def log_image(self, image, name): Image.fromarray(image).save(Path(os.environ["OUT"]) / Path(name).name)
trainer = build_trainer(parse_params(raw), Path("data/prepared"), Path("/tmp/ckpt"), Saver())
start = time.time()
result = trainer.run()
print("wall", round(time.time() - start, 1), "s", result.summary, result.curve[-1])
PY
