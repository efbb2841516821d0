#!/usr/bin/env bash
# PerceiverIO vs transformer on a lent GPU, one prepared run (CI never runs this):
#   bash benchmarks/gpu_perceiver.sh      # from the repository root; writes $OUT or ./gpu_perceiver/
# The GPU machine has torch but none of symco's solver dependencies and no package index, so symco
# is imported from the checkout (a `symco` link to it on PYTHONPATH) instead of being installed:
# benchmarks/perceiver.py needs only torch, numpy and the policy/reducer modules.
set -euo pipefail
OUT="${OUT:-gpu_perceiver}"
mkdir -p "$OUT"
pkg=$(mktemp -d)
ln -s "$PWD" "$pkg/symco"
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/log.txt"
common=(--device cuda --sizes 100 1000 5000 10000 --steps 20 --train-steps 20 --full-limit 20)
python3 benchmarks/perceiver.py "${common[@]}" --batch 256 --out "$OUT/perceiver_gpu_fp32.json" 2>&1 | tee -a "$OUT/log.txt"
python3 benchmarks/perceiver.py "${common[@]}" --batch 256 --bf16 --out "$OUT/perceiver_gpu_bf16.json" 2>&1 | tee -a "$OUT/log.txt"
python3 benchmarks/perceiver.py --device cuda --sizes 100 1000 5000 --steps 20 --train-steps 5 \
  --batch-decode 64 --full-limit 20 --bf16 --out "$OUT/perceiver_gpu_bf16_b64.json" 2>&1 | tee -a "$OUT/log.txt"
