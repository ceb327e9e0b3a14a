#!/usr/bin/env bash
# Score the shipped shapes models (soft attention: "shapes"; "hard") on the synthetic test and compositional splits, beam 1 and beam 3,
# then print the README's results table. The two models are scored side by side, one thread each; the hard
# model twice: with its default decoding (the expected context) and reading the argmax location.
#   bash scripts/evaluate_shapes_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
captioner=./.venv/bin/captioner
mkdir -p results
evaluate_model() {  # model, results name, further options
    for split in test comp; do
        for beam in 1 3; do
            OMP_NUM_THREADS=1 $captioner evaluate --model captioner/pretrained/$1 --data data/synth/dataset_synth.json \
                --split $split --beam-size $beam --out results/$2-$split-beam$beam.json "${@:3}"
        done
    done
}
evaluate_model shapes soft & soft=$!
(evaluate_model hard hard && evaluate_model hard hard-argmax --hard-context argmax) & hard=$!
wait $soft
wait $hard
./.venv/bin/python -m captioner.evaluation.report results/{soft,hard,hard-argmax}-{test,comp}-beam[0-9].json
