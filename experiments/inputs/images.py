"""Decoding images safely, and the study's preprocessing.

Policy for what comes in (each rejection is recorded in the run's `skipped` table, never fatal):
- not a regular file (a FIFO, a device: never opened for reading), empty, unrecognised format,
  truncated or corrupt data, or anything else the decoder raises for this one file
  (e.g. Pillow's NotImplementedError for a DDS pixel format it lacks): rejected with the reason;
- a header claiming more than `max_pixels` pixels: rejected *before* any pixel is decoded
  (decompression bombs);
- a side shorter than `min_side` pixels: rejected (nothing left to classify);
- 8-bit modes (L, LA, P, RGBA, CMYK, YCbCr...): converted with PIL's `convert("RGB")`, exactly
  what `keras.utils.load_img` does: alpha is dropped (not composited), CMYK is converted without
  an ICC profile, palettes are expanded;
- 16/32-bit integer greyscale (I;16, I): scaled to 8 bits (value / 257) then replicated to RGB,
  because PIL's own conversion saturates them to white;
- floating-point images (F): rejected;
- animated files (GIF, WebP, ...): the first frame;
- EXIF orientation: ignored by default, as `load_img` ignores it (so scores match the study);
  `exif_transpose: true` applies it.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from experiments.inputs import jpeg
from experiments.inputs.folders import NotRegularFile, open_regular

# PIL's own limit warns or raises inside open(); we apply our own, configurable limit instead.
Image.MAX_IMAGE_PIXELS = None
JPEG_READ_WHOLE = 256 * 2**20  # a JPEG file up to this size is read whole, to see whether OpenCV may decode it


class ImageRejected(ValueError):
    """An input that cannot be scored; the message is the reason recorded for it."""


@dataclass(frozen=True)
class DecodePolicy:
    max_pixels: int = 89_478_485  # PIL's default decompression-bomb limit
    min_side: int = 8
    exif_transpose: bool = False


def decode_policy(cfg) -> DecodePolicy:
    """The decoding limits a run config's `preprocess` block sets (experiments.config.schema)."""
    return DecodePolicy(cfg.preprocess.max_pixels, cfg.preprocess.min_side, cfg.preprocess.exif_transpose)


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8, (H, W, 3), RGB, at the file's own resolution
    mode: str  # PIL mode of the file before conversion
    format: str
    note: str = ""  # what the policy changed, if anything


def decode_image(path: Path | bytes, policy: DecodePolicy = DecodePolicy()) -> DecodedImage:
    """Decode a file, or a file's bytes (the same policy and the same pixels either way). Every
    failure for this one image, whatever the decoder raised, is an ImageRejected with the reason.
    A plain JPEG is decoded by OpenCV, the same pixels as Pillow's (experiments.inputs.jpeg)."""
    if isinstance(path, bytes):
        if not path:
            raise ImageRejected("empty file")
        return _plain_jpeg(path, policy) or _decode(io.BytesIO(path), policy)
    try:
        source = open_regular(Path(path))
    except FileNotFoundError:
        raise ImageRejected("file not found") from None
    except NotRegularFile as e:
        raise ImageRejected(str(e)) from None
    except OSError as e:
        raise ImageRejected(f"cannot be opened ({e.strerror or e})") from None
    with source:
        size = os.fstat(source.fileno()).st_size
        if size == 0:
            raise ImageRejected("empty file")
        if size <= JPEG_READ_WHOLE and source.read(2) == jpeg.SOI:
            data = jpeg.SOI + source.read()
            return _plain_jpeg(data, policy) or _decode(io.BytesIO(data), policy)
        source.seek(0)
        return _decode(source, policy)


def _check_size(width: int, height: int, policy: DecodePolicy) -> None:
    if width * height > policy.max_pixels:
        raise ImageRejected(
            f"header claims {width}x{height} = {width * height:,} pixels, over max_pixels "
            f"{policy.max_pixels:,} (possible decompression bomb); not decoded"
        )
    if min(width, height) < policy.min_side:
        raise ImageRejected(f"{width}x{height} is smaller than min_side {policy.min_side}")


def _plain_jpeg(data: bytes, policy: DecodePolicy) -> DecodedImage | None:
    """A plain JPEG's pixels from OpenCV (experiments.inputs.jpeg), checked against the policy
    from its header first; None for any other file, or one to leave to Pillow."""
    if policy.exif_transpose or (size := jpeg.plain_jpeg_size(data)) is None:
        return None
    _check_size(*size, policy)
    pixels = jpeg.decode_plain_jpeg(data, size)
    return None if pixels is None else DecodedImage(pixels, "RGB", "JPEG")


