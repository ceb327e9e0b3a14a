"""Training: `captioner train`.

With a frozen encoder the annotations of an image never change, so they are computed once
(training.features: a memory-mapped .npy cache that later runs reopen) and every epoch trains the
decoder alone (training.loop: the paper's objective). Validation decodes for real (greedy) and scores CIDEr-D; early stopping and the kept "best" model
follow it. Checkpoints (weights, optimizer, schedule, random state, position in the epoch) are
written atomically; a resumed run reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from captioner.decoding.options import DecodingOptions
from captioner.decoding.search import generate
from captioner.distributed import Distributed, process_group
from captioner.files import finite_json
from captioner.model.config import ModelConfig
from captioner.model.model import CaptionModel
from captioner.modeldir.checkpoint import CheckpointError, save_model
from captioner.results.from_hypotheses import caption_results
from captioner.results.result import CaptionResult
from captioner.runtime.inference import decoding_step
from captioner.training.attention_supervision import attention_targets, require_grounding
from captioner.training.checkpoints import LATEST, load_checkpoint, save_checkpoint
from captioner.training.config import TrainConfig, TrainingSettingError
from captioner.training.features import extract_features, feature_cache_name, in_eval_mode
from captioner.training.loop import TrainState, train_decoder
from captioner.training.scst import train_self_critical
from captioner.vocab import Vocabulary

# Validation decodes greedily: the best-scoring epoch is picked on what the model writes alone.
VALIDATION_DECODING = DecodingOptions(beam_size=1)
CURVES_FILE = "curves.png"  # the learning curves, drawn again at each epoch's end beside metrics.jsonl


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def decode_features(
    model: CaptionModel, vocab: Vocabulary, features: np.ndarray, options: DecodingOptions = VALIDATION_DECODING, batch_size: int = 128
) -> list[CaptionResult]:
    """Caption results for cached features (real decoding, with the model in eval mode): the
    decoder's own words, as a model is judged by what it writes."""
    device = next(model.parameters()).device
    step = decoding_step(model.decoder, options.hard_context)  # the weights as they are now
    results = []
    with in_eval_mode(model):
        for start in range(0, len(features), batch_size):
            feats = torch.from_numpy(np.array(features[start : start + batch_size], dtype=np.float32)).to(device)
            if model.config.finetune_blocks > 0:  # the cache holds the frozen part's output
                with torch.no_grad():
                    feats = model.annotations_from_frozen(feats)
            with torch.inference_mode():
                hypotheses = generate(step, feats, options)
            results.extend(caption_results(hypotheses, vocab, model.config.grid_size))
    return results


def _image_sizes(records) -> list[tuple[int, int]]:
    """(W, H) of each record's image, upright, as the captioning path sees it."""
    from captioner.images.loading import load_image

    return [load_image(r.image_path).size for r in records]


def epoch_line(record: dict, epochs: int, log_file: Path | None = None) -> str:
    """One short line for a finished epoch: loss, validation scores, attention; where the rest is."""
    parts = [f"epoch {record.get('epoch', '?')}/{epochs}", f"loss {record['ce']:.3f}" if "ce" in record else None]
    val = record.get("val") or {}
    if "CIDEr-D" in val:
        parts.append(f"val CIDEr-D {val['CIDEr-D']:.3f}" + (f", BLEU-4 {val['BLEU-4']:.3f}" if "BLEU-4" in val else ""))
    grounding = val.get("grounding") or {}
    if "objects_named_rate" in grounding:
        parts.append(f"objects named {grounding['objects_named_rate']:.0%}")
    attention = grounding.get("attention") or {}
    if attention.get("count"):
        parts.append(
            f"attention in the named object's box {attention['mass_in_box']:.0%} "
            f"(uniform {attention['baseline']:.0%}), peak inside {attention['peak_in_box_rate']:.0%}"
        )
    if "seconds" in record:
        parts.append(f"{record['seconds']:.0f} s")
    line = " · ".join(p for p in parts if p)
    return line + (f"  (all figures: {log_file})" if log_file is not None and record.get("epoch") == 1 else "")


def run_training(
    model_config: ModelConfig, config: TrainConfig, resume: bool = False, progress: bool = True, stop_after_steps: int | None = None
) -> Path:
    """Train a model as configured; returns the run folder. The best model by validation
    CIDEr-D is in run/best (run/final holds the last weights). Under torchrun every process
    trains on its share of each batch; rank 0 caches features, validates and checkpoints."""
    dist = Distributed.from_env()
    if dist.enabled and config.scst_epochs > 0:
        raise TrainingSettingError("train.scst_epochs: self-critical training runs in one process, not under torchrun")
    device = resolve_device(config.device)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    with process_group(dist, "nccl" if device.type == "cuda" else "gloo"):
        return _run_training(model_config, config, device, dist, resume, progress, stop_after_steps)


