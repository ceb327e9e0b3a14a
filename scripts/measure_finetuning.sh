#!/usr/bin/env bash
# Encoder fine-tuning measured: the same training with the encoder frozen (N=0) and with its last
# 1 or 2 blocks trained (model.finetune_blocks=N, train.encoder_lr), on small sets of both generated
# worlds (coloured shapes; photographed objects), scored on their test splits at beam 3.
#   bash scripts/measure_finetuning.sh [shapes|objects ...]     (default: both)
# Small on purpose (3000 training scenes, 3 epochs: about 10-25 minutes a run on 2 CPU cores), so
# the comparison is between settings, not with the shipped models. Prints one table per world.
set -euo pipefail
cd "$(dirname "$0")/.."
py=./.venv/bin/python
worlds=${*:-shapes objects}
blocks=${BLOCKS:-0 1 2}
mkdir -p results runs
for world in $worlds; do
    case $world in
        shapes)
            data=data/synth-small/dataset_synth.json config=configs/shapes-soft.json
            [[ -f $data ]] || $py -m captioner synth --out data/synth-small --n-train 3000 --n-val 200 --n-test 300 --n-comp 0 --seed 1
            ;;
        objects)
            data=data/objects-small/dataset_objects.json config=configs/objects.json
            bash scripts/fetch_tuxpaint.sh .cache/tuxpaint
            [[ -f $data ]] || $py -m captioner objects --tuxpaint .cache/tuxpaint --out data/objects-small --n-train 3000 --n-val 200 --n-test 300 --n-heldout 0 --seed 1
            ;;
        *) echo "unknown world $world (shapes or objects)" >&2; exit 2 ;;
    esac
    for n in $blocks; do
        run=runs/finetune-$world-$n
        started=$(date +%s)
        if [[ -f $run/latest ]]; then
            $py -m captioner train --config $config --out $run --resume
        elif [[ ! -f $run/final/config.json ]]; then
            $py -m captioner train --config $config --set train.data=$data --set train.out=$run --set train.epochs=3 \
                --set train.val_images=200 --set train.patience=3 --set model.finetune_blocks=$n
        fi
        echo "$world N=$n: trained in $(( $(date +%s) - started )) s"
        [[ -f results/finetune-$world-$n.json ]] || $py -m captioner evaluate --model $run/best --data $data --split test \
            --beam-size 3 --no-meteor --out results/finetune-$world-$n.json > /dev/null
    done
    $py - "$world" $blocks <<'EOF'
import json, sys
from captioner.viz.curves import read_metrics
world, blocks = sys.argv[1], sys.argv[2:]
print(f"\n{world}: test split, beam 3")
print("| finetune_blocks | CIDEr-D | BLEU-4 | objects named | mass in box | peak in box | training pairs/s | val CIDEr-D by epoch |")
print("|---|---|---|---|---|---|---|---|")
for n in blocks:
    report = json.load(open(f"results/finetune-{world}-{n}.json"))
    epochs = read_metrics(f"runs/finetune-{world}-{n}/metrics.jsonl")
    g, m = report["grounding"], report["metrics"]
    a = g["attention"]
    print(f"| {n} | {m['CIDEr-D']:.3f} | {100 * m['BLEU-4']:.1f} | {100 * g['objects_named_rate']:.1f} | "
          f"{100 * a['mass_in_box']:.1f} | {100 * a['peak_in_box_rate']:.1f} | "
          f"{sum(e['pairs_per_s'] for e in epochs) / len(epochs):.0f} | "
          f"{' / '.join(format(e['val']['CIDEr-D'], '.2f') for e in epochs)} |")
EOF
done
