"""Benchmark: `make demo`'s wall time, with the 32 px model alone and with both models.

    python -m benchmarks.demo [--config robustness.yaml] [--only both|cnn32]

Each case runs `python -m experiments.run` in a fresh process, as `make demo` does (start-up
included), on the config as shipped. Offline the 128 px weights cannot be had, so the first case
is exactly what `make demo` runs here; the second puts a random-weight stand-in of the 128 px
architecture in their place (the same passes, so the same time; the demo itself never scores or
explains with a stand-in). Prints wall seconds and the run's own stage timings, and, measured in
this process before and after, the compiled batch-256 forward throughput at 32 and 128 px, so a
reader can tell how busy the machine was. Not a test: run on demand, figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.runner_vs_study import with_stand_ins
from benchmarks.explain import throughput
from experiments.config.schema import load_config
from experiments.models.architecture import build_cnn
from experiments.preflight import resolver_for

ORDER = [
    "start-up", "training", "models", "samples", "scoring", "tables", "evaluation", "figures", "explanations",
    "report", "other", "total",
]  # fmt: skip


def timed_run(config: Path, out: Path) -> tuple[float, dict[str, float]]:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "experiments.run", str(config), "--out", str(out), "--force"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    return wall, json.loads((out / "manifest.json").read_text())["timings_s"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="robustness.yaml")
    parser.add_argument("--only", choices=["cnn32", "both"], help="run one case only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    rates_before = {size: throughput(build_cnn(size))[0] for size in (32, 128)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = load_config(args.config)
        cases = {}
        if args.only in (None, "cnn32"):
            cases["as shipped (offline: cnn32 alone)"] = (Path(args.config), [])
        if args.only in (None, "both"):
            cfg, stand_ins = with_stand_ins(base, resolver_for(base), tmp)
            path = tmp / "both.yaml"
            path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
            cases["both models"] = (path, stand_ins)
        results = {
            name: timed_run(path, tmp / f"run{i}") + (stand_ins,)
            for i, (name, (path, stand_ins)) in enumerate(cases.items())
        }
    rates_after = {size: throughput(build_cnn(size))[0] for size in (32, 128)}

    print(f"\n{args.config}, one fresh process per case (start-up included)")
    print(
        "compiled batch-256 forward, before / after: "
        + ", ".join(f"{s} px {rates_before[s]:,.0f} / {rates_after[s]:,.0f} images/s" for s in (32, 128))
    )
    for name, (wall, stages, stand_ins) in results.items():
        note = f" ({', '.join(stand_ins)}: random-weight stand-in)" if stand_ins else ""
        print(f"\n{name}{note}: {wall:.1f} s wall")
        keys = [k for k in ORDER if k in stages] + sorted(set(stages) - set(ORDER))
        print("  stages (s): " + ", ".join(f"{k} {stages[k]:.1f}" for k in keys))


if __name__ == "__main__":
    main()
