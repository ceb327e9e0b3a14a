#!/usr/bin/env bash
# Hard attention's training levers measured one at a time: each run trains the hard shapes model
# (configs/shapes-hard.json, from the baseline below) on the small shapes set (3000 scenes, 3 epochs) with one setting
# changed from the baseline, and is scored on that set's test split at beam 3. The soft model
# trained the same way is scripts/measure_finetuning.sh's N=0 run (results/finetune-shapes-0.json).
#   bash scripts/measure_hard_attention.sh [LEVER ...]        (default: all, in the order below)
# About 5-10 minutes a run on 2 CPU cores (leave-one-out with 4 samples and 6 epochs: longer).
set -euo pipefail
cd "$(dirname "$0")/.."
py=./.venv/bin/python
data=data/synth-small/dataset_synth.json
declare -A levers=(
    [baseline]=""                                          # moving-average baseline, expected context per caption and step, p 0.5
    [epochs6]="--set train.epochs=6"                       # more epochs
    [batch-mix]="--set train.hard_expected_per=batch"      # the expected-context choice once per minibatch (authors' code)
    [scaled]="--set train.reinforce_scale=0.1"             # the learning signal scaled down (authors' code)
    [loo4]="--set train.hard_samples=4"                    # 4 samples a caption, leave-one-out baseline
    [anneal]="--set train.hard_expected_anneal=true"       # expected-context probability 0.5 -> 0 over the run
    [gumbel]="--set train.hard_estimator=gumbel"           # straight-through Gumbel-softmax instead of REINFORCE
)
# The baseline is the paper's estimator with the authors' expected-context mix, whatever the
# shipped model's config says (it may use a lever).
base="--set train.hard_estimator=reinforce --set train.hard_expected_prob=0.5 --set train.hard_expected_per=step
      --set train.hard_expected_anneal=false --set train.hard_samples=1 --set train.reinforce_scale=1.0"
order=(baseline batch-mix scaled anneal gumbel loo4 epochs6)
names=${*:-${order[*]}}
mkdir -p results runs
[[ -f $data ]] || $py -m captioner synth --out data/synth-small --n-train 3000 --n-val 200 --n-test 300 --n-comp 0 --seed 1
for name in $names; do
    [[ -v "levers[$name]" ]] || { echo "unknown lever $name (one of: ${order[*]})" >&2; exit 2; }
    run=runs/hard-$name
    started=$(date +%s)
    if [[ -f $run/latest && ! -f $run/final/config.json ]]; then
        $py -m captioner train --config configs/shapes-hard.json --out $run --resume
    elif [[ ! -f $run/final/config.json ]]; then
        # shellcheck disable=SC2086  # the lever's settings are separate words
        $py -m captioner train --config configs/shapes-hard.json --set train.data=$data --set train.out=$run \
            --set train.epochs=3 --set train.val_images=200 --set train.patience=3 $base ${levers[$name]}
    fi
    echo "$name: trained in $(( $(date +%s) - started )) s"
    [[ -f results/hard-$name.json ]] || $py -m captioner evaluate --model $run/best --data $data --split test \
        --beam-size 3 --no-meteor --out results/hard-$name.json > /dev/null
done
reports=()
for name in $names; do reports+=("results/hard-$name.json"); done
[[ -f results/finetune-shapes-0.json ]] && reports+=(results/finetune-shapes-0.json)
$py -m captioner.evaluation.report "${reports[@]}"
