"""Background effects at 640x480 on one core: decode + segment + composite + encode.

What one publisher's effected stream costs the server, stage by stage, and how many such
streams at 30 fps one core sustains. The pipeline is the rendition pipeline's: aiortc's
Vp8Decoder -> effects.BackgroundEffect -> aiortc's Vp8Encoder (the encoder runs once per
rendition; here one rendition at the source size).

Source: the Grace Hopper portrait shipped with matplotlib, slowly panned and zoomed with
camera-like noise, encoded once (untimed) to VP8 at 900 kbps by aiortc's Vp8Encoder.

Figures: wall-clock milliseconds per stage (p50, p95) and process CPU milliseconds per frame
(all threads of the process: MediaPipe runs its inference on its own threads). The process
is pinned to one core, so CPU time is the core's work; on a machine shared with other
jobs the CPU figures are the stable ones, wall times include waiting for the core.
Streams per core = 1000 ms / (30 frames x mean CPU ms per frame). Segmentation runs on
every frame by default (load shedding off) so the figures are the full price;
``--segment-every 2`` shows the price with the mask reused every other frame (segmentation
p50 is then 0: the column's mean and the CPU figure carry its cost).

    .venv/bin/python benchmarks/effects_bench.py                  # 300 frames per effect
    .venv/bin/python benchmarks/effects_bench.py --segment-every 2
    .venv/bin/python benchmarks/effects_bench.py --frames 150 --json out.json
    .venv/bin/python benchmarks/effects_bench.py --segmenters     # Tasks vs legacy API
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

# Run from a checkout without installing: the repository root holds the `effects` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import cv2
import matplotlib
import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from effects.config import EffectsConfig
from effects.images import BackgroundImageStore
from effects.model import check_model
from effects.spec import EffectSpec
from effects.transform import BackgroundEffect

WIDTH, HEIGHT, FPS = 640, 480, 30
BITRATE = 900_000
TIME_BASE = Fraction(1, 90000)
PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
STAGES = ("decode", "segmentation", "composite", "effect_other", "encode", "total")


@dataclass
class Run:
    name: str
    wall_ms: dict[str, list[float]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    cpu_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        stages = {
            stage: {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": statistics.fmean(values)}
            for stage, values in self.wall_ms.items()
            if values
        }
        cpu_mean = statistics.fmean(self.cpu_ms)
        return {
            "name": self.name,
            "frames": len(self.cpu_ms),
            "wall_ms": stages,
            "cpu_ms_per_frame": {"mean": cpu_mean, "p95": percentile(self.cpu_ms, 95)},
            "streams_per_core_at_30fps": 1000.0 / (FPS * cpu_mean),
        }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def source_frames(count: int) -> Iterator[av.VideoFrame]:
    """The portrait slowly panned and zoomed (a seated patient moves a little), with noise."""
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    canvas = cv2.resize(photo, (int(WIDTH * 1.25), int(HEIGHT * 1.25)), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    for index in range(count):
        phase = 2 * np.pi * index / 150
        left = int((canvas.shape[1] - WIDTH) * (0.5 + 0.5 * np.sin(phase)))
        top = int((canvas.shape[0] - HEIGHT) * (0.5 + 0.5 * np.cos(phase)))
        crop = canvas[top : top + HEIGHT, left : left + WIDTH].astype(np.int16)
        noisy = np.clip(crop + rng.normal(0, 3, crop.shape), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(noisy, format="bgr24").reformat(format="yuv420p")
        frame.pts = index * (90000 // FPS)
        frame.time_base = TIME_BASE
        yield frame


def encoded_source(count: int) -> list[JitterFrame]:
    """VP8 frames as the receiver's jitter buffer hands them to the decoder."""
    encoder = Vp8Encoder()
    encoder.target_bitrate = BITRATE
    frames = []
    for index, frame in enumerate(source_frames(count)):
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
        frames.append(JitterFrame(b"".join(vp8_depayload(payload) for payload in payloads), timestamp))
    return frames


def run_pipeline(name: str, packets: list[JitterFrame], effect: BackgroundEffect | None) -> Run:
    decoder = Vp8Decoder()
    encoder = Vp8Encoder()
    encoder.target_bitrate = BITRATE
    run = Run(name)
    clock, cpu = time.perf_counter, time.process_time
    for index, packet in enumerate(packets):
        cpu_start = cpu()
        started = clock()
        decoded = decoder.decode(packet)
        decoded_at = clock()
        frame = decoded[0]
        if not isinstance(frame, av.VideoFrame):
            raise TypeError(f"decoder gave {type(frame).__name__}, expected a video frame")
        if effect is not None:
            segmented_before = effect.stats().segmentations
            frame = effect.apply(frame)
            stats = effect.stats()
            segmented = stats.segmentations != segmented_before
        applied_at = clock()
        encoder.encode(frame, force_keyframe=index == 0)
        encoded_at = clock()
        run.cpu_ms.append((cpu() - cpu_start) * 1000)
        run.wall_ms["decode"].append((decoded_at - started) * 1000)
        run.wall_ms["encode"].append((encoded_at - applied_at) * 1000)
        run.wall_ms["total"].append((encoded_at - started) * 1000)
        if effect is not None:
            segmentation_ms = stats.last_segmentation_ms if segmented else 0.0
            run.wall_ms["segmentation"].append(segmentation_ms)
            run.wall_ms["composite"].append(stats.last_composite_ms)
            other = (applied_at - decoded_at) * 1000 - segmentation_ms - stats.last_composite_ms
            run.wall_ms["effect_other"].append(other)
    return run


