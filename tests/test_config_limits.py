"""Config checks (issue 19, item 5): every field validated before anything runs, every path field
expanded the same way, YAML read with limits, long values cut in error lines, and every eval set
checked before the run folder exists. Each case goes through the runner's main(): exit 2, one
error line naming the field, no traceback."""

import tracemalloc

import pytest
import yaml

from experiments import run as cli
from experiments.config.fields import ConfigError
from experiments.config.schema import load_config
from tests.test_reliability import error_line, make_images, write_config

BILLION_LAUGHS = "\n".join(
    ['lol0: &lol0 "lol"']
    + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
)  # fmt: skip


def refused(capsys, config, *words: str) -> str:
    """main() on `config` exits 2 with one short error line holding every word; returns it."""
    assert cli.main([str(config)]) == 2
    line = error_line(capsys)
    assert len(line) < 1000, len(line)
    for word in words:
        assert word in line, line
    return line


def small(tmp_path, seed_mirror, **overrides):
    """A valid config of three real images and the study's 32 px model (tests.test_reliability)."""
    make_images(tmp_path / "images", ["ai_a.jpg", "b.jpg", "c.jpg"])
    return write_config(tmp_path, seed_mirror, **overrides)


def test_a_negative_or_too_large_seed_is_refused_before_anything_runs(tmp_path, seed_mirror, capsys):
    config = small(tmp_path, seed_mirror, seed=-1)
    refused(capsys, config, f"{config}: seed: Input should be greater than or equal to 0", "(got -1)")
    assert not (tmp_path / "results").exists()
    refused(capsys, small(tmp_path, seed_mirror, seed=2**32), "seed: Input should be less than or equal to 4294967295")
    assert load_config(small(tmp_path, seed_mirror, seed=2**32 - 1)).seed == 2**32 - 1


@pytest.mark.parametrize(
    "override, field",
    [
        ({"bootstrap": 10**40}, "bootstrap"),
        ({"train_epochs": 2**31}, "models.0.train.epochs"),
        ({"preprocess": {"max_pixels": 2**31}}, "preprocess.max_pixels"),
        ({"part_size": 2**31}, "part_size"),
    ],
)
def test_every_count_has_its_bounds(tmp_path, seed_mirror, capsys, override, field):
    override = dict(override)
    if "train_epochs" in override:
        train = {"dataset": {"root": str(tmp_path)}, "epochs": override.pop("train_epochs")}
        override["models"] = [{"name": "m", "input_size": 32, "path": "m.keras", "train": train}]
    refused(capsys, small(tmp_path, seed_mirror, **override), f": {field}: Input should be")


def test_out_dir_is_expanded_like_every_path(tmp_path, seed_mirror, monkeypatch):
    monkeypatch.delenv("ARTXAI_TEST_UNSET", raising=False)
    monkeypatch.setenv("ARTXAI_TEST_ROOT", str(tmp_path))
    config = small(tmp_path, seed_mirror, out_dir="${ARTXAI_TEST_ROOT}/${ARTXAI_TEST_UNSET:-x}", augment={})
    assert cli.main([str(config)]) == 0
    assert (tmp_path / "x" / "rel" / "scores.parquet").is_file()
    assert not [p for p in tmp_path.rglob("*") if "$" in p.name or "{" in p.name]