def _run_training(model_config, config, device, dist, resume, progress, stop_after_steps) -> Path:
    from captioner.data.datasets import check_training_data, load_dataset, references
    from captioner.evaluation.caption_metrics import caption_metrics
    from captioner.evaluation.evaluate import grounding_report
    from captioner.viz.curves import plot_learning_curves

    run = Path(config.out)
    progress = progress and dist.is_main
    if resume:
        try:
            saved = json.loads((run / "train_config.json").read_text())
            config = dataclasses.replace(TrainConfig(**saved["train"]), out=str(run), device=config.device)
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise CheckpointError(f"{run / 'train_config.json'}: cannot resume from it ({type(exc).__name__}: {exc})"[:1000]) from exc
        model, vocab, state, optimizer_state = load_checkpoint(run, device)
    else:
        if (run / LATEST).exists() and dist.is_main:
            raise FileExistsError(f"{run} already holds a training run: use --resume to continue it, or another --out")
        state, optimizer_state = None, None
    records = load_dataset(config.data, config.image_root)
    check_training_data(records, config.data)  # before anything is computed: errors name the file and the record
    train_records = [r for r in records if r.split == "train"]
    val_records = [r for r in records if r.split == "val"][: config.val_images]
    if config.attention_supervision > 0:
        require_grounding(train_records, config.data)
    if not resume:
        vocab = Vocabulary.build((c for r in train_records for c in r.captions), min_freq=config.min_word_freq)
        model_config = dataclasses.replace(
            model_config, trained_on=config.trained_on or f"{Path(config.data).name}: {len(train_records)} training images"
        )
        torch.manual_seed(config.seed)
        # A new model: random decoder, pretrained encoder.
        model = CaptionModel(dataclasses.replace(model_config, vocab_size=len(vocab))).to(device).eval()
        run.mkdir(parents=True, exist_ok=True)
        if dist.is_main:
            (run / "train_config.json").write_text(json.dumps({"model": model.config.to_json(), "train": config.to_json()}, indent=2))

    cache = Path(config.cache_dir) if config.cache_dir else run / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    def features_for(recs):
        paths = [r.image_path for r in recs]
        return extract_features(model, paths, cache / feature_cache_name(model.config, paths), config.encode_batch_size, progress)

    # Rank 0 computes the cache; the other processes wait for it, then open it.
    if not dist.is_main:
        dist.barrier()
    train_features = features_for(train_records)
    val_features = features_for(val_records) if val_records else None
    if dist.is_main:
        dist.barrier()
    pairs = [(i, vocab.encode(c, max_len=config.max_caption_len)) for i, r in enumerate(train_records) for c in r.captions]
    supervision = None
    if config.attention_supervision > 0:  # the grounded words' target maps, in the pairs' order
        supervision = attention_targets(train_records, _image_sizes(train_records), model.config.grid_size, config.max_caption_len)
    log_file = run / "metrics.jsonl"

    def log(record: dict) -> None:
        with open(log_file, "a") as fh:
            fh.write(finite_json(record) + "\n")  # a NaN metric is null: bare NaN is not JSON

    val_references = references(val_records)
    # On grounded data (generated scenes) each epoch also reports objects named and attention
    # correctness, so a run shows when its maps get worse; this needs each image's size.
    val_sizes = _image_sizes(val_records) if val_records and all(r.objects for r in val_records) else None

    def on_epoch_end(st: TrainState) -> bool:
        record = dict(st.history[-1])
        if val_features is not None:
            results = decode_features(model, vocab, val_features)
            predictions = {r.image_id: res.text for r, res in zip(val_records, results)}
            scores = caption_metrics(predictions, val_references, meteor=False)
            if val_sizes is not None:
                scores["grounding"] = grounding_report(val_records, results, val_sizes)
            record["val"] = scores
            cider = scores["CIDEr-D"]
            if st.best_score is None or cider > st.best_score:
                st.best_score, st.epochs_without_improvement = cider, 0
                save_model(model, vocab, run / "best")
            else:
                st.epochs_without_improvement += 1
        log(record)
        st.history[-1] = record
        plot_learning_curves(st.history, run / CURVES_FILE, title=run.name)
        if progress:
            print(finite_json(record))
        return val_features is not None and st.epochs_without_improvement >= config.patience

    def on_checkpoint(st, optimizer, scheduler) -> None:
        save_checkpoint(run, model, vocab, st, optimizer, scheduler, keep=config.keep_checkpoints)

    def cross_entropy_over(st: TrainState) -> bool:  # all its epochs done, or stopped early
        return st.epoch >= config.epochs or (val_features is not None and st.epochs_without_improvement >= config.patience)

    scst = config.scst_epochs > 0
    steps_before = state.global_step if state is not None else 0
    if not (scst and state is not None and (state.phase == "scst" or cross_entropy_over(state))):
        state = train_decoder(
            model,
            train_features,
            pairs,
            config,
            progress=progress,
            state=state,
            optimizer_state=optimizer_state,
            on_checkpoint=on_checkpoint,
            on_epoch_end=on_epoch_end,
            stop_after_steps=stop_after_steps,
            dist=dist,
            attention_targets=supervision,
        )
    steps_left = None if stop_after_steps is None else stop_after_steps - (state.global_step - steps_before)
    if scst and cross_entropy_over(state) and (steps_left is None or steps_left > 0):
        if state.phase == "xe":  # the switch: SCST starts from the last cross-entropy weights, with its own optimizer
            state.phase, state.epoch, state.step_in_epoch, state.epochs_without_improvement = "scst", config.epochs, 0, 0
            optimizer_state = None
        refs = [r.captions for r in train_records]
        state = train_self_critical(
            model, train_features, refs, vocab, config, state, optimizer_state, on_checkpoint, on_epoch_end, steps_left, progress
        )
    if dist.is_main and (stop_after_steps is None or state.epoch >= config.epochs + config.scst_epochs):
        save_model(model, vocab, run / "final")
        if val_features is None:
            save_model(model, vocab, run / "best")
    return run
