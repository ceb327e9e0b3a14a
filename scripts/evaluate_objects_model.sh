#!/usr/bin/env bash
# Score the shipped objects model: the generated test and heldout splits at beam 1 and 3
# (coco-caption metrics, objects named, attention in box and mask), and the real photographs of
# data/photos; then print the README's tables.
#   bash scripts/evaluate_objects_model.sh        (needs data/objects-scenes: see train_objects_model.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
captioner="./.venv/bin/python -m captioner"
data=data/objects-scenes/dataset_objects.json
mkdir -p results
for split in test heldout; do
    for beam in 1 3; do
        $captioner evaluate --model captioner/pretrained/objects --data $data --split $split --beam-size $beam \
            --out results/objects-$split-beam$beam.json > /dev/null
    done
done
$captioner evaluate --model captioner/pretrained/objects --photos data/photos --beam-size 3 --out results/objects-photos-beam3.json > /dev/null
./.venv/bin/python -m captioner.evaluation.report results/objects-*-beam[0-9].json
