"""``Runner``: trains a model with a loader, an optimizer, a schedule and hooks.

One *iteration* is one batch; the optimizer steps every ``accumulate_steps`` batches
(fewer at the end of an epoch: the loss of each batch is divided by the number of
batches in its accumulation window, so a window equals one step on the concatenated
batch). Per step: autocast forward (``precision``), backward (scaled for fp16), optional
gradient-norm clipping, optimizer step, ``after_optimizer_step`` hooks (the LR schedule).
Under ``torchrun`` (``visdet.engine.dist.init_distributed``) the model is wrapped in
``DistributedDataParallel``; rank 0 logs and saves.

A non-finite loss term stops training with :class:`NonFiniteLossError` naming the
iteration and the term; no checkpoint is written after it, so the last good one stays.
"""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from visdet.engine.checkpoint_io import atomic_torch_save, check_model_matches, read_checkpoint
from visdet.engine.detection_step import LossModule, detection_losses, parse_losses
from visdet.engine.dist import (
    all_reduce_mean,
    describe_failure,
    is_communication_error,
    is_distributed,
    is_main_process,
)
from visdet.engine.grad_checkpointing import set_grad_checkpointing
from visdet.engine.hooks import Hook, SchedulerHook
from visdet.engine.optim.clip import clip_gradients
from visdet.engine.precision import autocast, make_grad_scaler, resolve_device
from visdet.engine.rng_state import capture_rng_state, restore_rng_state
from visdet.engine.seeding import seed_everything
from visdet.engine.train_loop import TrainLoop
from visdet.engine.val_loop import ValLoop

LossFn = Callable[[nn.Module, Any, torch.device], dict[str, torch.Tensor]]


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""


