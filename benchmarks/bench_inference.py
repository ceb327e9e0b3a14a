"""Inference cost on the CPU: the encoder alone vs full captioning (preprocessing, encoder,
beam search, attention maps), per image, at batch 1 and batch 32.

    python -m benchmarks.bench_inference [--model DIR] [--threads 2] [--beam-size 3] [--int8] [--onnx] [--upload PX] [--naming]
        [--detector-size PX] [--detector-threads N]

Without --model it uses the default architecture with a random decoder and a 60-word
vocabulary whose <end> is suppressed, so every caption runs the full max_len (20) steps: an
upper bound on decoding cost. With --upload the photos arrive as the bytes of JPEG files (scaled up
to PX pixels on the longer side, quality 90), as a phone photo reaches the web app: full
captioning then includes decoding them. Goals (issues 2 and 14): full captioning at batch 32 <= 1.25x the
encoder, at batch 1 <= 1.5x. The encoder and full captioning run in turn, so the ratio holds on a
busy machine. With --naming (a model that names objects, e.g. --model objects) full captioning
runs in turn with and without naming (the ImageNet classifier where each word looked, the people
detector), with the classifier alone, and with the classifier also on each word's crop (a design
measured, not the default: captioner/recognition/crops.py): what naming costs (issue 22: at most
1.25x). Its photos
are then real photographs as users upload them (benchmarks.common.user_photos: spread over
data/photos, objects, people and places; the scikit-image samples otherwise); --detector-size and
--detector-threads measure other settings of the people detector than the shipped ones.
"""

from __future__ import annotations

import argparse
import io

import torch
from PIL import Image

from benchmarks.common import paired, photos, setup_threads, synthetic_vocab, user_photos
from captioner import Captioner, ModelConfig
from captioner.runtime.inference import InferenceRuntime
from captioner.vocab import Vocabulary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="saved model directory (default: random decoder, default sizes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--int8", action="store_true", help="decode with int8 projections (Captioner(int8=True))")
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="run the encoder and the decoding step on ONNX Runtime (Captioner(onnx=True)); with --int8, the step in int8 there",
    )
    parser.add_argument("--upload", type=int, metavar="PX", help="give each photo as the bytes of a JPEG whose longer side is PX pixels")
    parser.add_argument("--naming", action="store_true", help="full captioning with naming against the decoder's words only, in turn")
    parser.add_argument(
        "--detector-size", type=int, metavar="PX", help="with --naming: the people detector reads PX x PX (a multiple of 32)"
    )
    parser.add_argument("--detector-threads", type=int, metavar="N", help="with --naming: the people detector's ONNX Runtime threads")
    args = parser.parse_args()
    setup_threads(args.threads)

    if args.model:
        cap = Captioner.from_pretrained(args.model, device="cpu", int8=args.int8, onnx=args.onnx)
        if args.naming and cap.namer is not None and cap.namer.detector is not None and (args.detector_size or args.detector_threads):
            from captioner.recognition.detector import ObjectDetector

            shipped = cap.namer.detector
            cap.namer.detector = ObjectDetector.from_pretrained(
                input_size=args.detector_size or shipped.input_size, threads=args.detector_threads or shipped.threads
            )
    else:
        torch.manual_seed(0)
        cap = Captioner.from_config(ModelConfig(), synthetic_vocab(60), device="cpu")
        with torch.no_grad():
            cap.model.decoder.out.bias[Vocabulary.end_id] = -1e4  # worst case: no caption ends early
        cap.runtime = InferenceRuntime(cap.model, int8=args.int8, onnx=args.onnx)
    print(
        f"encoder {cap.config.encoder} levels {cap.config.feature_levels} grid {cap.config.grid_size} D={cap.config.feature_dim}; "
        f"decoder E={cap.config.embed_dim} H={cap.config.hidden_dim} A={cap.config.attention_dim} "
        f"attention={cap.config.attention}; max_len {cap.config.max_len}; beam {args.beam_size}; threads {args.threads}"
        f"{'; int8 decoding' if args.int8 else ''}{'; on ONNX Runtime' if args.onnx else ''}"
        f"{f'; photos as JPEG bytes, {args.upload} px' if args.upload else ''}"
        f"{_detector_line(cap) if args.naming else ''}"
    )
    print(
        f"{'batch':>5} {'encoder ms/img':>15} {'full ms/img':>12} {'ratio':>6}   (medians of {args.repeats} interleaved rounds; ratio: median of the pairs)"
    )
    for batch in (1, 32):
        # Batch 1: 8 photos one at a time per round, as the web app gets them.
        images = (user_photos if args.naming else photos)(batch if batch > 1 else 8)
        pixels = [cap.preprocessor(images[i : i + batch]) for i in range(0, len(images), batch)]
        if args.upload:
            images = [_jpeg(im, args.upload) for im in images]

        def encoder_only():
            with torch.inference_mode():
                for p in pixels:
                    cap.model.encode(p)

        def full():
            for i in range(0, len(images), batch):
                cap.caption(images[i : i + batch], beam_size=args.beam_size, batch_size=batch)

        n = len(images)
        if args.naming:
            _naming_costs(cap, full, batch, n, args.repeats)
            continue
        t_enc, t_full, ratio = paired(encoder_only, full, repeats=args.repeats)
        print(f"{batch:>5} {t_enc / n * 1000:>15.1f} {t_full / n * 1000:>12.1f} {ratio:>6.2f}")


def _naming_costs(cap, full, batch: int, n: int, repeats: int) -> None:
    """Full captioning without naming, then with it (detector and classifier), then with the
    classifier alone, then with the classifier also on each word's crop; each pair in turn."""
    from captioner.recognition.crops import CropClassifier

    namer = cap.namer
    if namer is None:
        raise SystemExit("--naming: this model does not name objects (use --model objects)")
    detector = namer.detector
    crops = CropClassifier.for_model(cap.model, namer.classifier)

    def plain():
        cap.namer = None
        full()

    def named():
        cap.namer, namer.detector = namer, detector
        full()

    def classifier_only():
        cap.namer, namer.detector = namer, None
        full()

    def with_crops():
        cap.namer, namer.detector, namer.crops = namer, None, crops
        full()
        namer.crops = None

    rows = (("naming (classifier + detector)", named), ("naming (classifier only)", classifier_only))
    for label, fn in rows + (("naming (classifier + crops, not the default)", with_crops),):
        t_plain, t_named, ratio = paired(plain, fn, repeats=repeats)
        print(f"{batch:>5} decoder words {t_plain / n * 1000:.1f} ms/img, {label} {t_named / n * 1000:.1f} ms/img, ratio {ratio:.2f}")
    cap.namer, namer.detector = namer, detector


def _detector_line(cap) -> str:
    detector = cap.namer.detector if cap.namer is not None else None
    if detector is None:
        return "; no people detector; photos from data/photos"
    threads = detector.threads or "torch's"
    return f"; people detector {detector.input_size}x{detector.input_size}, {threads} threads; photos from data/photos"


def _jpeg(image, longer_side: int) -> bytes:
    scale = longer_side / max(image.size)
    buffer = io.BytesIO()
    image.resize((round(image.size[0] * scale), round(image.size[1] * scale)), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
