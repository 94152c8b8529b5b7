"""Train CLIPMat on a composite manifest (paper section 5.1): Adam, lr 1e-4, 512 px.

Read it top to bottom: options -> set-up (devices, DDP) -> data -> model and optimiser
(or resume) -> loop (autocast, accumulation, logging, checkpoints) -> per-epoch
validation. One process or many under ``torchrun`` run the same code: with WORLD_SIZE
set, each process takes its rank's share of every epoch (DistributedSampler) and the
model is wrapped in DistributedDataParallel.

Everything random is seeded from ``seed``: the epoch order, and each sample's
augmentation from (seed, epoch, row), so a resumed run sees the same batches.
Checkpoints go to ``out/checkpoints/step-NNNNNNN.{safetensors,optim.safetensors,json}``;
the JSON is written last, so a checkpoint counts only once its JSON exists. A single-process
run resumes mid-epoch at the next batch; under DDP the interrupted epoch restarts.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from safetensors import SafetensorError

from clipmat.build import activation_note, build_model
from clipmat.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from clipmat.config import ConfigError, get_config
from clipmat.data import DataError, MatteDataset, collate
from clipmat.infer import model_predictor, score, scoring_inputs
from clipmat.losses import ClipMatLoss
from clipmat.model import tokenize
from refmatte.atomic import atomic_path, atomic_write_bytes, exclusive


@dataclass
class TrainOptions:
    manifest: str  # composite manifest to train on
    out: str  # run folder: log.jsonl, checkpoints/, final.safetensors
    setting: str = "keyword"  # keyword | expression
    model: str = "ViT-B-16"  # registered architecture or JSON config
    ablate: tuple[str, ...] = ()  # Table 3: modules to turn off (clipmat.config.ABLATIONS)
    augment: str = "stored"  # stored: the composites as written (background swap); rssn: composed anew (clipmat.rssn)
    clip_weights: str | None = None  # open_clip tag, CLIP weights file, or None (random)
    quick_gelu: bool | None = None  # None: as the weights say (clipmat.build.resolve_weights)
    batch_size: int | None = None  # per process, per step; None: the model config's train_batch_size
    accumulate: int = 1  # optimiser step every N batches
    epochs: int = 50
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs when reached)
    lr: float = 1e-4
    seed: int = 0
    workers: int = 2
    checkpoint_every: int = 1000  # optimiser steps
    keep: int = 3  # checkpoints kept (the newest); final.safetensors is always written
    val_manifest: str | None = None  # evaluated at the end of every epoch
    coarse_from: str | None = None  # refiner only: a text model's checkpoint whose predictions are half the coarse inputs
    resume: bool = False
    trimap_kernel: int = 25  # px at 512 px input
    device: str | None = None  # default: cuda when available


class _EpochOrder(Sampler):
    """A permutation of the dataset drawn from (seed, epoch), skipping the first ``skip`` items."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch, self.skip = n, seed, 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n)[self.skip:].tolist())

    def __len__(self) -> int:
        return self.n - self.skip


