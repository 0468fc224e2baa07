#!/bin/sh
# Training throughput (images/s) of `mfr train` beside PyTorch training the
# same network (bench/train_torch.py builds it from the same .cfg) with the
# same batch size, at 1 and 2 threads, alternating mfr and torch in one run.
# mfr's figure is its whole loop (its batches are rendered on a second
# thread); torch's is the training step on fixed tensors.
#   usage: bench/bench_train.sh [STEPS] [REPEATS]      (from the source tree, after make)
#   THREADS="1 2 4" bench/bench_train.sh ...   other thread counts (default "1 2")
# Prints: model threads batch mfr_img_s torch_img_s ratio(mfr/torch)
set -eu
STEPS=${1:-4}
REPEATS=${2:-1}
PY=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-"1 2"}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "model threads batch mfr_img_s torch_img_s ratio"
for model in embedder detector; do
  case $model in
    embedder) cfg=models/mobilefacenet.cfg; batch=32 ;;
    detector) cfg=models/detector.cfg; batch=16 ;;
  esac
  for th in $THREADS; do
    r=0
    while [ $r -lt "$REPEATS" ]; do
      rm -f "$TMP/m.mfrm.ckpt"
      ./mfr train --recipe models/$model.ini --out "$TMP/m.mfrm" --steps "$STEPS" --threads $th \
          --no-validate -q > /dev/null
      m=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "images_per_s") c = i; next } { v = $c } END { print v }' \
          "$TMP/m.mfrm.log.csv")
      t=$(OMP_NUM_THREADS=$th "$PY" bench/train_torch.py $cfg --batch $batch --threads $th --steps "$STEPS" \
          | sed 's/images_per_s=//')
      echo "$model $th $batch $m $t $(awk -v a="$m" -v b="$t" 'BEGIN { printf "%.3f", a / b }')"
      r=$((r + 1))
    done
  done
done
