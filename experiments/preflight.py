"""Before anything is created: the run folder can be used as asked, the samples can be listed,
the study's files are there, the executor can run and a model loads (`preflight`); then, under
the folder's lock, the folder cleared or kept, marked and given the config snapshot
(`prepare_run_dir`). `resolver_for` and `load_detectors` are public: benchmarks and notebooks
load a config's models the way a run does."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

import yaml

from experiments.config.fields import ConfigError
from experiments.config.schema import RunConfig
from experiments.execution.executors import executor_session
from experiments.inputs.assets import DEFAULT_BASE_URL, AssetError, AssetResolver, mirror_from_env
from experiments.inputs.images import decode_policy
from experiments.inputs.samples import Sample, load_samples
from experiments.models.backends import Opening, open_model
from experiments.models.detector import Detector
from experiments.models.trained_models import ModelRefused
from experiments.rundir.atomic import FULL_DISK, atomic_write_json, atomic_write_text
from experiments.rundir.runfolder import check_apart, clear, ensure_free, folder_action, remove_leftovers, write_marker
from experiments.stages.cross_generator import check_matrix
from experiments.stages.eval_sets import eval_set_samples
from experiments.context import RunPaths, Timings

log = logging.getLogger("artxai")


def resolver_for(cfg: RunConfig) -> AssetResolver:
    base_url = DEFAULT_BASE_URL if cfg.assets.base_url is None else (cfg.assets.base_url or None)
    return AssetResolver(
        mirror=cfg.assets.mirror or mirror_from_env(),
        cache_dir=cfg.assets.cache_dir,
        base_url=base_url,
        timeout_s=cfg.assets.timeout_s,
    )


def load_detectors(
    cfg: RunConfig, resolver: AssetResolver, retrain: bool = False, timings: Timings | None = None
) -> tuple[list[Detector], dict[str, str]]:
    """The models of the config that can be had, each with the sha256 of its file read before
    loading; a model with a train block is trained first, or reused only when its card says it
    was trained as the block asks (experiments.models.trained_models). A missing optional model is one
    warning line; a trained model that does not match its block stops the run (ModelRefused)."""
    detectors, blob_ids, failures = [], {}, []
    snapshot = cfg.model_dump(mode="json")
    opening = Opening(resolver, cfg.seed, decode_policy(cfg), retrain, snapshot, timings, onnx_copies=True)
    for m in cfg.models:
        try:
            detectors.append(open_model(m, opening))
            if m.seed_asset is not None:
                blob_ids[m.name] = resolver.resolve(m.seed_asset).blob_id
        except ModelRefused:
            raise
        except (AssetError, ValueError, OSError) as e:
            if isinstance(e, OSError) and e.errno in FULL_DISK:
                raise  # a full disk while training: the run's failed write (exit 1), not the model's
            if m.required:
                raise AssetError(f"model {m.name}: {e}") from None
            log.warning("model %s skipped: %s", m.name, e)
            failures.append(f"model {m.name}: {e}")
    if not detectors:
        raise AssetError(f"no model could be loaded: {'; '.join(failures)}")
    return detectors, blob_ids


def preflight(
    cfg: RunConfig,
    paths: RunPaths,
    resume: bool,
    force: bool,
    retrain: bool,
    timings: Timings | None = None,
    hold: ExitStack | None = None,
) -> tuple[list[Sample], list[Detector], dict[str, str]]:
    """Everything that can be checked before the run folder is touched: the folder can be used
    as asked, the samples can be listed, the study's files are there, the executor can run
    (`hold`: where its session, a Ray cluster, stays open for the run), a model loads."""
    ensure_free(paths.root)
    folder_action(paths.root, cfg.fingerprint(), resume, force)
    check_apart(paths.root, cfg)
    if cfg.assets.mirror is not None and not cfg.assets.mirror.is_dir():
        raise ConfigError(f"assets.mirror: {cfg.assets.mirror} is not a folder")
    resolver = resolver_for(cfg)
    timings = timings if timings is not None else Timings()
    t = time.perf_counter()
    samples = load_samples(cfg.samples, resolver)
    timings.add("samples", t)
    unavailable = [s for s in samples if s.problem] if cfg.samples.from_seed_assets else []
    if unavailable and not cfg.samples.allow_missing:
        raise AssetError(
            f"{unavailable[0].problem} ({len(unavailable)} of {len(samples)} study files unavailable; "
            "samples.allow_missing: true scores the rest)"
        )
    eval_set_samples(cfg, samples, resolver)  # every eval set's files listed (the audit's are the run's samples)
    check_matrix(cfg)  # the cross-generator matrix can be made: two generators or more, each with training images
    if hold is not None and cfg.executor.kind == "ray":
        t = time.perf_counter()
        hold.enter_context(executor_session(cfg.executor))  # reachable, a node fits a worker; ended with the run
        timings.add("executor start", t)
    t = time.perf_counter()
    detectors, model_blob_ids = load_detectors(cfg, resolver, retrain, timings)
    timings.add("models", t + timings.seconds.get("training", 0.0))  # loading; training is its own stage
    return samples, detectors, model_blob_ids


def prepare_run_dir(paths: RunPaths, cfg: RunConfig, resume: bool, force: bool) -> None:
    """Under the run folder's lock: clear it or keep it as the policy says, mark it as this
    run's (first, in a new or cleared folder), and remove what killed writes left behind."""
    snapshot = paths.root / "config.json"
    action = folder_action(paths.root, cfg.fingerprint(), resume, force)
    if action == "clear":
        clear(paths.root)
    if action != "resume":
        write_marker(paths.root, cfg.fingerprint())
    if action == "resume" and not snapshot.is_file():  # the snapshot's absence is a change: each part is checked
        log.warning(
            "%s has no config.json: a finished part is kept only if it records this config's fingerprint", paths.root
        )
    if leftovers := remove_leftovers(paths.root):
        log.info("removed %d unfinished temporary files of an earlier run", leftovers)
    paths.parts.mkdir(parents=True, exist_ok=True)
    atomic_write_json(snapshot, {"fingerprint": cfg.fingerprint(), "config": cfg.model_dump(mode="json")})
    atomic_write_text(paths.root / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