class _WithEpoch(Sampler):
    """``sampler``'s rows as (epoch, row): the sample's augmentation is seeded from both, and the
    loader's processes can live across epochs (they never hold an epoch of their own)."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        epoch = self.sampler.epoch
        return ((epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def latest_checkpoint(out: Path) -> Path | None:
    done = sorted((out / "checkpoints").glob("step-*.json"))
    return done[-1] if done else None


STATE_KEYS = ("step", "epoch", "batches_in_epoch", "options", "param_groups")


def _load_resume(out: Path, opts: "TrainOptions", world: int, log) -> tuple[Path, dict, torch.nn.Module] | None:
    """(checkpoint JSON, training state, model) of the newest checkpoint in ``out`` that loads whole.

    A truncated weights file, a garbage state JSON or a missing optimiser file makes it fall
    back to the previous checkpoint, saying so; DataError when checkpoints exist but none
    loads, or when the run's options differ from the ones the batches depend on.
    """
    candidates = sorted((out / "checkpoints").glob("step-*.json"), reverse=True)
    problems = []
    for path in candidates:
        try:
            state = json.loads(path.read_text())
            if not isinstance(state, dict) or not all(k in state for k in STATE_KEYS) or \
                    not all(type(state[k]) is int and state[k] >= 0 for k in STATE_KEYS[:3]) or \
                    not isinstance(state["options"], dict) or not isinstance(state["param_groups"], list):
                raise ValueError(f"its state lacks or mangles {', '.join(STATE_KEYS)}")
            optim = path.with_suffix(".optim.safetensors")
            if not optim.is_file():
                raise ValueError(f"{optim.name} is missing")
            load_file(str(optim))  # readable whole, or the next one is tried
            model = load_checkpoint(path.with_suffix(".safetensors"))
        except (OSError, ValueError, CheckpointError, ConfigError, SafetensorError) as e:
            problems.append(f"{path.name}: {e}")
            log(f"checkpoint {path.name} is unusable ({e}); trying the one before it")
            continue
        _check_resume(path, state, opts, world)
        return path, state, model
    if candidates:
        raise DataError(f"cannot resume from {out / 'checkpoints'}: no checkpoint loads ({'; '.join(problems[:3])}); "
                        "train into a new --out, or remove --resume to start over")
    return None


def _save(out: Path, model, optimizer, state: dict, keep: int) -> Path:
    stem = out / "checkpoints" / f"step-{state['step']:07d}"
    save_checkpoint(model, stem.with_suffix(".safetensors"), {"step": str(state["step"])})
    opt = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.detach().contiguous().cpu() for i, s in opt["state"].items() for k, v in s.items()
               if torch.is_tensor(v)}
    with atomic_path(stem.with_suffix(".optim.safetensors")) as tmp:
        save_file(tensors, str(tmp))
    atomic_write_bytes(stem.with_suffix(".json"), json.dumps({**state, "param_groups": opt["param_groups"]},
                                                             indent=1).encode())
    for old in sorted((out / "checkpoints").glob("step-*.json"))[:-keep]:
        for suffix in (".json", ".safetensors", ".optim.safetensors"):  # the JSON first: it marks a whole checkpoint
            old.with_suffix(suffix).unlink(missing_ok=True)
    return stem.with_suffix(".json")


def _load_optimizer(optimizer, path: Path, param_groups: list) -> None:
    flat = load_file(str(path))
    state: dict[int, dict] = {}
    for key, value in flat.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


RESUME_MUST_MATCH = ("manifest", "setting", "model", "lr", "batch_size", "accumulate", "seed", "trimap_kernel", "quick_gelu",
                     "ablate", "augment", "coarse_from")


def _check_resume(path: Path, state: dict, opts: TrainOptions, world: int) -> None:
    """Refuse, in one sentence, a resume whose batches would differ from the interrupted run's."""
    defaults = json.loads(json.dumps(asdict(TrainOptions("", ""))))  # options a checkpoint from an older version lacks
    before = {**defaults, **state.get("options", {}), "world_size": state.get("world_size", 1)}
    now = {**json.loads(json.dumps(asdict(opts))), "world_size": world}  # tuples as the JSON state holds them
    changed = [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in (*RESUME_MUST_MATCH, "world_size") if before.get(k) != now[k]]
    if changed:
        raise DataError(f"cannot resume from {path}: {', '.join(changed)}; resume with the run's own options "
                        "or train into a new --out")


def _truncate_log(log_file: Path, step: int) -> None:
    """Keep the log's records up to ``step``; lines cut by a kill (not JSON) are dropped."""
    if log_file.is_file():
        keep = []
        for line in log_file.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and type(record.get("step")) is int and record["step"] <= step:
                keep.append(line)
        atomic_write_bytes(log_file, "".join(line + "\n" for line in keep).encode())


def _check_fresh(out: Path, resume: bool) -> None:
    """Refuse to start over in a run folder that holds a run: its checkpoints and log would be mixed with ours."""
    if resume:
        return
    earlier = [p.name for p in (out / "final.safetensors", out / "log.jsonl") if p.exists()]
    earlier += [f"checkpoints/{p.name}" for p in sorted((out / "checkpoints").glob("step-*.json"))[-1:]]
    if earlier:
        raise DataError(f"{out} already holds a training run ({', '.join(earlier)}); continue it with --resume, "
                        "or train into another --out (nothing was changed)")


