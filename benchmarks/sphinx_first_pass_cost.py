"""Where a speaker's first final spends its time in pocketsphinx (issue 13), in CPU seconds.

For each sentence (espeak-ng through Opus, as the worker hears it), as a stream's first
utterance: the live search in 200 ms chunks, its ``end_utt``, the "features-only" mean pass
the engine used to run (``process_raw(no_search=True)`` + ``get_cmn(True)``: pocketsphinx
searches the buffered features at ``end_utt`` anyway), the second pass that followed it, and
what the engine does now (captions/engines/sphinx_engine.py): the same mean pass with a
one-word keyphrase search active, then the second pass; and an alternative that was tried
and rejected: no mean pass, one more full pass from where the live pass left the mean.
Word error rates of the three, and how far the learnt means are from the old one.

CPU time (``time.process_time``), so figures hold on a shared machine better than wall time.

Usage: .venv/bin/python benchmarks/sphinx_first_pass_cost.py [--json out.json]
Bounded: ten sentences, well under a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pocketsphinx import Decoder

from captions.engines.base import BYTES_PER_SECOND
from captions.engines.sphinx_engine import (
    MEAN_KEYPHRASE,
    MEAN_SEARCH,
    SEARCH_SETTINGS,
    cheap_utterance_mean,
    new_decoder,
    utterance_mean,
)
from captions.languages import SpeechCatalog
from tests.captions.speech import CLINIC_SENTENCES, pcm16k, word_error_rate

SENTENCES = CLINIC_SENTENCES


def cpu(action: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = action()
    return time.process_time() - started, result


def live_search(decoder: Decoder, audio: bytes) -> None:
    """The live pass: 200 ms chunks, as the worker hands them over (ended by end_utt)."""
    chunk = BYTES_PER_SECOND // 5
    decoder.start_utt()
    for index in range(0, len(audio), chunk):
        decoder.process_raw(audio[index:index + chunk], False, False)


def full_pass(decoder: Decoder, audio: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(audio, False, True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return str(hyp.hypstr) if hyp is not None else ""


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        model = SpeechCatalog(Path(tmp)).resolve("en", "benchmark")
    decoder = new_decoder(model, SEARCH_SETTINGS)
    decoder.add_keyphrase(MEAN_SEARCH, MEAN_KEYPHRASE)  # as the engine's pool does
    initial = decoder.get_cmn()
    rows = []
    for text in SENTENCES:
        audio = pcm16k(text)
        # before issue 13: live pass, features-only mean pass, second pass with that mean
        decoder.set_cmn(initial)
        live_s, _ = cpu(partial(live_search, decoder, audio))
        end_s, _ = cpu(decoder.end_utt)
        mean_s, mean = cpu(partial(utterance_mean, decoder, audio))
        decoder.set_cmn(mean)
        second_s, two_pass_text = cpu(partial(full_pass, decoder, audio))
        # now: live pass, mean pass with the keyphrase search, second pass with that mean
        decoder.set_cmn(initial)
        live_search(decoder, audio)
        decoder.end_utt()
        cheap_s, cheap_mean = cpu(partial(cheap_utterance_mean, decoder, audio))
        decoder.set_cmn(cheap_mean)
        now_text = full_pass(decoder, audio)
        # rejected: live pass, then one full pass from where the live pass left the mean
        decoder.set_cmn(initial)
        live_search(decoder, audio)
        decoder.end_utt()
        one_s, one_pass_text = cpu(partial(full_pass, decoder, audio))
        one_mean = decoder.get_cmn()
        first_coefficient_gap = abs(float(mean.split(",")[0]) - float(one_mean.split(",")[0]))
        cheap_gap = abs(float(mean.split(",")[0]) - float(cheap_mean.split(",")[0]))
        rows.append({
            "audio_s": round(len(audio) / BYTES_PER_SECOND, 2),
            "live_search_cpu_s": round(live_s, 3), "end_utt_cpu_s": round(end_s, 3),
            "old_mean_pass_cpu_s": round(mean_s, 3), "old_second_pass_cpu_s": round(second_s, 3),
            "one_full_pass_cpu_s": round(one_s, 3), "keyphrase_mean_pass_cpu_s": round(cheap_s, 3),
            "same_words": one_pass_text == two_pass_text, "c0_gap": round(first_coefficient_gap, 3),
            "said": text, "two_passes_heard": two_pass_text, "one_pass_heard": one_pass_text,
            "now_heard": now_text, "keyphrase_mean_c0_gap": round(cheap_gap, 3),
        })
    audio_total = sum(r["audio_s"] for r in rows)

    def per_second(key: str) -> float:
        return round(sum(r[key] for r in rows) / audio_total, 3)

    return {
        "sentences": len(rows), "audio_s": round(audio_total, 1),
        "cpu_s_per_audio_s": {key: per_second(key) for key in (
            "live_search_cpu_s", "end_utt_cpu_s", "old_mean_pass_cpu_s", "old_second_pass_cpu_s",
            "one_full_pass_cpu_s", "keyphrase_mean_pass_cpu_s")},
        "same_words": sum(r["same_words"] for r in rows),
        "wer_two_passes": round(word_error_rate(" ".join(r["said"] for r in rows),
                                                " ".join(r["two_passes_heard"] for r in rows)), 3),
        "wer_now": round(word_error_rate(" ".join(r["said"] for r in rows),
                                         " ".join(r["now_heard"] for r in rows)), 3),
        "max_keyphrase_mean_c0_gap": max(r["keyphrase_mean_c0_gap"] for r in rows),
        "wer_one_pass": round(word_error_rate(" ".join(r["said"] for r in rows),
                                              " ".join(r["one_pass_heard"] for r in rows)), 3),
        "max_c0_gap": max(r["c0_gap"] for r in rows),
        "rows": rows,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    report = main()
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=1))
