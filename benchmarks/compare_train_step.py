"""visdet vs mmdet: one training step of a detector in one process, stage by stage.

Run from the repository root in the reference environment (mmdet 3.3 + mmcv 2.1)::

    .venv-ref/bin/python -m benchmarks.compare_train_step [--model mask_rcnn|retinanet|rtmdet_tiny|rtmdet_l|...]
        [--images 2 --height H --width W --boxes 6 --repeats 5 --warmup 1 --threads 2]

The input defaults to the config's test size (RTMDet 640x640, its training crop too; the
others 800x1216).

Both models come from mmdet's own config file (:mod:`benchmarks._reference_models`:
random weights, mmdet's ``state_dict`` loaded strictly into visdet), in train mode,
float32. The input is a preprocessed ``Nx3xHxW`` batch (``--images``, default 2; each
library's data preprocessor runs once, outside the timing) with ``--boxes`` ground-truth
boxes of random classes per image and, for models with a mask branch, the ellipse
inscribed in each box as its mask. Before timing, the loss terms of one step are checked to agree (same seed
before each step: the proposal samplers draw the same random numbers).

One step is ``zero_grad``, ``loss``, ``backward`` of the summed loss terms and the
update of the config's optimizer class with its lr and weight decay (``SGD`` for the 1x
schedules, ``AdamW`` for RTMDet; plain ``torch.optim`` on both, no ``paramwise_cfg``
groups, so that stage only shows the parameter count and layout). Stages, timed by
wrapping calls inside the step: ``backbone``, ``neck``,
``rpn_head.forward``, ``rpn loss`` (``loss_by_feat``: anchors, targets, losses), ``rpn
proposals`` (``predict_by_feat``), ``assign + sample`` (the RoI head's assigner and
sampler), ``roi extractor``, ``bbox_head.forward``, ``bbox loss`` (``loss_and_target``),
``mask roi extractor``, ``mask_head.forward``, ``mask loss`` (``loss_and_target``: mask
targets by RoIAlign of the gt masks, BCE), ``backward``, ``optimizer step``; ``other``
is the step minus those. A one-stage detector (RetinaNet, RTMDet) has ``backbone``,
``neck``, ``bbox_head.forward`` (the dense head), ``dense loss`` (``loss_by_feat``:
priors, targets, losses) with its ``assign + sample`` (the head's assigner and sampler)
shown alone too, ``backward`` and ``optimizer step``. A DETR (``--model deformable_detr``,
``deformable_detr_refine_twostage``, ``dino_4scale``; 800x1333) has ``backbone``, ``neck``,
``pre_transformer``, ``encoder``, ``pre_decoder``, ``decoder`` (the deformable attention in
them shown alone too), ``bbox_head.forward``, ``dense loss`` (``loss_by_feat``: the Hungarian
matching of every decoder layer, shown alone too, and the losses; DINO's denoising terms),
``backward`` and ``optimizer step``; DINO's denoising queries are drawn under the same seed on
both sides.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from benchmarks._compare import StageTimer, format_table, interleaved, load_average
from benchmarks._reference_models import (
    CONFIGS,
    DEFORMABLE_ATTENTION,
    DETR_STAGES,
    build_models,
    ellipse_masks,
    has_mask,
    input_size,
    mask_extractor,
    patch_detr,
    patch_each,
    train_optimizer,
)
from visdet.benchmark.load import background_load

STAGES = (
    "backbone",
    "neck",
    *DETR_STAGES,
    DEFORMABLE_ATTENTION,
    "rpn_head.forward",
    "rpn loss",
    "rpn proposals",
    "assign + sample",
    "roi extractor",
    "bbox_head.forward",
    "bbox loss",
    "mask roi extractor",
    "mask_head.forward",
    "mask loss",
    "dense loss",
    "  of which assign + sample",
    "backward",
    "optimizer step",
    "other",
    "train step (total)",
)
TOP_STAGES = tuple(s for s in STAGES[:-2] if not s.startswith(" "))
# tolerance of the agreement check: float32 sums over different orders (~1e-6 relative),
# carried through a few hundred thousand terms
LOSS_RTOL = 1e-4


def make_batch(
    model: torch.nn.Module, ref: torch.nn.Module, height: int, width: int, boxes: int, images: int
) -> dict[str, Any]:
    """Both libraries' preprocessed batch of ``images`` images and their ground truth."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks as MMBitmapMasks
    from mmengine.structures import InstanceData

    from visdet.structures import BitmapMasks, Instances

    gen = torch.Generator().manual_seed(2024)
    with_mask = has_mask(ref)
    pictures, metas, samples, gt = [], [], [], []
    for _ in range(images):
        pictures.append(torch.randint(0, 256, (3, height, width), generator=gen, dtype=torch.uint8))
        xy = torch.rand(boxes, 2, generator=gen) * torch.tensor([width * 0.7, height * 0.7])
        wh = (torch.rand(boxes, 2, generator=gen) * 0.25 + 0.05) * torch.tensor([width, height])
        bboxes = torch.cat([xy, xy + wh], dim=1)
        labels = torch.randint(0, 80, (boxes,), generator=gen)
        meta = {"img_shape": (height, width), "ori_shape": (height, width), "scale_factor": (1.0, 1.0)}
        masks = ellipse_masks(bboxes, height, width) if with_mask else None
        sample = DetDataSample(metainfo=dict(meta))
        fields = {"bboxes": bboxes.clone(), "labels": labels.clone()}
        gt_fields = {"bboxes": bboxes.clone(), "labels": labels.clone()}
        if with_mask:
            fields["masks"] = MMBitmapMasks(masks.copy(), height, width)
            gt_fields["masks"] = BitmapMasks(masks.copy(), height, width)
        sample.gt_instances = InstanceData(**fields)
        samples.append(sample)
        metas.append(meta)
        gt.append(Instances(**gt_fields))
    data = ref.data_preprocessor({"inputs": [p.clone() for p in pictures], "data_samples": samples}, training=True)
    batch, batch_metas = model.data_preprocessor([p.clone() for p in pictures], [dict(m) for m in metas])
    if with_mask:
        gt = model.data_preprocessor.pad_gt_masks(gt, batch_metas)
    return {"mmdet": (data["inputs"], data["data_samples"]), "visdet": (batch, batch_metas, gt)}


