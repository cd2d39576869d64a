#!/usr/bin/env bash
# The exact commands behind bench/results/uci/ and bench/results/classification/ (run from the
# repository root with the project's Python environment active). Every step appends to the
# CSV (--resume skips rows already there), so the script can be stopped and restarted; each
# step's wall time goes to times.txt. Progress lines go to $LOGS (not in the repository).
# The rows of concrete, wine-quality-red, power-plant and protein for svi, svi-lowrank, map,
# mc-dropout and ensemble are kept from the 2026-11-25 run (first 5 splits; power 2,
# protein 1; see README.md); everything on yacht and energy and all NUTS rows are from
# this script.
set -u
OUT=bench/results/uci
CLS=bench/results/classification
LOGS=${LOGS:-logs/uci}
mkdir -p "$LOGS"
export OMP_NUM_THREADS=1
PY=${PY:-python}
FAST=svi,svi-lowrank,map,mc-dropout,ensemble,swag
step() {
  local name=$1; shift
  local start=$(date +%s)
  nice "$PY" -m pyro_bnn.benchmark "$@" > "$LOGS/$name.out" 2> "$LOGS/$name.log"
  local code=$?
  echo "$name exit=$code seconds=$(( $(date +%s) - start )) :: $*" >> "$OUT/times.txt"
}
ALL=$FAST,nuts
# The machine was shared (load 5-7 on 2 cores), so the run went in rounds of splits, every
# method on the same splits in each round, and stopped where the time budget ended.
# 1. classification: every method on 3 splits (NUTS: breast cancer, 1 x 10 network)
step cls-fast classification --datasets digits,breast_cancer --methods svi,map,mc-dropout,ensemble,swag \
  --splits 3 --out $CLS/results.csv --resume
step cls-nuts classification --datasets breast_cancer --methods nuts --splits 3 \
  --out $CLS/results.csv --resume
# 2. yacht and energy, every method (NUTS: learned noise, 4 chains), first 5 splits
step uci-yacht-5 uci --datasets yacht --methods $ALL --splits 5 --out $OUT/results.csv --resume
step uci-energy-5 uci --datasets energy --methods $ALL --splits 5 --out $OUT/results.csv --resume
# 3. NUTS on the first 3 splits of concrete and wine (the other methods' rows: 2026-11-25)
step uci-nuts-concrete-wine uci --datasets concrete,wine-quality-red --methods nuts --splits 3 \
  --out $OUT/results.csv --resume
# 4. more splits of yacht and energy, as far as the time went
step uci-yacht-20 uci --datasets yacht --methods $ALL --out $OUT/results.csv --resume
step uci-energy-20 uci --datasets energy --methods $ALL --out $OUT/results.csv --resume
# 5. (2026-12-01, first session) concrete and wine to 10 splits for NUTS and the other methods
step uci-nuts-concrete-wine-10 uci --datasets concrete,wine-quality-red --methods nuts --splits 10 \
  --out $OUT/results.csv --resume
step uci-fast-concrete-wine-10 uci --datasets concrete,wine-quality-red --methods $FAST --splits 10 \
  --out $OUT/results.csv --resume
# 6. (2026-12-01, second session; the Laplace rows of the earlier float32 polish dropped
#    first) Laplace on all 20 splits of the small sets, the other methods on all 20 splits of
#    concrete and wine, then NUTS there as far as the time went. The large sets ran at the
#    same time in a second process, into their own CSV, merged into results.csv afterwards.
step uci-laplace-20 uci --datasets yacht,energy,concrete,wine-quality-red --methods laplace \
  --out $OUT/results.csv --resume
step uci-fast-concrete-wine-20 uci --datasets concrete,wine-quality-red --methods $FAST \
  --out $OUT/results.csv --resume
step uci-nuts-concrete-wine-20 uci --datasets concrete,wine-quality-red --methods nuts \
  --out $OUT/results.csv --resume
step uci-large-5 uci --data-dir ../shared/data/uci --datasets power-plant,protein-tertiary-structure \
  --methods svi,svi-lowrank,laplace,map,mc-dropout,ensemble,swag --splits 5 \
  --out $OUT/results.csv --resume
# 6b. (2026-12-01, third session) protein's splits 1-4 and its SWAG fits, in their own CSV,
#     merged afterwards
step uci-protein-5 uci --data-dir ../shared/data/uci --datasets protein-tertiary-structure \
  --methods $FAST --splits 5 --out $OUT/results.csv --resume
step uci-protein-laplace uci --data-dir ../shared/data/uci --datasets protein-tertiary-structure \
  --methods laplace --splits 5 --out $OUT/results.csv --resume
# 7. classification: svi-lowrank and Laplace (new for classification) on the same 3 splits
step cls-laplace-lowrank classification --datasets breast_cancer,digits --methods laplace,svi-lowrank \
  --splits 3 --out $CLS/results.csv --resume
# 8. whatever the runs above left out (FULL=1: NUTS on the remaining splits, NUTS on
#    power-plant; see README.md)
if [ "${FULL:-0}" = 1 ]; then
  step uci-small-rest uci --datasets concrete,wine-quality-red --methods $ALL,laplace \
    --out $OUT/results.csv --resume
  step uci-large uci --data-dir ../shared/data/uci --datasets power-plant,protein-tertiary-structure \
    --methods $ALL,laplace --splits 5 --out $OUT/results.csv --resume
fi
# Summaries only (--report-only fits nothing):
step report-cls classification --report-only --out $CLS/results.csv --table $CLS/results.md
step report-uci uci --report-only --out $OUT/results.csv --table $OUT/results.md \
  --figure $OUT/test_ll.png
