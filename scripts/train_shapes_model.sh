#!/usr/bin/env bash
# Retrain one of the shipped shapes models from scratch: soft attention (the "shapes" model) or
# hard attention (the "hard" model).
#   bash scripts/train_shapes_model.sh soft     (or: hard)
# Generates the synthetic scenes (data/synth) if missing, trains with configs/shapes-<kind>.json,
# and publishes the best model to captioner/pretrained/shapes or hard (float16 if captions are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: train_shapes_model.sh soft|hard}
target=$([[ $kind == soft ]] && echo shapes || echo "$kind")
captioner=./.venv/bin/captioner
# The scenes of the shipped models: version 2 (objects named in a fixed order), 12000 training images.
n_train=12000
if ! ./.venv/bin/python -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (d['version'] == 2 and sum(i['split'] == 'train' for i in d['images']) == int(sys.argv[2])))" data/synth/dataset_synth.json $n_train 2>/dev/null; then
    $captioner synth --out data/synth --n-train $n_train --n-val 500 --n-test 1000 --n-comp 1000 --seed 0
fi
start=$(date +%s)
if [[ -f runs/default-$kind/latest ]]; then
    $captioner train --config configs/shapes-$kind.json --out runs/default-$kind --resume
else
    $captioner train --config configs/shapes-$kind.json
fi
echo "training took $(( $(date +%s) - start )) s"
$captioner export --model runs/default-$kind/best --out captioner/pretrained/$target --check-data data/synth/dataset_synth.json
