#!/bin/sh
# Training throughput (images/s) of `mfr train` beside PyTorch training the
# same network (bench/train_torch.py builds it from the same .cfg) with the
# same batch size, alternating mfr and torch in one run.
#   mfr_step: `mfr train --fixed-data`, every step on one rendered batch: the
#             training step alone, which is what torch's figure is (its steps
#             run on fixed tensors, after one warm-up step)
#   mfr_loop: the whole loop, each batch rendered on a second thread while the
#             step runs (what a real training run gets)
# Both mfr figures are the log's steady-state images/s (after the first step).
#   usage: bench/bench_train.sh [STEPS] [REPEATS]      (from the source tree, after make)
#   THREADS="1 2 4" bench/bench_train.sh ...   other thread counts (default "1 2")
# Prints: model threads batch mfr_step mfr_loop torch step_ratio loop_ratio
#         (ratio = mfr / torch: above 1, mfr is faster)
set -eu
STEPS=${1:-4}
REPEATS=${2:-1}
PY=${PYTHON:-/usr/bin/python3}
THREADS=${THREADS:-"1 2"}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "model threads batch mfr_step mfr_loop torch step_ratio loop_ratio"
for model in embedder detector; do
  case $model in
    embedder) cfg=models/mobilefacenet.cfg; batch=32 ;;
    detector) cfg=models/detector.cfg; batch=16 ;;
  esac
  for th in $THREADS; do
    r=0
    while [ $r -lt "$REPEATS" ]; do
      f=""
      for mode in step loop; do
        rm -f "$TMP/m.mfrm.ckpt" "$TMP/m.mfrm.log.csv"
        [ $mode = step ] && f=--fixed-data || f=""
        ./mfr train --recipe models/$model.ini --out "$TMP/m.mfrm" --steps "$STEPS" --threads $th \
            --no-validate -q $f > /dev/null
        v=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "images_per_s") c = i; next } { v = $c } END { print v }' \
            "$TMP/m.mfrm.log.csv")
        [ $mode = step ] && ms=$v || ml=$v
      done
      t=$(OMP_NUM_THREADS=$th "$PY" bench/train_torch.py $cfg --batch $batch --threads $th --steps "$STEPS" \
          | sed 's/images_per_s=//')
      echo "$model $th $batch $ms $ml $t $(awk -v a="$ms" -v b="$ml" -v t="$t" 'BEGIN { printf "%.3f %.3f", a / t, b / t }')"
      r=$((r + 1))
    done
  done
done
