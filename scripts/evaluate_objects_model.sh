#!/usr/bin/env bash
# Score the shipped objects model: the generated test and heldout splits at beam 1 and 3
# (coco-caption metrics, objects named, attention in box and mask), and the real photographs of
# data/photos; then print the README's tables.
#   bash scripts/evaluate_objects_model.sh        (needs data/objects-scenes: see train_objects_model.sh)
#   bash scripts/evaluate_objects_model.sh hard   the hard-attention model (runs/objects-hard/best, from
#                                                 train_objects_model.sh hard) at beam 3, reading the
#                                                 expected context and the argmax location, beside the soft one
set -euo pipefail
cd "$(dirname "$0")/.."
captioner="./.venv/bin/python -m captioner"
data=data/objects-scenes/dataset_objects.json
mkdir -p results
if [[ ${1:-} == hard ]]; then
    for split in test heldout; do
        for context in expected argmax; do
            name=objects-hard$([[ $context == argmax ]] && echo -argmax || true)
            $captioner evaluate --model runs/objects-hard/best --data $data --split $split --beam-size 3 \
                --hard-context $context --out results/$name-$split-beam3.json > /dev/null
        done
    done
    $captioner evaluate --model runs/objects-hard/best --photos data/photos --beam-size 3 --out results/objects-hard-photos-beam3.json > /dev/null
    ./.venv/bin/python -m captioner.evaluation.report results/objects{,-hard,-hard-argmax}-{test,heldout}-beam3.json
    exit 0
fi
for split in test heldout; do
    for beam in 1 3; do
        $captioner evaluate --model captioner/pretrained/objects --data $data --split $split --beam-size $beam \
            --out results/objects-$split-beam$beam.json > /dev/null
    done
done
$captioner evaluate --model captioner/pretrained/objects --photos data/photos --beam-size 3 --out results/objects-photos-beam3.json > /dev/null
./.venv/bin/python -m captioner.evaluation.report results/objects-{test,heldout}-beam[13].json results/objects-photos-beam3.json
