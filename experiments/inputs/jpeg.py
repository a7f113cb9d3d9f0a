"""Plain JPEGs decoded by OpenCV, pixel for pixel as Pillow decodes them, without holding the GIL.

Pillow reads a JPEG's markers in Python and takes the GIL back between its decoder's calls, so
threads decoding small images wait on each other: on two cores, CIFAKE's 32x32 JPEGs decoded
slower on two threads than on one (benchmarks.dataset). OpenCV decodes a whole file in one call
that releases the GIL, about 20 µs for such an image against Pillow's 70. Both decode through
libjpeg-turbo with its defaults (the accurate integer DCT, smooth chroma upsampling), so for the
files taken here the pixels are the same: every one of the 11,721 JPEGs in ../shared decodes to
identical pixels either way (tests/test_jpeg.py checks art-6gen's and CIFAKE's test images).

`plain_jpeg_size` says which files are taken, from their bytes, before anything is decoded:
8-bit, three components (RGB to Pillow), sequential and Huffman-coded (baseline or extended),
one frame (no multi-picture data, which Pillow opens as MPO), and one scan of clean
entropy-coded data running to the end-of-image marker that closes the file. A truncated file,
or one with a stray marker in its scan, is left to Pillow, which rejects it or not as before.
Everything else (progressive, greyscale, CMYK, 12-bit, arithmetic-coded or lossless files,
trailing data, other formats) goes through Pillow too, and so do EXIF orientation
(`exif_transpose`) and whatever OpenCV cannot decode. A damaged scan that both decode (a bad
Huffman code) gives the same pixels either way, and from OpenCV a libjpeg warning on stderr.
"""

from __future__ import annotations

import cv2
import numpy as np

SOI, EOI = b"\xff\xd8", b"\xff\xd9"
SEQUENTIAL_FRAMES = {0xC0, 0xC1}  # baseline, extended sequential (Huffman-coded)
OTHER_FRAMES = set(range(0xC2, 0xD0)) - {0xC4, 0xC8, 0xCC}  # progressive, lossless, hierarchical, arithmetic
RESTARTS = range(0xD0, 0xD8)
START_OF_SCAN, MULTI_PICTURE = 0xDA, 0xE2


def plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the frame header of a file OpenCV decodes as Pillow does (see the
    module's docstring); None for any other file. Reads the markers up to the first scan."""
    if data[:2] != SOI or data[-2:] != EOI:
        return None
    size, i = None, 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # a fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        segment = data[i + 4 : i + 2 + length]
        if length < 2 or len(segment) != length - 2:
            return None
        if marker == START_OF_SCAN:
            return size if size is not None and one_clean_scan(data, i + 2 + length) else None
        if marker in SEQUENTIAL_FRAMES:
            if size is not None or len(segment) < 6 or segment[0] != 8 or segment[5] != 3:
                return None
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            if not height or not width:
                return None
            size = (width, height)
        elif marker in OTHER_FRAMES or (marker == MULTI_PICTURE and segment.startswith(b"MPF\0")):
            return None
        elif not 0xC0 <= marker <= 0xFE:  # no marker without a length belongs before the scan
            return None
        i += 2 + length
    return None


def one_clean_scan(data: bytes, start: int) -> bool:
    """Whether everything from `start` to the closing end-of-image marker is one scan's
    entropy-coded data: every 0xFF in it stuffed (FF 00) or a restart marker (FF D0-D7). A stray
    marker there (an early end of image, say, in a damaged file) is Pillow's to judge: it rejects
    some such files that OpenCV would decode."""
    body = np.frombuffer(data, np.uint8, count=len(data) - 2 - start, offset=start)
    if not len(body) or body[-1] == 0xFF:
        return False
    after = body[1:][body[:-1] == 0xFF]
    return bool(np.all((after == 0) | ((after >= RESTARTS.start) & (after < RESTARTS.stop))))


def decode_plain_jpeg(data: bytes, size: tuple[int, int]) -> np.ndarray | None:
    """The RGB pixels (H, W, 3) of a file `plain_jpeg_size` took, EXIF orientation ignored; None
    when OpenCV cannot decode it or gives another size (the caller then asks Pillow)."""
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if pixels is None or pixels.shape != (size[1], size[0], 3):
        return None
    return pixels
