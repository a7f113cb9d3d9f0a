"""Plain JPEGs decoded by OpenCV (experiments.inputs.jpeg): the same pixels, mode, format and
rejections as Pillow's, on ../shared's real files and on the files it must leave to Pillow."""

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageFile

from experiments.inputs import jpeg
from experiments.inputs.images import DecodePolicy, ImageRejected, _decode, decode_image


def pillows(data: bytes, policy: DecodePolicy = DecodePolicy()):
    """What Pillow alone makes of the bytes: the decoded image, or the rejection's reason."""
    try:
        return _decode(io.BytesIO(data), policy)
    except ImageRejected as e:
        return str(e)


def ours(data: bytes, policy: DecodePolicy = DecodePolicy()):
    try:
        return decode_image(data, policy)
    except ImageRejected as e:
        return str(e)


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (a.mode, a.format, a.note) == (b.mode, b.format, b.note) and np.array_equal(a.pixels, b.pixels)


def jpeg_bytes(im: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def picture(mode: str = "RGB", size=(48, 40)) -> Image.Image:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return rgb.convert(mode)


def test_every_art_6gen_and_cifake_test_image_decodes_to_pillows_pixels(art6gen, cifake):
    files = sorted((art6gen / "test").rglob("*.jpg")) + sorted((cifake / "test").rglob("*.jpg"))
    assert len(files) == 201 + 2000
    taken = 0
    for path in files:
        data = path.read_bytes()
        taken += jpeg.plain_jpeg_size(data) is not None
        decoded = decode_image(data)
        assert same(decoded, pillows(data)), path
        if len(data) < 1 << 16:  # a file or its bytes: the same pixels
            assert np.array_equal(decode_image(path).pixels, decoded.pixels), path
    assert taken >= 0.99 * len(files)  # nearly all of them are plain JPEGs, decoded by OpenCV


def test_only_plain_jpegs_are_taken_and_every_file_decodes_as_pillow_decodes_it(tmp_path):
    rgb = picture()
    plain = jpeg_bytes(rgb, quality=90)
    multi = io.BytesIO()
    rgb.save(multi, "MPO", save_all=True, append_images=[picture(size=(48, 40)).rotate(90)])
    files = {
        "baseline": (plain, True),
        "restart markers": (jpeg_bytes(rgb, restart_marker_blocks=1), True),
        "4:4:4": (jpeg_bytes(rgb, subsampling=0), True),
        "progressive": (jpeg_bytes(rgb, progressive=True), False),
        "greyscale": (jpeg_bytes(picture("L")), False),
        "CMYK": (jpeg_bytes(picture("CMYK")), False),
        "data after the end": (plain + b"trailing", False),
        "truncated": (plain[: len(plain) // 2], False),
        "no end marker": (plain[:-2], False),
        "multi-picture (MPO)": (multi.getvalue(), False),
        "a stray end of image in the scan": (plain[:-40] + b"\xff\xd9" + plain[-38:], False),
    }
    for name, (data, taken) in files.items():
        assert (jpeg.plain_jpeg_size(data) is not None) == taken, name
        assert same(ours(data), pillows(data)), name
    assert isinstance(ours(plain[: len(plain) // 2]), str)  # truncated: rejected, by Pillow
    assert jpeg.plain_jpeg_size(plain) == (48, 40)


def test_exif_orientation_is_ignored_as_pillow_ignores_it_and_applied_on_request_by_pillow():
    turned = DecodePolicy(exif_transpose=True)
    for orientation in (3, 6):  # turned half round (the same size), a quarter (another size)
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = jpeg_bytes(picture(size=(40, 20)), exif=exif.tobytes())
        assert jpeg.plain_jpeg_size(data) == (40, 20)
        assert same(ours(data), pillows(data)) and ours(data).pixels.shape == (20, 40, 3)
        assert same(ours(data, turned), pillows(data, turned))
        assert ours(data, turned).pixels.shape == ((20, 40, 3) if orientation == 3 else (40, 20, 3))


def test_a_damaged_scan_is_judged_as_pillow_judges_it(cifake, art6gen):
    """Seeded damage to the scan of real files: both decoders reject, or both give these pixels."""
    files = sorted((cifake / "test").rglob("*.jpg"))[:20] + sorted(art6gen.rglob("*.jpg"))[:10]
    rng, outcomes = random.Random(0), set()
    for k in range(300):
        data = bytearray(files[k % len(files)].read_bytes())
        scan = data.find(b"\xff\xda") + 20
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(scan, len(data) - 2)] = rng.randrange(256)
        mine, theirs = ours(bytes(data)), pillows(bytes(data))
        assert same(mine, theirs), (k, mine if isinstance(mine, str) else "decoded", theirs)
        outcomes.add((jpeg.plain_jpeg_size(bytes(data)) is not None, isinstance(mine, str)))
    assert outcomes == {(True, False), (False, True), (False, False)}  # each way was crossed


def test_a_bomb_header_is_refused_before_either_decoder_runs(monkeypatch):
    data = bytearray(jpeg_bytes(picture()))
    frame = data.find(b"\xff\xc0")
    data[frame + 5 : frame + 9] = (20_000).to_bytes(2, "big") * 2  # height, width
    assert jpeg.plain_jpeg_size(bytes(data)) == (20_000, 20_000)
    monkeypatch.setattr(jpeg, "decode_plain_jpeg", lambda *a: pytest.fail("OpenCV decoded a refused image"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("Pillow decoded a refused image"))
    with pytest.raises(ImageRejected, match="20000x20000 = 400,000,000 pixels, over max_pixels"):
        decode_image(bytes(data))


def test_a_jpeg_file_over_the_read_whole_cap_goes_through_pillow(cifake, monkeypatch):
    from experiments.inputs import images

    path = sorted((cifake / "test" / "ai").glob("*.jpg"))[0]
    expected = decode_image(path)
    monkeypatch.setattr(images, "JPEG_READ_WHOLE", path.stat().st_size - 1)  # the file is one byte over it
    monkeypatch.setattr(jpeg, "decode_plain_jpeg", lambda *a: pytest.fail("OpenCV decoded a file over the cap"))
    assert same(decode_image(path), expected)
    monkeypatch.setattr(images, "JPEG_READ_WHOLE", path.stat().st_size)  # at the cap: read whole, OpenCV's
    with pytest.raises(pytest.fail.Exception, match="OpenCV decoded"):
        decode_image(path)