def _all_ranks_have_data(have: bool, distributed: bool, device: torch.device) -> bool:
    """True when ``have`` holds on every rank (one all-reduce under DDP), so all ranks take the same branch."""
    if not distributed:
        return have
    flag = torch.tensor([1 if have else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _check_trained(had_work: bool, trained: int, skipped: list[str], step: int, opts: TrainOptions,
                   distributed: bool, device: torch.device) -> None:
    """DataError when a run that had work to do trained nothing: an untrained "final" would only mislead.

    Under DDP the counts of every rank are summed first, so all ranks decide alike.
    """
    counts = torch.tensor([trained, len(skipped)], device=device)
    if distributed:
        dist.all_reduce(counts)
    trained_all, skipped_all = (int(v) for v in counts.tolist())
    if not had_work:
        return
    if not trained_all:
        first = f"; first: {skipped[0]}" if skipped else ""
        raise DataError(f"no sample of {opts.manifest} could be read ({skipped_all} skipped{first}); "
                        "nothing was trained and no checkpoint was written")
    if step == 0:
        raise DataError(f"no optimiser step was taken: --accumulate {opts.accumulate} needs that many batches of "
                        f"{opts.batch_size} in an epoch; lower it. No checkpoint was written")


AUGMENTS = ("stored", "rssn")


def with_batch_size(opts: TrainOptions) -> TrainOptions:
    """``opts`` with the batch size given, else the interrupted run's (``resume``), else the model
    config's default (12 for ViT-B/16, 4 for ViT-L/14)."""
    if opts.batch_size is not None:
        return opts
    if opts.resume:
        for path in sorted((Path(opts.out) / "checkpoints").glob("step-*.json"), reverse=True):
            try:
                size = json.loads(path.read_text())["options"]["batch_size"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # _load_resume says what is wrong with it
            if type(size) is int and size > 0:
                return replace(opts, batch_size=size)
    return replace(opts, batch_size=get_config(opts.model).train_batch_size)


def checked_config(opts: TrainOptions):
    """The config ``opts`` trains (ablations applied); DataError for options its family cannot take."""
    config = get_config(opts.model)
    if config.family != "clipmat":
        extra = [name for name, given in (("--ablate", opts.ablate), ("--quick-gelu", opts.quick_gelu is not None))
                 if given]
        if extra:
            raise DataError(f"{' and '.join(extra)} apply to CLIPMat only; {config.name} is a {config.family} model")
        if config.family == "cascade":
            raise DataError(f"{config.name} is a cascade of pretrained models: nothing to train; "
                            "use it directly with clipmat predict / eval")
    if config.family == "clipseg" and config.freeze_clip and not (opts.clip_weights or config.pretrained):
        raise DataError(f"{config.name} freezes its CLIP, as CLIPSeg's recipe does: without --weights it would train "
                        "a decoder on random features; pass --weights CIDAS/clipseg-rd64-refined (online) or its "
                        "local folder, or set freeze_clip to false in a config to train everything from scratch")
    if opts.coarse_from and config.family != "refiner":
        raise DataError(f"--coarse-from feeds a refiner; {config.name} is a {config.family} model")
    if config.family == "refiner" and opts.val_manifest:
        raise DataError("--val scores a text-driven model; score a refiner with clipmat eval CKPT MANIFEST --refiner R")
    return config.with_ablations(opts.ablate) if config.family == "clipmat" else config


def _coarse_model(opts: TrainOptions, device: torch.device):
    """The text model whose predictions feed the refiner (``--coarse-from``), frozen, or None."""
    if not opts.coarse_from:
        return None
    model = load_checkpoint(opts.coarse_from, device)
    if model.config.family not in ("clipmat", "clipseg"):
        raise DataError(f"--coarse-from {opts.coarse_from} is a {model.config.family} model; give a CLIPMat or "
                        "CLIPSeg checkpoint")
    return model.eval().requires_grad_(False)


def _coarse_inputs(batch: dict, coarse_model, opts: TrainOptions, step: int, device: torch.device) -> torch.Tensor:
    """The refiner's coarse mattes: the degraded truth, and with ``--coarse-from`` the model's prediction for
    half of the samples (drawn from (seed, step), so a resumed run draws the same)."""
    coarse = batch["coarse"].to(device)
    if coarse_model is None:
        return coarse
    pick = torch.rand(len(coarse), generator=torch.Generator().manual_seed(opts.seed * 1_000_003 + step)) < 0.5
    if pick.any():
        from clipmat.model import tokenize

        texts = [t for t, p in zip(batch["text"], pick.tolist()) if p]
        tokens = tokenize(texts, coarse_model.config.text_length(opts.setting)).to(device)
        with torch.no_grad():
            predicted = coarse_model(batch["image"][pick].to(device), tokens)["alpha"].float()
        coarse = coarse.clone()
        coarse[pick.to(device)] = predicted
    return coarse


def train(opts: TrainOptions, progress=None, log=print) -> Path:
    """Run training; returns the path of the final checkpoint (``out/final.safetensors``).

    The run folder is locked (rank 0 holds it under DDP): a second training into the same
    ``out`` is refused instead of interleaving its log and checkpoints.
    """
    opts = with_batch_size(opts)
    if opts.augment not in AUGMENTS:
        raise DataError(f"unknown augmentation {opts.augment!r}; choose {' or '.join(AUGMENTS)}")
    if int(os.environ.get("RANK", "0")) == 0:
        with exclusive(opts.out):
            return _train(opts, progress, log)
    return _train(opts, progress, log)


def _train(opts: TrainOptions, progress, log) -> Path:
    # --- set-up: devices and processes
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:  # a long timeout: ranks wait at a barrier while rank 0 validates
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and distributed:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_fresh(out, opts.resume)
    torch.manual_seed(opts.seed)

    # --- model: fresh, or from the newest checkpoint that loads
    resumed = _load_resume(out, opts, world, log) if opts.resume else None
    resume_from = resumed[0] if resumed else None
    if resumed:
        resume_from, state, model = resumed
        _truncate_log(out / "log.jsonl", state["step"])  # steps after the checkpoint are redone
        log(f"resuming from {resume_from} (step {state['step']}, epoch {state['epoch']})")
    else:
        if opts.resume and rank == 0:  # killed before its first checkpoint: its log starts over too
            _truncate_log(out / "log.jsonl", 0)
        state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "options": asdict(opts), "world_size": world}
        model = build_model(checked_config(opts), opts.clip_weights, opts.quick_gelu)
        if model.config.ablated and rank == 0:
            log(f"ablated (Table 3): {', '.join(model.config.ablated)} off")
        note = activation_note(opts.clip_weights, opts.quick_gelu, model.config) if model.config.family == "clipmat" else None
        if note and rank == 0:
            log(note)
    config = model.config
    model.to(device)

    # --- data
    dataset = MatteDataset(opts.manifest, opts.setting, config.image_size, config.text_length(opts.setting),
                           tokenize, train=True, seed=opts.seed, trimap_kernel=opts.trimap_kernel,
                           templates=config.pre_context, recompose=opts.augment == "rssn",
                           coarse=config.family == "refiner")
    if len(dataset) == 0:
        raise DataError(f"manifest {opts.manifest} has no rows usable in the {opts.setting} setting")
    sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=opts.seed) if distributed \
        else _EpochOrder(len(dataset), opts.seed)
    loader = DataLoader(dataset, batch_size=opts.batch_size, sampler=_WithEpoch(sampler), num_workers=opts.workers,
                        collate_fn=collate, persistent_workers=opts.workers > 0, pin_memory=device.type == "cuda")

    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    if resume_from:
        try:
            _load_optimizer(optimizer, resume_from.with_suffix(".optim.safetensors"), state["param_groups"])
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise DataError(f"cannot resume from {resume_from}: its optimiser state does not fit the model ({e}); "
                            "train into a new --out") from None
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if distributed else model
    criterion = ClipMatLoss()
    coarse_model = _coarse_model(opts, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    log_file = out / "log.jsonl"
    skipped: list[str] = []
    trained = 0  # samples that reached the model in this run

    # --- loop
    done = bool(opts.max_steps and state["step"] >= opts.max_steps)
    had_work = state["epoch"] < opts.epochs and not done
    while state["epoch"] < opts.epochs and not done:
        epoch, skip = state["epoch"], state["batches_in_epoch"]
        if distributed:
            sampler.set_epoch(epoch)
        else:
            sampler.set_epoch(epoch, skip * opts.batch_size)
        net.train()
        t0, seen = time.perf_counter(), 0
        for b, batch in enumerate(loader, start=skip if not distributed else 0):
            skipped += batch["errors"]
            for e in batch["errors"]:
                log(f"skipped: {e}")
            if not _all_ranks_have_data("image" in batch, distributed, device):
                continue  # every rank skips together, or DDP's all-reduce would hang
            image, alpha = batch["image"].to(device, non_blocking=True), batch["alpha"].to(device, non_blocking=True)
            trimap = batch["trimap"].to(device)
            if config.family == "refiner":  # image + coarse matte in
                second = _coarse_inputs(batch, coarse_model, opts, state["step"], device)
            else:
                second = batch["tokens"].to(device)
            with autocast:
                outputs = net(image, second)
            known = {k: batch[k].to(device) for k in ("fg", "bg") if k in batch}  # RSSN: composition loss too
            losses = criterion(**{k: v.float() for k, v in outputs.items()}, target_alpha=alpha, target_trimap=trimap,
                               **(dict(image=image, **known) if known else {}))
            if not _all_ranks_have_data(bool(torch.isfinite(losses["loss"])), distributed, device):
                raise DataError(f"the loss is not finite at step {state['step'] + 1} (epoch {epoch}, batch {b}); stopped "
                                "before it reached the weights, and the checkpoints in "
                                f"{out / 'checkpoints'} are untouched: lower --lr, or check the model "
                                "config's mean/std and the training images")
            (losses["loss"] / opts.accumulate).backward()
            seen += len(image)
            trained += len(image)
            if (b + 1) % opts.accumulate:
                continue
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            state["batches_in_epoch"] = b + 1
            if rank == 0:
                record = {"step": state["step"], "epoch": epoch, **{k: round(float(v.detach()), 6) for k, v in losses.items()},
                          "img_per_s": round(seen * world / (time.perf_counter() - t0), 2)}
                with open(log_file, "a") as f:
                    f.write(json.dumps(record) + "\n")
                if progress:
                    progress(state["step"], record)
                if state["step"] % opts.checkpoint_every == 0:
                    _save(out, model, optimizer, state, opts.keep)
            if opts.max_steps and state["step"] >= opts.max_steps:
                done = True
                break
        if not done:
            optimizer.zero_grad(set_to_none=True)  # an incomplete accumulation group does not cross epochs
            state["epoch"], state["batches_in_epoch"] = epoch + 1, 0
        # --- validation, once per epoch
        if rank == 0 and opts.val_manifest and not done:
            result = validate(model, opts.val_manifest, opts.setting)
            with open(log_file, "a") as f:
                f.write(json.dumps({"step": state["step"], "epoch": epoch, "split": "val", **result}) + "\n")
            log(f"epoch {epoch}: validation " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
        if distributed and opts.val_manifest and not done:
            dist.barrier()
    _check_trained(had_work, trained, skipped, state["step"], opts, distributed, device)
    if rank == 0:
        _save(out, model, optimizer, state, opts.keep)
        save_checkpoint(model, out / "final.safetensors", {  # what a model card says it was trained on
            "step": str(state["step"]), "train_manifest": str(opts.manifest), "setting": opts.setting,
            "augment": opts.augment, "clip_weights": str(opts.clip_weights)})
        if skipped:
            log(f"{len(skipped)} samples skipped (unreadable or mismatched files); first: {skipped[0]}")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return out / "final.safetensors"


def validate(model, manifest: str, setting: str) -> dict[str, float]:
    """Mean SAD / MSE / MAD and referring accuracy on a manifest (fast metrics only)."""
    rows, everyone, texts = scoring_inputs(manifest, setting, model.config.pre_context)
    scored = score(rows, everyone, model_predictor(model, setting), texts, metrics=("sad", "mse", "mad"))
    model.train()
    return scored.summary()
