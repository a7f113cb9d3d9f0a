"""Generators and sources from a dataset's sub-folders (dataset.generator_from), on the real
images of ../shared/art-6gen, and the refusals that protect them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from experiments import run as cli
from experiments.config.fields import ConfigError
from experiments.config.model_blocks import DatasetConfig
from experiments.inputs.datasets import counts, scan, training_splits
from experiments.inputs.samples import samples_from_dataset
from tests.conftest import MODEL_32

TEST_COUNTS = {
    "dalle": 17,
    "dreamstudio": 16,
    "midjourney": 17,
    "original_ldm": 17,
    "stable_diffusion": 17,
    "starryai": 17,
}
SOURCE_COUNTS = {"classical_art": 50, "general_art": 20, "illustrations": 30}


def small_copy(art6gen: Path, dest: Path, per_folder: int = 2, splits=("test",)) -> Path:
    """The first `per_folder` images of every generator and source folder of art-6gen."""
    for split in splits:
        for folder in sorted((art6gen / split).glob("*/*")):
            target = dest / split / folder.relative_to(art6gen / split)
            target.mkdir(parents=True)
            for image in sorted(folder.iterdir())[:per_folder]:
                shutil.copy(image, target / image.name)
    return dest


def test_generators_and_sources_come_from_the_sub_folders(art6gen):
    df = scan(DatasetConfig(root=art6gen, layout="generic", generator_from="subfolder"), ["test"])
    ai, human = df[df["label"] == "ai"], df[df["label"] == "human"]
    assert ai["generator"].value_counts().to_dict() == TEST_COUNTS
    assert human["source"].value_counts().to_dict() == SOURCE_COUNTS
    assert set(ai["source"]) == {""} and set(human["generator"]) == {"human"} and set(df["style"]) == {""}
    # without generator_from the old reading stands: every AI image is `unknown`, the sub-folder a style
    plain = scan(DatasetConfig(root=art6gen, layout="generic"), ["test"])
    assert set(plain.loc[plain["label"] == "ai", "generator"]) == {"unknown"} and "dalle" in set(plain["style"])


def test_a_mapping_renames_some_generators_and_samples_carry_sources(art6gen):
    names = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}
    dataset = DatasetConfig(root=art6gen, layout="generic", generator_from=names)
    samples = samples_from_dataset(dataset, "test")
    generators = {s.generator for s in samples if s.truth == "ai"}
    assert generators == {"dalle", "dreamstudio", "midjourney", "latent_diffusion", "standard_diffusion", "starryai"}
    assert {s.source for s in samples if s.truth == "human"} == set(SOURCE_COUNTS)
    assert samples[0].labels().keys() == {"source", "generator"}  # never a style column
    card = counts(training_splits(dataset, seed=0)["train"])
    assert set(card) == {"label", "generator", "source"} and card["generator"]["latent_diffusion"] > 40


def test_generator_from_needs_the_generic_layout():
    with pytest.raises(ValueError, match="generator_from goes with layout: generic"):
        DatasetConfig(root="/x", generator_from="subfolder")


def test_a_generator_folder_without_images_is_refused(art6gen, tmp_path):
    root = small_copy(art6gen, tmp_path / "d")
    (root / "test" / "ai" / "empty_gen").mkdir()
    with pytest.raises(ConfigError, match=r"empty_gen is a generator folder with no images"):
        scan(DatasetConfig(root=root, layout="generic", generator_from="subfolder"), ["test"])


def test_a_name_in_both_classes_is_refused(art6gen, tmp_path):
    root = small_copy(art6gen, tmp_path / "d")
    shutil.copytree(root / "test" / "human" / "illustrations", root / "test" / "ai" / "illustrations")
    with pytest.raises(ConfigError, match="'illustrations' names a folder in both classes"):
        scan(DatasetConfig(root=root, layout="generic", generator_from="subfolder"), ["test"])


def test_bad_generator_folders_stop_the_run_before_anything_is_made(art6gen, tmp_path, seed_mirror, capsys):
    root = small_copy(art6gen, tmp_path / "d")
    (root / "test" / "ai" / "empty_gen").mkdir()
    cfg = {
        "name": "bad", "out_dir": str(tmp_path / "results"), "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(root), "layout": "generic", "generator_from": "subfolder"}},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty_gen is a generator folder with no images" in err[0]
    assert not (tmp_path / "results").exists()


# --- per generator, seen vs unseen: the study's 32 px model on art-6gen's test split ----------------

ARTBENCH_NAMES = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}


@pytest.fixture(scope="module")
def art_run(tmp_path_factory, art6gen, seed_mirror):
    tmp = tmp_path_factory.mktemp("art")
    cfg = {
        "name": "art", "out_dir": str(tmp / "results"), "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(art6gen), "layout": "generic", "generator_from": ARTBENCH_NAMES}},
        "part_size": 201, "bootstrap": 100,
    }  # fmt: skip
    (tmp / "art.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp / "art.yaml")]) == 0
    return tmp / "results" / "art"


def test_detection_per_generator_seen_and_unseen(art_run):
    import json

    import pandas as pd

    from experiments.stats.statistics import wilson_ci

    table = pd.read_parquet(art_run / "generators.parquet").set_index("name")
    found = {name: (r.k, r.n, r.seen) for name, r in table.iterrows()}
    assert found == {  # the numbers: AI-ArtBench's two generators caught, the four others missed
        "latent_diffusion": (16, 17, "seen"), "standard_diffusion": (16, 17, "seen"), "dreamstudio": (1, 16, "unseen"),
        "dalle": (3, 17, "unseen"), "starryai": (3, 17, "unseen"), "midjourney": (5, 17, "unseen"),
        "seen generators": (32, 34, "seen"), "unseen generators": (12, 67, "unseen"),
        "all generators": (44, 101, "all"),
        "classical_art": (5, 50, ""), "general_art": (4, 20, ""), "illustrations": (4, 30, ""),
        "all sources": (13, 100, ""),
    }  # fmt: skip
    assert (table.loc["unseen generators", ["ci_low", "ci_high"]].tolist()) == pytest.approx(wilson_ci(12, 67))
    assert set(table.loc[table["kind"] == "source", "metric"]) == {"false_positive_rate"}
    scores = pd.read_parquet(art_run / "scores.parquet")
    assert "source" in scores and "style" not in scores
    groups = pd.read_parquet(art_run / "evaluation_groups.parquet")
    assert set(groups["by"]) == {"generator", "source"} and "human" not in set(groups["group"])
    card = json.loads((art_run / "models" / "cnn32.model_card.json").read_text())
    assert card["trained_on_generators"] == ["latent_diffusion", "standard_diffusion"]
    html = (art_run / "report" / "index.html").read_text()
    assert (
        "cnn32 catches 2 of 6 generators (standard_diffusion 16/17, latent_diffusion 16/17), a generator caught when "
        "its detection interval lies above that of human art called AI (13/100, 13% [8%, 21%]); not told apart from "
        "human art: dreamstudio 1/16, dalle 3/17, starryai 3/17, midjourney 5/17; worst: dreamstudio, 1 of 16 detected"
    ) in html
    assert 'id="generators"' in html and (art_run / "report" / "img" / "generators_cnn32.png").is_file()


def test_a_config_names_the_generators_a_model_was_trained_on():
    from experiments.config.model_blocks import ModelConfig
    from experiments.stages.generators import trained_generators

    assert trained_generators(ModelConfig(name="m", input_size=32, seed_asset=MODEL_32)) == [
        "latent_diffusion",
        "standard_diffusion",
    ]
    own = ModelConfig(name="m", input_size=32, path="/nowhere/m.h5", trained_on=["dalle", "midjourney"])
    assert trained_generators(own) == ["dalle", "midjourney"]
    assert trained_generators(ModelConfig(name="m", input_size=32, path="/nowhere/m.h5")) is None  # no card: unknown


# --- the cross-generator matrix on a labelled layout --------------------------------------------------


def two_generator_copy(art6gen: Path, dest: Path, generators=("dalle", "stable_diffusion")) -> Path:
    """A few real art-6gen images: two generators, two human sources, train and test."""
    for split, n in (("train", 8), ("test", 4)):
        for folder in [*(f"ai/{g}" for g in generators), "human/classical_art", "human/illustrations"]:
            (dest / split / folder).mkdir(parents=True)
            for image in sorted((art6gen / split / folder).iterdir())[:n]:
                shutil.copy(image, dest / split / folder / image.name)
    return dest


def matrix_config(tmp_path: Path, root: Path, **cross) -> Path:
    dataset = {"root": str(root), "layout": "generic", "generator_from": "subfolder", "val_fraction": 0.25}
    cfg = {
        "name": "matrix", "out_dir": str(tmp_path / "results"), "report": "none", "bootstrap": 100,
        "models": [{"name": "cnn32", "input_size": 32, "path": str(tmp_path / "models" / "cnn32.keras"),
                    "train": {"dataset": dataset, "epochs": 1, "batch_size": 16}}],
        "samples": {"dataset": dataset, "split": "test"}, "part_size": 100,
        "cross_generator": {"designs": ["leave_one_out"]} | cross,
    }  # fmt: skip
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "m.yaml"


def test_a_held_out_generator_is_never_in_its_copys_training_record(art6gen, tmp_path):
    import json

    from experiments.config.schema import load_config
    from experiments.inputs.images import DecodePolicy
    from experiments.stages.cross_generator import cross_generator_matrix, held_out_rows

    root = two_generator_copy(art6gen, tmp_path / "d")
    cfg = load_config(matrix_config(tmp_path, root))
    matrix = cross_generator_matrix(cfg, [], DecodePolicy())  # the copies alone: the run's own model is not loaded
    assert sorted(set(matrix["trained_on"])) == ["all but dalle", "all but stable_diffusion"]
    assert (
        set(matrix["tested_on"]) == {"dalle", "stable_diffusion"}
        and (matrix["n_ai"] == 4).all()
        and (matrix["n_human"] == 8).all()
    )
    assert (matrix["roc_auc_ci_low"] <= matrix["roc_auc"]).all() and (
        matrix["recall_ai_ci_high"] >= matrix["recall_ai"]
    ).all()
    for held_out in ("dalle", "stable_diffusion"):
        card = json.loads(
            (tmp_path / "models" / "cnn32.cross_generator" / f"without_{held_out}.model_card.json").read_text()
        )
        for split in ("train", "val"):
            seen = set(card["data"][split]["generator"])
            assert held_out not in seen and seen == {"dalle", "stable_diffusion", "human"} - {held_out}
    assert sorted(held_out_rows(matrix)["held_out"]) == ["dalle", "stable_diffusion"]


def test_a_matrix_of_one_generator_stops_the_run_before_anything_is_made(art6gen, tmp_path, capsys):
    root = two_generator_copy(art6gen, tmp_path / "d", generators=("dalle",))
    assert cli.main([str(matrix_config(tmp_path, root))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has AI generators ['dalle'] in its test split; the matrix needs two or more" in err[0]
    assert not (tmp_path / "models").exists() and not (tmp_path / "results").exists()


# --- what "caught" means: against the humans, with intervals (constructed scores) ------------------------


def constructed_scores(model: str, ai_called_ai: float, human_called_ai: float, n: int = 40):
    """n AI images of each of two generators and n human images of one source, the first
    `ai_called_ai` (`human_called_ai`) share of each called AI."""
    import pandas as pd

    rows = []
    for truth, group, share in (("ai", "gen_a", ai_called_ai), ("ai", "gen_b", ai_called_ai),
                                ("human", "painters", human_called_ai)):  # fmt: skip
        for i in range(n):
            rows.append({
                "model": model, "variant": "identity", "replicate": 0, "truth": truth,
                "generator": group if truth == "ai" else "human", "source": group if truth == "human" else "",
                "predicted": "ai" if i < round(share * n) else "human",
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_a_detector_that_calls_everything_ai_catches_no_generator():
    from experiments.stages.generators import generator_table, sentence, summary

    table = generator_table(constructed_scores("all_ai", 1.0, 1.0), {"all_ai": None})
    found = summary(table, "all_ai")
    assert found["caught"] == [] and [r["name"] for r in found["inconclusive"]] == ["gen_a", "gen_b"]
    assert (found["human"]["k"], found["human"]["n"]) == (40, 40)
    text = sentence(found)
    assert text.startswith("catches 0 of 2 generators, a generator caught when its detection interval lies above")
    assert "human art called AI (40/40, 100% [91%, 100%])" in text
    assert "not told apart from human art: gen_a 40/40, gen_b 40/40" in text


def test_a_clean_separation_catches_every_generator_and_a_low_rate_is_below_the_humans():
    from experiments.stages.generators import generator_table, judge, sentence, summary

    table = generator_table(constructed_scores("clean", 1.0, 0.0), {"clean": None})
    found = summary(table, "clean")
    assert [r["name"] for r in found["caught"]] == ["gen_b", "gen_a"] and not found["inconclusive"]
    assert "catches 2 of 2 generators (gen_b 40/40, gen_a 40/40)" in sentence(found)
    # the rule at its edge: intervals that touch are inconclusive, apart they are caught or below
    human = {"n": 100, "ci_low": 0.08, "ci_high": 0.21}
    assert judge({"ci_low": 0.22, "ci_high": 0.5}, human) == "caught"
    assert judge({"ci_low": 0.21, "ci_high": 0.5}, human) == "inconclusive"
    assert judge({"ci_low": 0.0, "ci_high": 0.07}, human) == "below"
    assert judge({"ci_low": 0.9, "ci_high": 1.0}, None) == "inconclusive"  # no humans: nothing is caught
    flipped = summary(generator_table(constructed_scores("flipped", 0.0, 1.0), {"flipped": None}), "flipped")
    assert not flipped["caught"] and [r["name"] for r in flipped["below"]] == ["gen_a", "gen_b"]


def test_no_unseen_generator_is_a_sentence_not_zero_of_zero():
    from experiments.stages.generators import generator_table, sentence, summary

    table = generator_table(constructed_scores("both", 1.0, 0.0), {"both": ["gen_a", "gen_b"]})
    assert "unseen generators" not in set(table["name"])  # no row of 0 of 0 (nan)
    assert table["rate"].notna().all()
    found = summary(table, "both")
    assert found["no_unseen"] and found["unseen"] is None and (found["seen"]["k"], found["seen"]["n"]) == (80, 80)
    assert "; no unseen generator (trained on all 2)" in sentence(found) and "nan" not in sentence(found)
    one = summary(generator_table(constructed_scores("one", 1.0, 0.0), {"one": ["gen_a"]}), "one")
    assert not one["no_unseen"] and (one["unseen"]["k"], one["unseen"]["n"]) == (40, 40)


# --- the matrix's copies: balanced after the filter, a copy at chance marked and left out ------------------


def test_balance_drops_the_larger_class_whichever_it_is():
    import pandas as pd

    from experiments.inputs.datasets import balance

    few_ai = pd.DataFrame({"label": ["ai"] * 3 + ["human"] * 10, "path": [f"p{i}" for i in range(13)]})
    kept = balance(few_ai, seed=1)
    assert kept["label"].value_counts().to_dict() == {"ai": 3, "human": 3}
    assert kept.equals(balance(few_ai, seed=1)) and not kept.equals(balance(few_ai, seed=2))  # seeded draws
    few_human = few_ai.assign(label=["human"] * 3 + ["ai"] * 10)
    assert balance(few_human, seed=1)["label"].value_counts().to_dict() == {"ai": 3, "human": 3}


def test_a_single_generator_copy_trains_balanced_and_its_chance_guard_marks_its_rows(art6gen, tmp_path):
    import json

    from experiments.config.schema import load_config
    from experiments.inputs.images import DecodePolicy
    from experiments.stages.cross_generator import cross_generator_matrix

    root = two_generator_copy(art6gen, tmp_path / "d")  # train: 8 images per generator, 16 human images
    cfg = load_config(matrix_config(tmp_path, root, designs=["single"]))
    matrix = cross_generator_matrix(cfg, [], DecodePolicy())
    for generator in ("dalle", "stable_diffusion"):
        card = json.loads((tmp_path / "models" / "cnn32.cross_generator" / f"{generator}.model_card.json").read_text())
        train, val = card["data"]["train"]["label"], card["data"]["val"]["label"]
        assert train == {"ai": 6, "human": 6} and val == {"ai": 2, "human": 2}  # 8 of the 16 humans, then 25 % held out
        assert card["data"]["balanced"] is True
        rows = matrix[matrix["trained_on"] == generator]
        assert len(rows) == 2 and set(rows["at_chance"]) == {bool(card["training"]["warning"])}


def constructed_matrix():
    """Three single-generator copies on three generators; copy `c` did not beat chance."""
    import pandas as pd

    aucs = {
        "a": {"a": 0.9, "b": 0.7, "c": 0.8},
        "b": {"a": 0.6, "b": 0.9, "c": 0.6},
        "c": {"a": 0.1, "b": 0.1, "c": 0.5},
    }
    rows = [
        {"model": "m", "trained_on": t, "held_out": "", "at_chance": t == "c", "tested_on": g, "roc_auc": v,
         "roc_auc_ci_low": v - 0.1, "roc_auc_ci_high": v + 0.1}
        for t, by in aucs.items() for g, v in by.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_copy_at_chance_is_left_out_of_the_means_and_marked_in_the_figure(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from experiments.report import figures
    from experiments.report.generator_section import transfer_lines
    from experiments.stages.cross_generator import transfer

    matrix = constructed_matrix()
    (found,) = transfer(matrix, resamples=200, seed=0)
    assert (found["design"], found["copies"], found["at_chance"], found["n"]) == ("single", 3, 1, 2)
    assert found["mean_roc_auc"] == pytest.approx(((0.7 + 0.8) / 2 + (0.6 + 0.6) / 2) / 2)  # c's 0.1s not in
    assert found["ci_low"] <= found["mean_roc_auc"] <= found["ci_high"]
    (line,) = transfer_lines(matrix, 200, 0)
    assert "over the 2 of 3 copies that beat chance (1 at chance, left out)" in line
    one = transfer_lines(matrix.assign(at_chance=matrix["trained_on"] != "a"), 200, 0)[0]
    assert "0.75 (one copy: no interval) over the 1 of 3 copies" in one and "nan" not in one
    everything = transfer(matrix.assign(at_chance=True), resamples=200, seed=0)[0]
    assert everything["n"] == 0 and "all 3 copies at chance" in transfer_lines(matrix.assign(at_chance=True), 200, 0)[0]
    captured = {}
    monkeypatch.setattr(
        figures,
        "save",
        lambda fig, path: captured.setdefault("labels", [t.get_text() for t in fig.axes[0].get_yticklabels()]),
    )
    figures.cross_generator_matrix(matrix, "m", tmp_path / "x.png")
    plt.close("all")
    assert captured["labels"] == ["a", "b", "c (at chance)"]