def test_every_path_field_is_expanded_the_same_way(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTXAI_TEST_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("ARTXAI_TEST_UNSET", raising=False)
    data = "${ARTXAI_TEST_UNSET:-$ARTXAI_TEST_ROOT}"
    cfg = {
        "name": "x", "out_dir": "${ARTXAI_TEST_ROOT}/out",
        "assets": {"mirror": f"{data}/mirror", "cache_dir": "${ARTXAI_TEST_UNSET:-cache}"},
        "models": [{"name": "m", "input_size": 32, "path": f"{data}/m.keras", "train": {"dataset": {"root": data}}}],
        "samples": {"manifest": f"{data}/s.csv"},
        "eval_sets": [
            {"name": "a", "samples": {"folder": f"{data}/f"}}, {"name": "b", "samples": {"dataset": {"root": data}}},
        ],
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    got = load_config(tmp_path / "c.yaml")
    root = tmp_path / "data"
    assert got.out_dir == root / "out" and got.assets.mirror == root / "mirror"
    assert got.assets.cache_dir == tmp_path / "cache"
    assert got.models[0].path == root / "m.keras" and got.models[0].train.dataset.root == root
    assert got.samples.manifest == str(root / "s.csv")
    assert got.eval_sets[0].samples.folder == root / "f" and got.eval_sets[1].samples.dataset.root == root


def test_a_literal_dollar_is_written_twice(tmp_path, seed_mirror, capsys):
    config = small(tmp_path, seed_mirror, samples={"folder": "price$$list/$${HOME}"})
    assert load_config(config).samples.folder == tmp_path / "price$list" / "${HOME}"
    lone = small(tmp_path, seed_mirror, samples={"folder": "price$/list"})
    refused(capsys, lone, "samples.folder:", "write $$ for a literal $")


@pytest.mark.parametrize("value", ["${ARTXAI_TEST_EMPTY:-}", "$ARTXAI_TEST_EMPTY", "${ARTXAI_TEST_EMPTY}/images"])
def test_an_empty_expansion_is_refused_naming_field_and_variable(tmp_path, seed_mirror, capsys, monkeypatch, value):
    monkeypatch.setenv("ARTXAI_TEST_EMPTY", "")
    config = small(tmp_path, seed_mirror, samples={"folder": value})
    refused(capsys, config, "samples.folder:", "ARTXAI_TEST_EMPTY", "empty")
    monkeypatch.delenv("ARTXAI_TEST_EMPTY")
    refused(capsys, config, "samples.folder:", "ARTXAI_TEST_EMPTY")
    assert not (tmp_path / "results").exists()


def test_deep_nesting_is_one_line(tmp_path, seed_mirror, capsys):
    config = small(tmp_path, seed_mirror)
    config.write_text(config.read_text() + "extra: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(capsys, config, f"{config}: line ", "nested deeper than")


def test_billion_laughs_is_refused_before_it_is_expanded(tmp_path, seed_mirror, capsys):
    config = small(tmp_path, seed_mirror)
    laughs = "augment: {gaussian_noise: {std: *lol9}}\nx:"  # under an allowed key (the old `augment` follows as x)
    config.write_text(BILLION_LAUGHS + "\n" + config.read_text().replace("augment:", laughs))
    assert len(config.read_bytes()) < 3000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="aliases"):
            load_config(config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak
    refused(capsys, config, f"{config}: line ", "aliases expand to more than")


def test_aliases_that_reuse_a_block_still_work(tmp_path, seed_mirror):
    config = small(tmp_path, seed_mirror)
    config.write_text(config.read_text() + "explain: &e {methods: [saliency]}\nx: *e\n")
    with pytest.raises(ConfigError, match="x: Extra inputs"):  # the alias was expanded, then validated
        load_config(config)


@pytest.mark.parametrize("key", ["seed", "models"])
def test_a_key_given_twice_is_refused_naming_it_and_its_line(tmp_path, seed_mirror, capsys, key):
    config = small(tmp_path, seed_mirror)
    text = config.read_text()
    block = next(i for i, line in enumerate(text.splitlines()) if line.startswith(f"{key}:"))
    config.write_text(text + f"{key}: 7\n")
    second = len(text.splitlines()) + 1
    refused(capsys, config, f"{config}: line {second}: the key '{key}' is given twice (first on line {block + 1})")


def test_duplicate_keys_are_refused_in_nested_mappings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\naugment:\n  jpeg: {quality: 10}\n  jpeg: {quality: 90}\n")
    with pytest.raises(ConfigError, match="line 4: the key 'jpeg' is given twice"):
        load_config(path)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"seed": "7" * 1_000_000}, "seed:"),
        ({"samples": {"folder": "f" * 1_000_000}}, "samples.folder:"),
        ({"augment": {"g" * 1_000_000: {}}}, "augment."),
        ({"x": "y" * 1_000_000}, "x: Extra inputs"),
    ],
)
def test_a_one_megabyte_value_gives_a_short_error_line(tmp_path, seed_mirror, capsys, override, field):
    line = refused(capsys, small(tmp_path, seed_mirror, **override), field)
    assert "chars)" in line


def test_a_manifest_field_over_the_csv_limit_is_one_line(tmp_path, seed_mirror, capsys):
    make_images(tmp_path / "images", ["ai_a.jpg"])
    (tmp_path / "s.csv").write_text("path,truth\nimages/ai_a.jpg,ai\n" + "x" * 200_000 + ",ai\n")
    config = write_config(tmp_path, seed_mirror, samples={"manifest": "s.csv"})
    refused(capsys, config, f"{tmp_path / 's.csv'} line 3:", "over 131,072 characters")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "gone, field",
    [
        ({"dataset": {"root": "nowhere", "layout": "generic"}}, "eval_sets[gone].samples.dataset.root"),
        ({"folder": "nowhere"}, "eval_sets[gone].samples.folder"),
        ({"manifest": "nowhere.csv"}, "eval_sets[gone].samples.manifest"),
    ],
)
def test_a_missing_eval_set_is_refused_before_the_run_folder_exists(tmp_path, seed_mirror, capsys, gone, field):
    config = small(tmp_path, seed_mirror, eval_sets=[{"name": "here"}, {"name": "gone", "samples": gone}], audit={})
    refused(capsys, config, f"error: {field}: {tmp_path / 'nowhere'}")
    assert not (tmp_path / "results").exists()
