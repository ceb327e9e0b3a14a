#!/usr/bin/env bash
# Train and publish the shipped attention variants of the shapes model (captioner/pretrained/shapes-*):
# local attention (sigma 3 cells; two epochs on the first 1000 training scenes) and grid self-attention
# (one epoch on the first 200: a step costs it ~10x more), each warm-started from the
# shipped "shapes" model's decoder (the parameters it shares; its own layers new, the self-attention
# layer started near passing the annotations through) by `captioner lab`, which also measures them
# on 200 test scenes (runs/shapes-variants*/lab.md); the visual sentinel from scratch (5 epochs on the
# first 3000, seed 1, its best epoch: warm-started, it never learned to use its sentinel; its model
# card says why this seed); then exported in float16 (captioner export).
#   bash scripts/ship_shapes_variants.sh [dataset_synth.json] [run folder]
# The scenes: `captioner synth --out data/synth-lab --n-train 3000 --n-val 200 --n-test 500 --n-comp 0 --seed 0`
# (seed 0: the shipped shapes model's own scenes; any set of seed 0 with >= 1000 training scenes does).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data/synth-lab/dataset_synth.json}
out=${2:-runs/shapes-variants}
captioner=./.venv/bin/captioner
export OMP_NUM_THREADS=1  # on a shared machine one thread per process ran 3x faster than two
start=$(date +%s)
$captioner lab --data "$data" --out "$out" --warm-start shapes --variants local_sigma3 --budget 1000x1 --val-scenes 50 --test-scenes 200
# local attention: a second epoch, from the first's weights (80.5 % objects named after one, 83.5 % after two)
$captioner lab --data "$data" --out "$out-local2" --warm-start "$out/runs/local_sigma3/final" --variants local_sigma3 --budget 1000x1 \
    --val-scenes 50 --test-scenes 200
$captioner lab --data "$data" --out "$out-sa" --warm-start shapes --variants self_attention --budget 200x1 --val-scenes 50 --test-scenes 200
$captioner lab --data "$data" --out "$out-sentinel" --variants sentinel --budget 3000x5 --seed 1 --val-scenes 50 --test-scenes 200
echo "training and measuring took $(( $(date +%s) - start )) s"
$captioner export --model "$out-local2/runs/local_sigma3/final" --out captioner/pretrained/shapes-local --check-data "$data" --check-limit 50
$captioner export --model "$out-sentinel/runs/sentinel/best" --out captioner/pretrained/shapes-sentinel --check-data "$data" --check-limit 50
$captioner export --model "$out-sa/runs/self_attention/final" --out captioner/pretrained/shapes-self-attention --check-data "$data" --check-limit 50