class Runner:
    """Train ``model``; see the module docstring.

    Args:
        model: The model (a detector, or anything ``loss_fn`` understands).
        train_loader: Training loader with a finite ``DefaultSampler``.
        optimizer: Optimizer over ``model``'s parameters.
        work_dir: Where logs and checkpoints go.
        max_epochs: Epoch-based training length (exclusive with ``max_iters``).
        max_iters: Iteration-based training length, in batches.
        scheduler: Per-optimizer-step LR scheduler, or ``None``.
        val_loop: Validation (``runner.val()``), or ``None``.
        hooks: Extra hooks, run in order after the scheduler hook.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        grad_clip: Max gradient norm, or ``None``.
        accumulate_steps: Batches per optimizer step.
        loss_fn: ``(model, batch, device) -> losses``; default :func:`detection_losses`.
        seed: Seeds every RNG at the start of ``train`` (``None``: leave them).
        deterministic: Deterministic kernels (see :func:`seed_everything`).
        resume: ``True`` continues from ``<work_dir>/latest.pth`` if it exists; a path
            continues from that file (which must exist and fit the model).
        grad_checkpointing: Set ``with_cp`` on the backbone blocks.
        find_unused_parameters: Passed to ``DistributedDataParallel``.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        train_loader: DataLoader,
        optimizer: torch.optim.Optimizer,
        work_dir: str | Path,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        scheduler: Any = None,
        val_loop: ValLoop | None = None,
        hooks: Sequence[Hook] = (),
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        grad_clip: float | None = None,
        accumulate_steps: int = 1,
        loss_fn: LossFn = detection_losses,
        seed: int | None = None,
        deterministic: bool = False,
        resume: bool | str | Path = False,
        grad_checkpointing: bool = False,
        find_unused_parameters: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        batch_size = train_loader.batch_size or getattr(train_loader.batch_sampler, "batch_size", 1)
        if batch_size > len(train_loader.dataset):
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set ({len(train_loader.dataset)} images); "
                "lower the batch size or add images"
            )
        if accumulate_steps < 1:
            raise ValueError(f"accumulate_steps must be >= 1, got {accumulate_steps}")
        self.model = model.to(self.device)
        if grad_checkpointing and set_grad_checkpointing(model, True) == 0:
            warnings.warn("grad_checkpointing=True but no module of the model has a with_cp flag", stacklevel=2)
        self.loop = TrainLoop(loader=train_loader, max_epochs=max_epochs, max_iters=max_iters)
        self.max_iters = self.loop.max_iters
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.val_loop = val_loop
        self.hooks: list[Hook] = [SchedulerHook(), *hooks]
        self.work_dir = Path(work_dir)
        self.precision = precision
        self.scaler = make_grad_scaler(precision, self.device)
        self.grad_clip = grad_clip
        self.accumulate_steps = accumulate_steps
        self.seed, self.deterministic, self.resume = seed, deterministic, resume
        self.loss_module: nn.Module = LossModule(model=model, loss_fn=loss_fn, device=self.device)
        self.find_unused_parameters = find_unused_parameters
        self.epoch = self.iter = self.inner_iter = 0
        self.window = self.micro = 0
        self.log_vars: dict[str, float] = {}
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        self.restart_loader = False
        self.val_history: list[dict[str, float]] = []

    # ---------------------------------------------------------------- state
    @property
    def at_step_boundary(self) -> bool:
        """Whether no gradient accumulation is in progress."""
        return self.micro == 0

    def current_lr(self) -> float:
        """The largest learning rate over the optimizer's groups."""
        return max(group["lr"] for group in self.optimizer.param_groups)

    def request_stop(self, reason: str) -> None:
        """End training after the current optimizer step."""
        self.stop_reason = reason

    def call_hook(self, event: str, *args: Any) -> None:
        """Call ``event`` on every hook."""
        for hook in self.hooks:
            getattr(hook, event)(self, *args)

    def state(self) -> dict[str, Any]:
        """Everything a resume needs (see :mod:`visdet.engine.checkpoint_io`)."""
        return {
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng_state(),
            "epoch": self.epoch,
            "iter": self.iter,
            "inner_iter": self.inner_iter,
            "meta": {"model_class": type(self.model).__name__, "torch": str(torch.__version__)},
        }

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """Write :meth:`state` atomically to ``path`` (rank 0 only; returns ``None`` elsewhere)."""
        if not self.at_step_boundary:
            raise RuntimeError("checkpoints are taken between optimizer steps, not during gradient accumulation")
        if not is_main_process():
            return None
        checkpoint = self.state()
        self.call_hook("before_save_checkpoint", checkpoint)
        return atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (model, optimizer, RNGs, counters).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: The file is not a training checkpoint of this model and
                optimizer; the message names the file and the section (``optimizer``,
                ``rng``...) that could not be restored.
        """
        ckpt = read_checkpoint(path)
        check_model_matches(self.model, ckpt, path)
        self.call_hook("after_load_checkpoint", ckpt)
        for key in ("epoch", "iter", "inner_iter"):
            if key not in ckpt:
                raise ValueError(f"resume checkpoint {str(path)!r} has no {key!r} entry")
        sections: list[tuple[str, Callable[[Any], Any]]] = [
            ("state_dict", self.model.load_state_dict),
            ("optimizer", self.optimizer.load_state_dict),
        ]
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            sections.append(("scheduler", self.scheduler.load_state_dict))
        if self.scaler is not None and ckpt.get("scaler") is not None:
            sections.append(("scaler", self.scaler.load_state_dict))
        sections.append(("rng", restore_rng_state))
        for key, restore in sections:
            if key not in ckpt:
                raise ValueError(f"resume checkpoint {str(path)!r} has no {key!r} entry")
            try:
                restore(ckpt[key])
            except Exception as err:  # any failure to restore from the file's values is a bad file
                raise ValueError(
                    f"resume checkpoint {str(path)!r}: cannot restore {key!r}: {type(err).__name__}: {err}"
                ) from err
        self.epoch, self.iter, self.inner_iter = ckpt["epoch"], ckpt["iter"], ckpt["inner_iter"]

    def _resume(self) -> None:
        if self.resume is False or self.resume is None:
            return
        if self.resume is True:
            latest = self.work_dir / "latest.pth"
            if not latest.is_file():
                warnings.warn(f"resume=True but {latest} does not exist; starting from scratch", stacklevel=3)
                return
            self.load_checkpoint(latest)
        else:
            self.load_checkpoint(self.resume)

    # ---------------------------------------------------------------- steps
    def run_iter(self, batch: Any) -> None:
        """One batch: forward, backward, and an optimizer step at the end of its window."""
        self.call_hook("before_train_iter")
        if self.micro == 0:
            self.window = min(self.accumulate_steps, self.loop.batches_left_in_epoch(self))
        self.micro += 1
        stepping = self.micro == self.window
        sync = contextlib.nullcontext()
        if not stepping and isinstance(self.loss_module, DistributedDataParallel):
            sync = self.loss_module.no_sync()
        with sync:
            with autocast(self.precision, self.device):
                losses = self.loss_module(batch)
            total, terms = parse_losses(losses)
            self._check_finite(terms)
            scaled = total / self.window  # in the loss's own dtype, as mmengine's OptimWrapper scales it
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        if stepping:
            self._optimizer_step()
        self.iter += 1
        self.inner_iter += 1
        # logged in float64, so each value is the loss term's own value (mmengine logs `.item()`)
        values = torch.stack([v.detach().to(torch.float64) for v in terms.values()])
        self.log_vars = dict(zip(terms, all_reduce_mean(values).tolist()))
        self.call_hook("after_train_iter")

    def _check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            if not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"iteration {self.iter + 1} (epoch {self.epoch + 1}): loss term {name!r} is {value.item()}; "
                    f"training stopped, the last good checkpoint (if any) is {self.work_dir / 'latest.pth'}"
                )

    def _optimizer_step(self) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.grad_clip is not None:
            clip_gradients(self.optimizer, self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.micro = 0
        self.call_hook("after_optimizer_step")

    # ---------------------------------------------------------------- entry points
    def train(self) -> nn.Module:
        """Train (resuming if asked); returns the trained model."""
        if self.seed is not None:
            seed_everything(self.seed, deterministic=self.deterministic)
        self._resume()
        if is_distributed() and not isinstance(self.loss_module, DistributedDataParallel):
            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            self.loss_module = DistributedDataParallel(
                self.loss_module, device_ids=ids, find_unused_parameters=self.find_unused_parameters
            )
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self.call_hook("before_train")
        try:
            self.loop.run(self)
        except BaseException as err:
            self.error = err
            if is_distributed() and is_communication_error(err):
                raise describe_failure(err, self.iter) from err
            raise
        finally:
            self.call_hook("after_train")
        return self.model

    def release_distributed(self) -> None:
        """Drop the ``DistributedDataParallel`` wrapper so the process group can be destroyed.

        DDP's reducer holds the process group; call this before
        ``torch.distributed.destroy_process_group()`` (a wrapper left alive until
        interpreter exit can abort the process while its threads are torn down).
        """
        if isinstance(self.loss_module, DistributedDataParallel):
            self.loss_module = self.loss_module.module
            gc.collect()

    def val(self) -> dict[str, float]:
        """Run the validation loop and the ``after_val`` hooks; returns the metrics."""
        if self.val_loop is None:
            raise RuntimeError("this runner has no val_loop")
        self.call_hook("before_val")
        metrics = self.val_loop.run(self.model, self.device)
        self.val_history.append(metrics)
        self.call_hook("after_val", metrics)
        return metrics
