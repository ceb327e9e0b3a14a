#!/usr/bin/env bash
# Train and publish the shipped attention variants of the shapes model (captioner/pretrained/shapes-*):
# local attention, the visual sentinel, grid self-attention and location-based attention, each
# warm-started from the shipped "shapes" model's decoder (the parameters it shares; its own layers
# new) and fine-tuned for one epoch on the first 1000 training scenes by `captioner lab`, which also
# measures them on 200 test scenes (runs/shapes-variants/lab.md); then exported in float16.
#   bash scripts/ship_shapes_variants.sh [dataset_synth.json] [run folder]
# The scenes: `captioner synth --out data/synth-lab --n-train 3000 --n-val 200 --n-test 500 --n-comp 0 --seed 0`
# (seed 0: the shipped shapes model's own scenes; any set with >= 1000 training scenes of seed 0 does).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data/synth-lab/dataset_synth.json}
out=${2:-runs/shapes-variants}
captioner=./.venv/bin/captioner
start=$(date +%s)
$captioner lab --data "$data" --out "$out" --warm-start shapes --variants location,local,sentinel,self_attention \
    --budget 1000x1 --val-scenes 50 --test-scenes 200
echo "lab took $(( $(date +%s) - start )) s"
for variant in location local sentinel self_attention; do
    $captioner export --model "$out/runs/$variant/final" --out "captioner/pretrained/shapes-${variant//_/-}" --check-data "$data"
done
