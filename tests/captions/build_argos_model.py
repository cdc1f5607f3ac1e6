"""Build a tiny but real argostranslate package (.argosmodel) offline, for tests.

- a sentencepiece model (``model_type=word``) trained on a few lines of both languages;
- a CTranslate2 Transformer (1 encoder + 1 decoder layer) made with ``ctranslate2.specs``.

The decoder is wired so its output does not depend on the input: every attention and
feed-forward block writes zeros into the residual stream, token embeddings are one-hot
and large, and the output projection maps each token to the next token of a fixed
phrase. So the model always "translates" into ``target_phrase`` (deterministic, which
makes the tests exact) while running the real path: package loading, tokenisation,
the CTranslate2 encoder and beam search, detokenisation.

Usage: python tests/captions/build_argos_model.py OUT_DIR  (writes en_fr and ko_en).
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHRASES = {
    ("en", "fr"): "bonjour tout le monde",
    ("ko", "en"): "hello from seoul",
    ("en", "de"): "guten tag zusammen",
}

#: Output of the base-size model used by the benchmark (13 tokens, like a real sentence).
BENCH_PHRASE = "le patient a une forte fièvre depuis hier soir avec mal au ventre"

_CORPUS = [
    BENCH_PHRASE,
    "the patient has a headache and a mild fever since yesterday",
    "please take one tablet twice a day after meals",
    "how are you feeling today",
    "hello from seoul",
    "bonjour tout le monde",
    "guten tag zusammen",
    "안녕하세요 오늘 기분이 어떠세요",
]


def _train_sentencepiece(folder: Path) -> Path:
    import sentencepiece as spm

    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(_CORPUS * 3) + "\n", encoding="utf-8")
    prefix = folder / "sentencepiece"
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        model_type="word",
        vocab_size=48,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


@dataclass(frozen=True)
class ModelSize:
    """Transformer dimensions. ``TINY`` for tests; ``BASE`` is the size of real argos
    packages (6+6 layers, 512 wide, 32k vocabulary), to measure realistic latency."""

    layers: int = 1
    heads: int = 2
    depth: int = 0  # 0: the vocabulary size rounded up to 8 (one-hot embeddings)
    ffn: int = 0  # 0: twice the depth
    vocabulary: int = 0  # pad the vocabulary with unused tokens up to this size
    quantization: str | None = None


TINY = ModelSize()
BASE = ModelSize(layers=6, heads=8, depth=512, ffn=2048, vocabulary=32000, quantization="int8")


def _build_ct2_model(vocab: list[str], phrase_tokens: list[str], out: Path,
                     model_size: ModelSize = TINY) -> None:
    import ctranslate2.specs as specs
    from ctranslate2.specs.model_spec import visit_spec

    vocab = vocab + [f"<unused{i}>" for i in range(max(0, model_size.vocabulary - len(vocab)))]
    size = len(vocab)
    depth = model_size.depth or ((size + 7) // 8) * 8
    if depth < size and model_size.depth == 0:
        raise ValueError("depth must cover the vocabulary for one-hot embeddings")
    ffn = model_size.ffn or 2 * depth
    rng = np.random.default_rng(7)
    spec = specs.TransformerSpec.from_config((model_size.layers, model_size.layers), model_size.heads)

    def fill(layer: object, name: str, value: object) -> None:
        if value is not None:
            return
        attr = name.rsplit("/", 1)[-1]
        if attr == "gamma":
            array = np.ones(depth, np.float32)
        elif attr == "beta":
            array = np.zeros(depth, np.float32)
        else:
            return
        setattr(layer, attr, array)

    visit_spec(spec, fill)
    enc, dec = spec.encoder, spec.decoder
    small = lambda *shape: np.asarray(rng.standard_normal(shape) * 0.02, np.float32)  # noqa: E731
    zeros = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    enc.embeddings[0].weight = small(size, depth)
    for layer in enc.layer:
        layer.self_attention.linear[0].weight = small(3 * depth, depth)
        layer.self_attention.linear[1].weight = small(depth, depth)
        layer.ffn.linear_0.weight = small(ffn, depth)
        layer.ffn.linear_1.weight = small(depth, ffn)
    # Decoder embeddings: a distinct large direction per token (one-hot when the model is
    # wide enough, random unit vectors otherwise), so the output projection can read the
    # previous token back and choose the next one of the phrase.
    if depth >= size:
        directions = np.zeros((size, depth), np.float32)
        directions[np.arange(size), np.arange(size)] = 1.0
    else:
        directions = rng.standard_normal((size, depth)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    dec.embeddings.weight = directions * 10.0
    for layer in dec.layer:
        layer.self_attention.linear[0].weight = small(3 * depth, depth)
        layer.self_attention.linear[1].weight = zeros(depth, depth)
        layer.attention.linear[0].weight = small(depth, depth)
        layer.attention.linear[1].weight = small(2 * depth, depth)
        layer.attention.linear[2].weight = zeros(depth, depth)
        layer.ffn.linear_0.weight = small(ffn, depth)
        layer.ffn.linear_1.weight = zeros(depth, ffn)
    index = {token: i for i, token in enumerate(vocab)}
    chain = ["<s>", *phrase_tokens, "</s>"]
    projection = np.zeros((size, depth), np.float32)
    for previous, following in itertools.pairwise(chain):
        # The next token's row is the previous token's direction: by far the largest logit.
        projection[index[following]] += directions[index[previous]] * 10.0
    dec.projection.weight = projection
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    if model_size.quantization:
        spec.optimize(quantization=model_size.quantization)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))


def build_package(src: str, dst: str, out_dir: Path, model_size: ModelSize = TINY,
                  phrase: str | None = None) -> Path:
    """Write ``translate-SRC_DST.argosmodel`` into ``out_dir`` and return its path."""
    import sentencepiece as spm

    phrase = phrase or PHRASES[(src, dst)]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sp_model = _train_sentencepiece(work)
        processor = spm.SentencePieceProcessor(model_file=str(sp_model))
        vocab = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        phrase_tokens = processor.encode(phrase, out_type=str)
        if len(set(phrase_tokens)) != len(phrase_tokens) or "<unk>" in phrase_tokens:
            raise ValueError(f"phrase {phrase!r} must have distinct known tokens")
        name = f"translate-{src}_{dst}-test"
        package = work / name
        package.mkdir()
        _build_ct2_model(vocab, phrase_tokens, package / "model", model_size)
        (package / "sentencepiece.model").write_bytes(sp_model.read_bytes())
        metadata = {
            "package_version": "0.1",
            "argos_version": "1.9",
            "from_code": src,
            "from_name": src,
            "to_code": dst,
            "to_name": dst,
            "type": "translate",
        }
        (package / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        target = out_dir / f"{name}.argosmodel"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(package.rglob("*")):
                archive.write(path, path.relative_to(work).as_posix())
    return target


if __name__ == "__main__":
    destination = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for pair in (("en", "fr"), ("ko", "en")):
        print(build_package(*pair, destination))
