#!/usr/bin/env bash
# ProMAG's progressive training, end to end on a CPU: the tiny preset's 4x tokenizer, grown to
# 8x, then to 16x, each stage for a fixed number of minutes (about 13 minutes in all).
#
#   bash scripts/train_tiny_progressive.sh [DATA] [OUT] [MINUTES_4X] [MINUTES_PER_GROWTH]
#
# DATA: a folder of videos (default ../shared/data/videos); OUT: where the three run
# directories go (default runs/tiny-progressive). fp32: bf16 training is refused on CPU (see
# README, "Training").
set -euo pipefail
DATA=${1:-../shared/data/videos}
OUT=${2:-runs/tiny-progressive}
M4=${3:-6}
MG=${4:-3}
BOOTVID=${BOOTVID:-bootvid}
common=(--data "$DATA" --frames 17 --size 64 --batch-size 4 --max-steps 100000)

start=$(date +%s)
$BOOTVID train --config configs/tiny.yaml --out "$OUT/4x" --max-minutes "$M4" "${common[@]}"
$BOOTVID grow --from "$OUT/4x" --config configs/tiny-grow.yaml --out "$OUT/8x" --max-minutes "$MG" "${common[@]}"
$BOOTVID grow --from "$OUT/8x" --config configs/tiny-grow.yaml --out "$OUT/16x" --max-minutes "$MG" "${common[@]}"
echo "train_tiny_progressive: 4x, 8x and 16x in $OUT, $(( $(date +%s) - start )) s in all"
