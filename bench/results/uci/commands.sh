#!/usr/bin/env bash
# The exact commands behind bench/results/uci/ (run from the repository root, /work/main).
# Needs the project's Python environment (source /work/venv/bin/activate). Each step appends
# to results.csv (--resume skips rows already there); each step's wall time goes to times.txt. Step 1 is the main run; the rest add NUTS, the low-rank
# guide and the classification benchmark on fewer splits (the machine has 2 shared cores).
set -u
OUT=bench/results/uci
LOGS=${LOGS:-logs/uci}   # per-step progress lines; not part of the results
mkdir -p "$LOGS"
DATA=../shared/data/uci
# "bash commands.sh" runs everything; "bash commands.sh from run7" skips the steps before run7.
FROM=${2:-run1}
[ "${1:-all}" = from ] || FROM=run1
skip=1
step() {
  local name=$1; shift
  [ "$name" = "$FROM" ] && skip=0
  [ $skip = 1 ] && return 0
  local start=$(date +%s)
  "$@" > "$LOGS/$name.out" 2> "$LOGS/$name.log"
  local code=$?
  echo "$name exit=$code seconds=$(( $(date +%s) - start )) :: $*" >> "$OUT/times.txt"
}
step run1 python -m pyro_bnn.benchmark uci --data-dir $DATA \
  --methods svi,map,mc-dropout,ensemble --splits 5 \
  --max-splits power-plant=2,protein-tertiary-structure=1 \
  --out $OUT/results.csv --threads 1
step run2-nuts-yacht python -m pyro_bnn.benchmark uci --data-dir $DATA --datasets yacht \
  --methods nuts --splits 2 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/results.csv --resume --threads 1
step run3-nuts-energy python -m pyro_bnn.benchmark uci --data-dir $DATA --datasets energy \
  --methods nuts --splits 1 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/results.csv --resume --threads 1
step run4-lowrank python -m pyro_bnn.benchmark uci --data-dir $DATA \
  --datasets concrete,energy,wine-quality-red,yacht --methods svi-lowrank --splits 2 \
  --out $OUT/results.csv --resume --threads 1
step run5-classification python -m pyro_bnn.benchmark classification \
  --datasets digits,breast_cancer --methods map,svi,mc-dropout,ensemble --splits 2 \
  --out $OUT/classification.csv --threads 1
step run6-classification-nuts python -m pyro_bnn.benchmark classification \
  --datasets breast_cancer --methods nuts --splits 1 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/classification.csv --resume --threads 1 --table $OUT/classification.md
# Added after the first pass (NUTS turned out cheaper than feared, ~1-3 min a split):
step run7-nuts-more python -m pyro_bnn.benchmark uci --data-dir $DATA --datasets energy,yacht \
  --methods nuts --splits 3 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/results.csv --resume --threads 1
step run8-nuts-concrete python -m pyro_bnn.benchmark uci --data-dir $DATA --datasets concrete \
  --methods nuts --splits 2 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/results.csv --resume --threads 1
step run9-nuts-wine python -m pyro_bnn.benchmark uci --data-dir $DATA --datasets wine-quality-red \
  --methods nuts --splits 1 --nuts-warmup 150 --nuts-samples 150 \
  --out $OUT/results.csv --resume --threads 1
step run10-lowrank-more python -m pyro_bnn.benchmark uci --data-dir $DATA \
  --datasets concrete,energy,wine-quality-red,yacht --methods svi-lowrank --splits 5 \
  --out $OUT/results.csv --resume --threads 1
# Summary only (--report-only: nothing is fitted):
step report python -m pyro_bnn.benchmark classification --report-only \
  --out $OUT/classification.csv --table $OUT/classification.md
step report-uci python -m pyro_bnn.benchmark uci --data-dir $DATA --report-only \
  --out $OUT/results.csv --table $OUT/results.md --figure $OUT/test_ll.png
