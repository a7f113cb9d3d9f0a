"""The command line: `python -m experiments.run CONFIG.yaml [--out DIR] [--resume|--force] [--retrain]`.

Validates the config, lists the samples, resolves the study's files and loads the models before
anything is created; then, holding the run folder's lock, scores every sample under every
variant with every model into `parts/` (so a killed run resumes where it stopped), assembles the
tables from verified parts and runs the config's stages (experiments.runner); the manifest of
what ran is written last.

Exit status: 0 when something was scored, 1 when nothing could be, a part is missing or
damaged, a file cannot be written (a full disk: what was finished is kept for --resume), or
workers died more often than `executor.max_retries` allows; 2 for a config, asset, run-folder or
executor problem (one line on stderr, no traceback); 130 / 143 after Ctrl-C / SIGTERM (one line;
finished parts are kept and `--resume` continues; the process then ends at once, skipping Python's
finalisation, so background threads such as tf.data's cannot hold it). The run folder is artxai's own
(experiments.rundir.runfolder): marked first, and the only folder a run deletes in.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from experiments.config.fields import ConfigError
from experiments.config.schema import load_config
from experiments.execution.executors import WorkerDied
from experiments.execution.interrupts import MESSAGE as INTERRUPTED
from experiments.execution.interrupts import exit_status, interrupts_raise, leave, raise_if_interrupted
from experiments.inputs.assets import AssetError
from experiments.rundir.atomic import FULL_DISK, WriteFailed
from experiments.rundir.parts import IncompleteRun
from experiments.runner import execute


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a YAML config file, or the name of a shipped one (robustness.yaml)")
    parser.add_argument("--out", type=Path, help="run folder (default: <out_dir>/<name> from the config)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="finish an interrupted run in the same folder")
    group.add_argument("--force", action="store_true", help="delete the run folder's contents and start over")
    parser.add_argument(
        "--retrain", action="store_true", help="train every model that has a train block, even if its file exists"
    )
    parser.add_argument(
        "--executor",
        choices=["local", "processes", "ray"],
        help="where units run (overrides the config's executor.kind)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="artxai: %(message)s")
    for noisy in ("absl", "h5py", "matplotlib", "PIL", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # TensorFlow's warnings here are retracing notes from tf-keras-vis' predict calls: not ours to act on
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        with interrupts_raise():  # SIGTERM ends the run as Ctrl-C does (experiments.execution.interrupts)
            cfg = load_config(args.config)
            if args.executor:
                cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": args.executor})})
            run_dir = args.out or cfg.out_dir / cfg.name
            status = execute(cfg, run_dir, resume=args.resume, force=args.force, retrain=args.retrain, started=started)
            raise_if_interrupted()  # one whose exception was dropped (never exit 0 after a SIGTERM)
            return status
    except (ConfigError, AssetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except IncompleteRun as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except WriteFailed as e:
        print(f"error: {e}; what was finished is kept: run again with --resume", file=sys.stderr)
        return 1
    except OSError as e:  # a write outside atomic_write on a full disk (or over quota, or too large)
        if e.errno not in FULL_DISK:
            raise
        kept = "what was finished is kept: run again with --resume"
        print(f"error: {e.filename or 'a file'}: cannot be written ({e.strerror}); {kept}", file=sys.stderr)
        return 1
    except WorkerDied as e:
        print(f"error: {e}; finished parts are kept, --resume continues", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        print(INTERRUPTED, file=sys.stderr)
        return exit_status(e)


if __name__ == "__main__":
    from experiments import STARTED

    leave(main(started=STARTED))  # ends without Python's finalisation (experiments.execution.interrupts)
