#!/usr/bin/env bash
# Score the shipped models on the synthetic test and compositional splits, beam 1 and beam 3,
# then print the README's results table.
#   bash scripts/evaluate_default_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
captioner=./.venv/bin/captioner
mkdir -p results
for kind in soft hard; do
    for split in test comp; do
        for beam in 1 3; do
            $captioner evaluate --model captioner/pretrained/$kind --data data/synth/dataset_synth.json \
                --split $split --beam-size $beam --out results/$kind-$split-beam$beam.json
        done
    done
done
./.venv/bin/python -m captioner.report results/*-beam[0-9].json