def run_loss(impl: str, model: torch.nn.Module, batch: Any) -> dict[str, Any]:
    """One ``loss`` call with the sampler seed fixed."""
    torch.manual_seed(5)
    return model.loss(*batch)


def loss_value(value: Any) -> float:
    """One loss term as a float (mmdet's per-level lists summed)."""
    return float((sum(v.sum() for v in value) if isinstance(value, (list, tuple)) else value).detach())


def total_loss(losses: dict[str, Any]) -> torch.Tensor:
    """Sum of the loss terms (keys containing ``loss``; lists summed), as mmengine's ``parse_losses``."""
    total = torch.zeros(())
    for key, value in losses.items():
        if "loss" in key:
            total = total + (sum(v.sum() for v in value) if isinstance(value, (list, tuple)) else value.sum())
    return total


def check_agreement(model: torch.nn.Module, ref: torch.nn.Module, batches: dict[str, Any]) -> str:
    """Compare every loss term of one step (raises on a difference beyond :data:`LOSS_RTOL`)."""
    got = run_loss("visdet", model, batches["visdet"])
    want = run_loss("mmdet", ref, batches["mmdet"])
    worst = 0.0
    for key, value in want.items():
        ref_value = loss_value(value)
        if key not in got:
            raise AssertionError(f"visdet has no loss term {key!r} (it has {sorted(got)})")
        mine = loss_value(got[key])
        rel = abs(mine - ref_value) / max(abs(ref_value), 1e-12)
        if rel > LOSS_RTOL:
            raise AssertionError(f"{key}: visdet {mine:.8g} vs mmdet {ref_value:.8g}")
        worst = max(worst, rel)
    return f"{len(want)} loss terms agree, worst relative difference {worst:.2e}"