def _decode(source, policy: DecodePolicy) -> DecodedImage:
    try:
        with Image.open(source) as im:
            _check_size(*im.size, policy)
            fmt, mode = im.format or "?", im.mode
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # palette-transparency notes and the like
                im.load()
                if policy.exif_transpose:
                    im = ImageOps.exif_transpose(im)
                pixels, note = _to_rgb(im)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not an image PIL can read (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageRejected(f"truncated or corrupt image data ({e})") from None
    except Exception as e:  # whatever else a decoder raises for one file (NotImplementedError, struct.error...)
        raise ImageRejected(f"cannot be decoded ({type(e).__name__}: {_short(e)})") from None
    return DecodedImage(pixels, mode, fmt, note)


def _short(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_rgb(im: Image.Image) -> tuple[np.ndarray, str]:
    if im.mode == "RGB":
        return np.array(im), ""
    if im.mode.startswith("I"):  # I;16, I;16B, I: high bit depth greyscale
        values = np.asarray(im, dtype=np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), f"{im.mode} scaled to 8 bits"
    if im.mode == "F":
        raise ImageRejected("floating-point (mode F) images are not supported")
    note = {"RGBA": "alpha dropped", "LA": "alpha dropped", "CMYK": "CMYK converted without ICC profile"}
    return np.array(im.convert("RGB")), note.get(im.mode, f"{im.mode} converted to RGB")


@functools.lru_cache(maxsize=1024)
def _nearest_index(n_in: int, n_out: int, axis: int) -> np.ndarray:
    """Which source row (axis 0) or column (axis 1) PIL's nearest resize picks for each output
    one, read off PIL itself by resizing an image of indices: exact by construction."""
    probe = np.arange(n_in, dtype=np.int32)
    probe = probe[:, None] if axis == 0 else probe[None, :]
    size = (1, n_out) if axis == 0 else (n_out, 1)
    return np.asarray(Image.fromarray(probe).resize(size, Image.Resampling.NEAREST)).ravel().astype(np.intp)


def resize_nearest(pixels: np.ndarray, size: int) -> np.ndarray:
    """PIL's nearest resize to size x size (load_img's), as a gather of size x size pixels
    instead of copying the full image into PIL; uint8 in, uint8 out."""
    h, w = pixels.shape[:2]
    if (h, w) == (size, size):
        return pixels
    return pixels[_nearest_index(h, size, 0)][:, _nearest_index(w, size, 1)]


def nearest_rows(pixels: np.ndarray, size: int) -> np.ndarray:
    """The full-width rows that `resize_nearest(pixels, size)` picks from: resizing this strip
    picks the same pixels. A pointwise edit of the strip gives the same pixels as the edit of the
    whole image, as every pixel keeps its own row and column (OpenCV's colour conversions round
    a row's last pixels differently from the rest, so a strip of only the picked pixels would not)."""
    return pixels[_nearest_index(pixels.shape[0], size, 0)]


def resize_for_model(pixels: np.ndarray, size: int) -> np.ndarray:
    """The study's preprocessing after decoding: nearest resize to size x size, then /255.
    Bit-identical to img_to_array(load_img(path, target_size=(size, size))) / 255."""
    return resize_nearest(pixels, size).astype(np.float32) / 255.0


def load_for_model(path: Path, size: int, policy: DecodePolicy = DecodePolicy()) -> np.ndarray:
    return resize_for_model(decode_image(path, policy).pixels, size)


def display_resize(pixels: np.ndarray, long_side: int) -> np.ndarray:
    """A copy for people to look at: long side `long_side`, aspect kept, area interpolation."""
    h, w = pixels.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


PICTURE_SIZE = 200  # a gallery picture's long side, pixels (experiments.rundir.names: where it lies)
PICTURE_QUALITY = 85


def picture_bytes(pixels: np.ndarray, size: int = PICTURE_SIZE, quality: int = PICTURE_QUALITY) -> bytes:
    """The JPEG of `pixels` shrunk to long side `size`."""
    buffer = io.BytesIO()
    Image.fromarray(display_resize(pixels, size)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def model_pixels_in(
    full_shape: tuple[int, int], size: int, other_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """For each model-input row and column, the row and column of an `other_shape` copy of the
    image (e.g. the display copy) at the full-resolution pixel that `resize_for_model` picks.
    `labels[rows][:, cols]` carries per-pixel labels of that copy to the model input exactly as
    the preprocessing would carry an image edited by those labels."""
    (h, w), (oh, ow) = full_shape, other_shape
    rows = ((_nearest_index(h, size, 0) + 0.5) * oh / h).astype(np.intp)
    cols = ((_nearest_index(w, size, 1) + 0.5) * ow / w).astype(np.intp)
    return np.minimum(rows, oh - 1), np.minimum(cols, ow - 1)
