"""The study's preprocessing, bit for bit, and the decoding policy for awkward inputs."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, load_for_model, resize_for_model
from experiments.models.architecture import keras


@pytest.mark.parametrize("size", [32, 128])
def test_preprocessing_is_bit_identical_to_load_img_on_every_sample(study_images, size):
    assert len(study_images) == 66
    for path in study_images:
        theirs = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(size, size))) / 255
        ours = load_for_model(path, size)
        assert ours.dtype == np.float32 and ours.shape == (size, size, 3)
        assert np.array_equal(ours, theirs), path.name


def test_resize_equals_pil_nearest_for_awkward_sizes():
    rng = np.random.default_rng(0)
    for h, w in [(1, 5), (3, 7), (31, 33), (127, 129), (224, 448), (501, 821), (739, 1573), (2560, 1810)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for size in (7, 32, 128, 224):
            pil = (
                np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.NEAREST), dtype=np.float32) / 255
            )
            assert np.array_equal(resize_for_model(img, size), pil), (h, w, size)


def test_resize_is_nearest_not_smoothing():
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = resize_for_model(np.repeat(checker[..., None], 3, axis=2), 32)
    assert set(np.unique(out)) <= {0.0, 1.0}  # any interpolation would create greys


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def gradient(mode="RGB", size=(40, 30)):
    arr = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3).astype(np.uint8)
    return Image.fromarray(arr).convert(mode)


def test_modes_are_converted_like_load_img(tmp_path):
    for mode, ext in [("L", "png"), ("RGBA", "png"), ("P", "png"), ("CMYK", "jpg"), ("LA", "png"), ("RGB", "webp")]:
        path = save(gradient(mode), tmp_path / f"im_{mode}.{ext}", **({"lossless": True} if ext == "webp" else {}))
        decoded = decode_image(path)
        assert decoded.pixels.shape == (30, 40, 3) and decoded.pixels.dtype == np.uint8, mode
        expected = keras.utils.img_to_array(keras.utils.load_img(path)).astype(np.uint8)
        assert np.array_equal(decoded.pixels, expected), mode
    assert decode_image(tmp_path / "im_RGBA.png").note == "alpha dropped"


def test_16_bit_greyscale_is_scaled_not_saturated(tmp_path):
    values = np.array([[0, 257 * 100, 65535] * 4] * 12, dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    decoded = decode_image(path)
    assert decoded.mode.startswith("I") and "8 bits" in decoded.note
    assert decoded.pixels[0, :3, 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_ignored_by_default_and_applied_on_request(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(gradient(size=(40, 20)), tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert decode_image(path).pixels.shape == (20, 40, 3)
    assert decode_image(path, DecodePolicy(exif_transpose=True)).pixels.shape == (40, 20, 3)


def test_animated_files_give_their_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert decode_image(path).pixels[0, 0].tolist() == [255, 0, 0]


def png_claiming(width, height) -> bytes:
    """A tiny PNG file whose header claims width x height pixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def test_bad_inputs_are_rejected_with_reasons(tmp_path):
    buf = io.BytesIO()
    gradient().save(buf, "JPEG")
    cases = {
        "empty.jpg": (b"", "empty file"),
        "text.jpg": (b"this is not an image\n" * 20, "not an image"),
        "truncated.jpg": (buf.getvalue()[: len(buf.getvalue()) // 2], "truncated or corrupt"),
        "bomb.png": (png_claiming(100_000, 100_000), "decompression bomb"),
        "tiny.png": (None, "smaller than min_side"),
    }
    gradient(size=(5, 40)).save(tmp_path / "tiny.png")
    for name, (data, reason) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageRejected, match=reason):
            decode_image(tmp_path / name)
    with pytest.raises(ImageRejected, match="file not found"):
        decode_image(tmp_path / "missing.jpg")


def test_bomb_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    path = save(gradient(size=(100, 100)), tmp_path / "ok.png")
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded a refused image"))
    with pytest.raises(ImageRejected, match="over max_pixels 9,999"):
        decode_image(path, DecodePolicy(max_pixels=9_999))
