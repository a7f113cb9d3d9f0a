"""The scoring stage's per-image bookkeeping, made cheap without changing what it gives: rows built
a column at a time equal the rows of dicts they replace (values and types), and the input files'
bytes read with their digests decode to the pixels of the files themselves."""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from augment import expand_grid
from experiments.inputs import fingerprints
from experiments.inputs.fingerprints import file_sha256, input_digests, input_digests_and_bytes
from experiments.inputs.images import DecodePolicy
from experiments.inputs.samples import Sample
from experiments.models.detector import InputSpec
from experiments.context import Timings
from experiments.stages.scoring.batches import sample_inputs, score_chunk, score_rows
from experiments.stages.scoring.prepared import Ahead


def rows_of_dicts(kept, detectors, probs) -> pd.DataFrame:
    """The rows as scoring made them before: a dict per sample x model x variant."""
    rows, offset = [], 0
    for sample, done in kept:
        meta = {"sample": sample.id, "subject": sample.subject, "edit": sample.edit, "truth": sample.truth}
        meta |= sample.labels()
        for d in detectors:
            ai, human = d.class_names.index("ai"), d.class_names.index("human")
            p_d, margin_d = (a[offset : offset + len(done)] for a in probs[d.name])
            for variant, p, margin in zip(done, p_d, margin_d):
                rows.append(meta | {
                    "variant": variant.id, "op": variant.op, "params": json.dumps(variant.params, sort_keys=True),
                    "severity": variant.severity, "model": d.name, "p_ai": float(p[ai]), "p_human": float(p[human]),
                    "margin": float(margin), "replicate": variant.replicate,
                })  # fmt: skip
        offset += len(done)
    return pd.DataFrame(rows)


@dataclass
class Named:
    name: str
    class_names: tuple[str, str]


GRIDS = [
    {},
    {"gamma": {"gamma": [0.5, 2.0]}, "jpeg": {"quality": [30, 70]}},
    {
        "repeats": 3,
        "gaussian_noise": {"std": [0.02, 0.1]},
        "saturation": {"factor": [0, 1.5]},
        "combined": [[{"gaussian_noise": {"std": 0.05}}, {"gaussian_blur": {"sigma": 2}}]],
    },
]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("source", [None, "wikiart"])
def test_rows_built_by_columns_equal_the_rows_of_dicts(grid, source):
    """Samples with some variants failed and one with none scored, two models with their classes
    in either order, replicates and combined edits, style or source labels: equal values, equal types."""
    variants, rng = expand_grid(grid), np.random.default_rng(0)
    samples = [
        Sample(f"s{i}", None, f"sub{i}", "original", ("human", "ai")[i % 2], style="st", generator="g", source=source)
        for i in range(7)
    ]
    kept = [(s, [] if i == 3 else [v for j, v in enumerate(variants) if (i + j) % 3 or len(variants) == 1])
            for i, s in enumerate(samples)]  # fmt: skip
    models = [Named("a", ("ai", "human")), Named("b", ("human", "ai"))]
    images = sum(len(done) for _, done in kept)
    probs = {m.name: (rng.random((images, 2)), rng.normal(size=images)) for m in models}
    for chosen in (models, models[:1]):
        found, expected = score_rows(kept, chosen, probs), rows_of_dicts(kept, chosen, probs)
        pd.testing.assert_frame_equal(found, expected, check_exact=True)
        assert list(found.dtypes) == list(expected.dtypes)
    nothing = {m.name: (np.zeros((0, 2)), np.zeros(0)) for m in models}
    assert score_rows([(samples[0], [])], models, nothing).empty


def test_digests_with_bytes_are_the_digests_and_keep_only_small_files(tmp_path, monkeypatch):
    small, big, empty = tmp_path / "small.jpg", tmp_path / "big.jpg", tmp_path / "empty.jpg"
    small.write_bytes(b"tiny")
    big.write_bytes(os.urandom(fingerprints.SMALL_FILE + 1))
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    paths = [small, big, empty, fifo, tmp_path / "missing.jpg", None]
    samples = [Sample(f"s{i}", p, "x", "original", "ai") for i, p in enumerate(paths)]
    with ThreadPoolExecutor(2) as pool:
        for run in (lambda: input_digests_and_bytes(samples), lambda: input_digests_and_bytes(samples, pool, 2)):
            digests, contents = run()
            assert digests == input_digests(samples) and digests["s0"] == file_sha256(small)
            assert digests["s3"] == "not a regular file" and digests["s4"] == "missing" and digests["s5"] is None
            assert contents == {"s0": b"tiny", "s2": b""}
    assert input_digests_and_bytes(samples, keep=0)[1] == {"s2": b""}
    monkeypatch.setattr(fingerprints, "SMALL_FILES_BUDGET", 3)
    assert input_digests_and_bytes(samples)[1] == {"s2": b""}  # over the budget: decoded from the file


def test_a_sample_decoded_from_its_bytes_gives_its_pixels_and_its_bytes_are_let_go(cifake, tmp_path):
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 4), dtype=np.uint8)).save(rgba)
    paths = [*sorted((cifake / "test" / "ai").iterdir())[:2], rgba]
    samples = [Sample(p.name, p, p.stem, "original", "ai") for p in paths]
    _, contents = input_digests_and_bytes(samples, keep=1 << 30)
    specs, variants = [InputSpec(32), InputSpec(64, "bilinear", "centre")], expand_grid({})
    for s in samples:
        from_file = sample_inputs(s, variants, specs, 0, DecodePolicy())
        from_bytes = sample_inputs(s, variants, specs, 0, DecodePolicy(), contents=contents)
        assert all(np.array_equal(from_file.inputs[spec], from_bytes.inputs[spec]) for spec in specs)
        assert s.id not in contents


def test_chunks_prepared_ahead_score_as_each_chunk_alone(cifake, cnn32, tmp_path):
    """A local worker queues the next chunk's groups before this one is predicted: the same
    batches, so the same rows bit for bit, and each chunk's own skip records."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    ai, human = (sorted((cifake / "test" / label).iterdir()) for label in ("ai", "human"))
    samples = [Sample(p.name, p, p.stem, "original", "ai") for p in [*ai[:70], broken, *human[:9]]]
    chunks = [samples[:40], samples[40:79], samples[79:]]  # the last one fewer samples than threads
    variants = expand_grid({"gamma": {"gamma": [0.5]}})
    with ThreadPoolExecutor(2) as pool:
        score = lambda chunk, ahead=None: score_chunk(  # noqa: E731
            chunk, variants, [cnn32], 0, 16, DecodePolicy(), pool, 2, Timings(), ahead=ahead
        )
        alone = [score(c) for c in chunks]
        queue = Ahead(pool)
        together = [score(c, (queue, nxt)) for c, nxt in zip(chunks, [*chunks[1:], []])]
    for (rows, skips), (rows_alone, skips_alone) in zip(together, alone):
        pd.testing.assert_frame_equal(rows, rows_alone, check_exact=True)
        assert skips == skips_alone
    assert [s["sample"] for _, skips in together for s in skips] == ["broken.jpg"]
