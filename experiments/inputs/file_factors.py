"""What an image file says besides its picture, and how to take it away. Pure functions.

Detectors of generated images often learn the file instead of the picture: when one class is
JPEGs of one size and the other PNGs or JPEGs of another size, format, size and compression
history tell the classes apart without any art in them (Grommelt et al. 2024, "Fake or JPEG?").

- `file_metadata(data)`: the file's facts: pixel size, aspect, format, mode, estimated JPEG
  quality (from its quantisation tables) and chroma subsampling, file size, EXIF / ICC present.
- `normalise(data, factor, ...)`: one factor made the same for every file, bytes in, bytes out:
    jpeg      re-encoded as a JPEG at one fixed quality (4:2:0), from the decoded pixels
    png       saved as a PNG (lossless: the pixels stay exactly the same)
    size      resized (Lanczos) to one common short side, aspect kept, saved as PNG (lossless)
    metadata  EXIF, XMP, ICC, IPTC and comments removed; JPEG and PNG data are not re-encoded
    all       resized to the common short side, then a JPEG at the fixed quality, no metadata
  A detector reads decoded pixels, so `png` and `metadata` change nothing it sees unless its
  decoding depends on them (EXIF orientation with `exif_transpose: true`): measuring them
  checks that.
"""

from __future__ import annotations

import functools
import io
import math
import struct

import numpy as np
from PIL import Image, JpegImagePlugin

from experiments.config.sections import FACTORS
from experiments.inputs.images import DecodePolicy, decode_image

NUMERIC_FEATURES = (
    "width",
    "height",
    "aspect",
    "log_pixels",
    "log_file_size",
    "bytes_per_pixel",
    "jpeg_quality",
    "has_exif",
    "has_icc",
)
CATEGORICAL_FEATURES = ("format", "mode", "subsampling")
SUBSAMPLING = {-1: "none", 0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@functools.lru_cache(maxsize=1)
def _reference_tables() -> np.ndarray:
    """The luminance quantisation table Pillow's encoder (libjpeg's IJG tables) writes at each
    quality 1..100, read back the way `file_metadata` reads a file's: (100, 64)."""
    tables = []
    for quality in range(1, 101):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        tables.append(Image.open(buf).quantization[0])
    return np.asarray(tables, dtype=float)


def estimate_jpeg_quality(luma_table) -> int:
    """The IJG quality (1-100) whose luminance table is closest to this one (mean absolute
    difference); exact for files written by libjpeg-based encoders, approximate for others."""
    diff = np.abs(_reference_tables() - np.asarray(luma_table, dtype=float)).mean(axis=1)
    return int(np.argmin(diff)) + 1


def file_metadata(data: bytes) -> dict[str, object]:
    """The facts of one file that say nothing about its art; unreadable data raises ValueError."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            fmt, mode, info = im.format or "?", im.mode, im.info
            is_jpeg = fmt == "JPEG"
            quality = estimate_jpeg_quality(im.quantization[0]) if is_jpeg and im.quantization else math.nan
            subsampling = SUBSAMPLING.get(JpegImagePlugin.get_sampling(im), "other") if is_jpeg else "none"
            has_exif = bool(info.get("exif")) or len(im.getexif()) > 0
    except Exception as e:  # PIL raises many kinds for bad data
        raise ValueError(f"not an image PIL can read ({type(e).__name__}: {e})") from None
    return {
        "format": fmt,
        "mode": mode,
        "width": width,
        "height": height,
        "aspect": width / height,
        "log_pixels": math.log(width * height),
        "file_size": len(data),
        "log_file_size": math.log(len(data)),
        "bytes_per_pixel": len(data) / (width * height),
        "jpeg_quality": quality,
        "subsampling": subsampling,
        "has_exif": has_exif,
        "has_icc": bool(info.get("icc_profile")),
    }


def encode(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """RGB uint8 pixels as a JPEG (at `quality`, 4:2:0) or a PNG, with no metadata."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    else:
        Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def resize_short_side(pixels: np.ndarray, side: int) -> np.ndarray:
    """Resized so the shorter side is `side` px (Lanczos, antialiased), aspect kept; unchanged
    when it already is."""
    h, w = pixels.shape[:2]
    if min(h, w) == side:
        return pixels
    scale = side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


# JPEG segments that hold metadata: APP1 (EXIF, XMP), APP2 (ICC, FlashPix), APP13 (IPTC), COM
_JPEG_METADATA = {0xE1, 0xE2, 0xED, 0xFE}
_PNG_METADATA = {b"eXIf", b"iCCP", b"tEXt", b"zTXt", b"iTXt"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _strip_jpeg(data: bytes) -> bytes:
    """The JPEG without its metadata segments; everything from the scan on is copied as is."""
    out, i = bytearray(data[:2]), 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG: expected a marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan (or end): the rest is image data
            return bytes(out + data[i:])
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out += data[i : i + 2]
            i += 2
            continue
        end = i + 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker not in _JPEG_METADATA:
            out += data[i:end]
        i = end
    raise ValueError("JPEG: no image data found")


def _strip_png(data: bytes) -> bytes:
    out, i = bytearray(_PNG_SIGNATURE), len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        length = struct.unpack(">I", data[i : i + 4])[0]
        kind, end = data[i + 4 : i + 8], i + 12 + length
        if kind not in _PNG_METADATA:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            return bytes(out)
    raise ValueError("PNG: no IEND chunk")


def strip_metadata(data: bytes, policy: DecodePolicy = DecodePolicy()) -> bytes:
    """EXIF, XMP, ICC, IPTC and comments removed; JPEG and PNG data are copied, not re-encoded.
    Other formats: their decoded pixels as a PNG."""
    if data[:2] == b"\xff\xd8":
        return _strip_jpeg(data)
    if data.startswith(_PNG_SIGNATURE):
        return _strip_png(data)
    return encode(decode_image(data, policy).pixels, "PNG")


def normalise(
    data: bytes, factor: str, *, quality: int, short_side: int, policy: DecodePolicy = DecodePolicy()
) -> bytes:
    """The file with one factor (see the module's docstring) made the same for every file.
    Raises ImageRejected (from decoding) or ValueError for data that cannot be normalised."""
    if factor == "metadata":
        return strip_metadata(data, policy)
    pixels = decode_image(data, policy).pixels
    if factor == "jpeg":
        return encode(pixels, "JPEG", quality)
    if factor == "png":
        return encode(pixels, "PNG")
    if factor == "size":
        return encode(resize_short_side(pixels, short_side), "PNG")
    if factor == "all":
        return encode(resize_short_side(pixels, short_side), "JPEG", quality)
    raise ValueError(f"unknown factor {factor!r}; known: {', '.join(FACTORS)}")