def effects_benchmark(frames: int, segment_every: int) -> list[dict[str, object]]:
    # Load shedding off: the same step on every frame, so the figures are a fixed price.
    config = EffectsConfig(min_segment_every=segment_every, max_segment_every=segment_every)
    model_path = check_model(config)
    images = BackgroundImageStore(config)
    ok, png = cv2.imencode(".png", cv2.resize(cv2.imread(str(PHOTO)), (1280, 720))[:, ::-1])
    if not ok:
        raise RuntimeError("could not encode the replacement picture")
    image = images.add("bench", "mirrored portrait", png.tobytes())
    packets = encoded_source(frames)
    specs: list[tuple[str, EffectSpec | None]] = [
        ("passthrough (decode+encode)", None),
        ("blur light", EffectSpec.parse("blur", "light")),
        ("blur strong", EffectSpec.parse("blur", "strong")),
        ("image", EffectSpec.parse("image", org="bench", image_id=image.image_id)),
    ]
    results = []
    for name, spec in specs:
        effect = None if spec is None else BackgroundEffect(spec, images, model_path=model_path, config=config)
        if effect is not None:
            effect.apply(next(source_frames(1)))  # load the model: a start-up cost, not a frame cost
        try:
            results.append(run_pipeline(name, packets, effect).summary())
        finally:
            if effect is not None:
                effect.close()
    return results


def segmenter_comparison(frames: int) -> list[dict[str, object]]:
    """Tasks ImageSegmenter vs legacy solutions.selfie_segmentation, same model, 640x480."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    model_path = check_model(EffectsConfig())
    rgb = np.ascontiguousarray(next(source_frames(1)).to_ndarray(format="rgb24"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tasks = vision.ImageSegmenter.create_from_options(
            vision.ImageSegmenterOptions(
                base_options=BaseOptions(model_asset_path=str(model_path)),
                running_mode=vision.RunningMode.IMAGE,
                output_confidence_masks=True,
                output_category_mask=False,
            )
        )
    legacy = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def tasks_call() -> None:
        result = tasks.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        result.confidence_masks[0].numpy_view().copy()

    def legacy_call() -> None:
        legacy.process(rgb).segmentation_mask.copy()

    calls: dict[str, Callable[[], None]] = {"tasks ImageSegmenter": tasks_call, "legacy solutions": legacy_call}
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # warm-up
        for _ in range(10):
            call()
    for _ in range(frames):  # interleaved, so machine load hits both alike
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    tasks.close()
    legacy.close()
    return [{"name": name, "p50": percentile(values, 50), "p95": percentile(values, 95)} for name, values in timings.items()]


def print_effects(results: list[dict[str, object]]) -> None:
    header = f"{'pipeline':30} " + " ".join(f"{stage:>17}" for stage in STAGES) + f" {'cpu ms':>8} {'streams/core':>12}"
    print(header)
    print(" " * 31 + " ".join(f"{'p50 / p95':>17}" for _ in STAGES))
    for result in results:
        wall = result["wall_ms"]
        assert isinstance(wall, dict)
        cells = []
        for stage in STAGES:
            cells.append(f"{wall[stage]['p50']:7.2f} / {wall[stage]['p95']:6.2f}" if stage in wall else f"{'-':>17}")
        cpu = result["cpu_ms_per_frame"]
        assert isinstance(cpu, dict)
        print(f"{result['name']:30} " + " ".join(cells) + f" {cpu['mean']:8.2f} {result['streams_per_core_at_30fps']:12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per pipeline (default 300)")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last one allowed)")
    parser.add_argument(
        "--segment-every", type=int, default=1, help="segment one frame in N, reuse the mask between (default 1)"
    )
    parser.add_argument("--segmenters", action="store_true", help="compare the MediaPipe APIs instead")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not 10 <= args.frames <= 3000:
        parser.error("--frames: between 10 and 3000")
    if not 1 <= args.segment_every <= 8:
        parser.error("--segment-every: between 1 and 8")
    core = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    print(
        f"pinned to core {core}; {WIDTH}x{HEIGHT} VP8 {BITRATE // 1000} kbps, {args.frames} frames per run, "
        f"segmenting 1 frame in {args.segment_every}"
    )
    if args.segmenters:
        results = segmenter_comparison(args.frames)
        for result in results:
            print(f"{result['name']:24} p50 {result['p50']:.2f} ms  p95 {result['p95']:.2f} ms")
    else:
        results = effects_benchmark(args.frames, args.segment_every)
        print_effects(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