def stage_timer(impl: str, model: torch.nn.Module) -> StageTimer:
    """A :class:`StageTimer` wrapped around ``model``'s training stages (restore it when done)."""
    timer = StageTimer()
    timer.patch(model.backbone, "forward", "backbone")
    timer.patch(model.neck, "forward", "neck")
    if hasattr(model, "encoder"):  # a DETR: the transformer steps, then the set-prediction head
        patch_detr(timer, impl, model)
    if not hasattr(model, "roi_head"):  # one-stage or DETR: the head does the rest
        head = model.bbox_head
        timer.patch(head, "forward", "bbox_head.forward")
        timer.patch(head, "loss_by_feat", "dense loss")
        timer.patch(head.assigner, "assign", "  of which assign + sample")
        if hasattr(head, "sampler"):  # the DETR heads match one to one (Hungarian), with no sampler
            timer.patch(head.sampler, "sample", "  of which assign + sample")
        return timer
    roi = model.roi_head
    timer.patch(model.rpn_head, "forward", "rpn_head.forward")
    timer.patch(model.rpn_head, "loss_by_feat", "rpn loss")
    timer.patch(model.rpn_head, "predict_by_feat", "rpn proposals")
    for name, attr in (("bbox_assigner", "assign"), ("bbox_sampler", "sample")):
        owners = getattr(roi, name)
        for owner in owners if isinstance(owners, (list, tuple)) else [owners]:
            timer.patch(owner, attr, "assign + sample")
    patch_each(timer, roi.bbox_roi_extractor, "forward", "roi extractor")
    patch_each(timer, roi.bbox_head, "forward", "bbox_head.forward")
    patch_each(timer, roi.bbox_head, "loss_and_target", "bbox loss")
    if has_mask(model):
        patch_each(timer, mask_extractor(model), "forward", "mask roi extractor")
        patch_each(timer, roi.mask_head, "forward", "mask_head.forward")
        patch_each(timer, roi.mask_head, "loss_and_target", "mask loss")
    return timer


def step_call(impl: str, model: torch.nn.Module, timer: StageTimer, batch: Any, optimizer: Any):
    """A zero-argument call: one timed training step, returning ``{stage: seconds}``."""

    def call() -> dict[str, float]:
        timer.reset()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        total = total_loss(run_loss(impl, model, batch))
        before_backward = time.perf_counter()
        total.backward()
        before_step = time.perf_counter()
        optimizer.step()
        end = time.perf_counter()
        stages = dict(timer.totals)
        stages["backward"] = before_step - before_backward
        stages["optimizer step"] = end - before_step
        stages["other"] = (end - start) - sum(stages.get(s, 0.0) for s in TOP_STAGES)
        stages["train step (total)"] = end - start
        return stages

    return call


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the table. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="mask_rcnn")
    parser.add_argument("--height", type=int, default=None, help="default: the config's test size")
    parser.add_argument("--width", type=int, default=None, help="default: the config's test size")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--boxes", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", type=int, default=0,
                        help="busy background processes while timing (e.g. 2: one per core); 0: idle")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        import mmdet  # noqa: F401
    except ImportError as exc:
        print(f"mmdet is not importable ({exc}); run with .venv-ref/bin/python", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    default_h, default_w = input_size(args.model)
    args.height = args.height or default_h
    args.width = args.width or default_w
    model, ref = build_models(args.model, score_thr=0.05)
    model.train()
    ref.train()
    batches = make_batch(model, ref, args.height, args.width, args.boxes, args.images)
    print(f"{args.model}: one training step, input {args.images}x3x{args.height}x{args.width}, "
          f"{args.boxes} gt boxes each, torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print("agreement:", check_agreement(model, ref, batches))
    timers = {"visdet": stage_timer("visdet", model), "mmdet": stage_timer("mmdet", ref)}
    try:
        models = {"visdet": model, "mmdet": ref}
        optimizers = {impl: train_optimizer(args.model, m) for impl, m in models.items()}
        calls = {impl: step_call(impl, models[impl], timers[impl], batches[impl], optimizers[impl]) for impl in models}
        with background_load(args.load):
            print(f"{args.load} busy background process(es); load average before: {load_average()}")
            results = interleaved(calls, repeats=args.repeats, warmup=args.warmup)
            print(f"load average after:  {load_average()}")
    finally:
        for timer in timers.values():
            timer.restore()
    print(f"medians of {args.repeats} interleaved repeats [min-max]")
    print(format_table(results, STAGES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
