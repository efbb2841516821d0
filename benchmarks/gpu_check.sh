#!/usr/bin/env bash
# GPU readiness, one prepared run for a lent GPU machine (CI never runs this):
#   bash benchmarks/gpu_check.sh            # from the repository root; writes $OUT or ./gpu_check/
# 1. installs symco (CUDA torch is expected on the machine; the CPU wheel is not forced here),
# 2. fits the tiny config of every registered model with --trainer.accelerator gpu and
#    --trainer.precision bf16-mixed (the BQ configs make their own tiny data first),
# 3. runs check-symmetry on CUDA (float64) for the shipped models and the tiny configs,
# 4. prints decoding throughput of bq-tsp on CUDA (greedy TSP100 x256, TSP1000 kNN 100 x16),
# 5. on a machine with two or more GPUs: the tiny TSP config under DDP on 2 GPUs (nccl), and the
#    step time of one GPU vs two at the same global batch.
set -euo pipefail
OUT="${OUT:-gpu_check}"
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }
python -m pip install -q -e ".[test]" 2>&1 | tail -2
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee -a "$OUT/gpu_check.log"
work=$(mktemp -d)
for p in tsp cvrp op kp; do
  solver=exact; [ "$p" = kp ] && solver=dp
  size=10; [ "$p" != tsp ] && size=8
  for split in train:64:0 val:8:9; do
    IFS=: read -r name num seed <<<"$split"
    symco data --problem "$p" --size "$size" --num "$num" --seed "$seed" --solver "$solver" \
      --quiet --out "$work/data/${p}10_${name}.npz" >/dev/null
  done
done
for cfg in configs/tsp/tiny.yaml configs/cvrp/tiny.yaml configs/op/tiny.yaml configs/kp/tiny.yaml; do
  log "fit $cfg on GPU, bf16-mixed"
  start=$(date +%s.%N)
  (cd "$work" && symco fit --config "$OLDPWD/$cfg" --trainer.accelerator gpu --trainer.devices 1 \
     --trainer.precision bf16-mixed --trainer.max_steps 50 --trainer.val_check_interval 25 \
     --trainer.default_root_dir "$work/runs/$(basename "$(dirname "$cfg")")") 2>&1 | tail -3 | tee -a "$OUT/gpu_check.log"
  echo "seconds: $(echo "$(date +%s.%N) - $start" | bc)" | tee -a "$OUT/gpu_check.log"
done
for m in bq-tsp bq-cvrp bq-op bq-kp; do
  log "check-symmetry $m on CUDA"
  symco check-symmetry --ckpt "$m" --device cuda | tee -a "$OUT/gpu_check.log"
done
log "check-symmetry configs/zinc/tiny.yaml on CUDA (needs the zinc extra)"
symco check-symmetry --config configs/zinc/tiny.yaml --device cuda 2>&1 | tee -a "$OUT/gpu_check.log" || true
log "decoding throughput on CUDA"
symco evaluate --ckpt bq-tsp --generate 100:256 --reference none --device cuda --batch-size 256 | tee -a "$OUT/gpu_check.log"
symco evaluate --ckpt bq-tsp --generate 1000:16 --knn 100 --reference none --device cuda --batch-size 16 | tee -a "$OUT/gpu_check.log"
symco evaluate --ckpt bq-tsp --generate 100:256 --reference none --device cuda --batch-size 256 --augment d4 | tee -a "$OUT/gpu_check.log"
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -ge 2 ]; then
  for devices in 1 2; do
    log "fit configs/tsp/tiny.yaml on $devices GPU(s), DDP, global batch 64"
    start=$(date +%s.%N)
    (cd "$work" && symco fit --config "$OLDPWD/configs/tsp/tiny.yaml" --trainer.accelerator gpu \
       --trainer.devices "$devices" --trainer.strategy ddp --trainer.max_steps 200 \
       --trainer.val_check_interval 100 --data.init_args.batch_size $((64 / devices)) \
       --trainer.default_root_dir "$work/runs/ddp$devices") 2>&1 | tail -3 | tee -a "$OUT/gpu_check.log"
    echo "seconds for 200 steps on $devices GPU(s): $(echo "$(date +%s.%N) - $start" | bc)" | tee -a "$OUT/gpu_check.log"
  done
else
  log "one GPU: the DDP case needs two (skipped)"
fi
log "done"
