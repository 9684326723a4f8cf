"""``BaseDenseHead``: what every dense head (RPN, RetinaNet, FCOS, ...) shares.

Shapes: L pyramid levels ``[B, C, H_l, W_l]``; ``forward`` returns per-level raw maps
(``cls_scores``, ``bbox_preds``, ...); ``predict_by_feat`` turns them into one
``Instances`` per image; ``loss_by_feat`` into mmdet's loss dict.

A subclass provides ``forward_single`` (one level), ``predict_single`` (one image, from
its per-level maps and priors; usually ending in
:func:`~visdet.models.dense_heads.dense_postprocess.dense_post_process`) and
``loss_by_feat``; this base runs the levels and the images, makes the priors once per
batch and detaches the maps before post-processing, as mmdet's ``BaseDenseHead`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.dense_heads.dense_predict import dense_predict_single
from visdet.structures import ImageMeta, Instances, image_metas


class BaseDenseHead(nn.Module):
    """Per-level forward, per-image prediction; see the module docstring.

    Subclasses set ``in_channels``, ``prior_generator`` (``grid_priors``) and
    ``num_classes``, and hold their test settings as ``test_cfg``.
    """

    in_channels: int
    num_classes: int
    prior_generator: Any
    test_cfg: Any

    def forward_single(self, x: Tensor) -> tuple[Tensor, ...]:
        """Raw outputs of one level ``[B, C, H, W]``."""
        raise NotImplementedError

    def predict_single(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        score_factors: Sequence[Tensor] | None,
        priors: Sequence[Tensor],
        meta: ImageMeta,
        *,
        cfg: Any,
        rescale: bool,
    ) -> Instances:
        """Detections of one image from its per-level maps (``[*, H_l, W_l]``) and priors.

        The one-stage path (RetinaNet, FCOS, ...):
        :func:`~visdet.models.dense_heads.dense_predict.dense_predict_single` with the head's
        ``bbox_coder``, ``cls_out_channels`` and ``use_sigmoid_cls``. ``RPNHead`` has its own.
        """
        if cfg is None:
            raise ValueError(f"{type(self).__name__} has no test settings (test_cfg): give nms, max_per_img, ...")
        return dense_predict_single(
            cls_scores, bbox_preds, score_factors, priors, meta, cfg=cfg, bbox_coder=self.bbox_coder,
            cls_out_channels=self.cls_out_channels, use_sigmoid_cls=self.use_sigmoid_cls, rescale=rescale,
        )  # fmt: skip

    def loss_by_feat(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The loss dict from the raw outputs and the ground truth."""
        raise NotImplementedError

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], ...]:
        """Per-level raw outputs.

        Args:
            feats: L tensors ``[B, C, H_l, W_l]``.

        Returns:
            One list of L tensors per output of ``forward_single``.
        """
        per_level = []
        for level, x in enumerate(feats):
            if x.dim() != 4 or x.shape[1] != self.in_channels:
                name = type(self).__name__
                raise ValueError(f"{name} level {level}: expected (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
            per_level.append(self.forward_level(level, x))
        return tuple(list(outputs) for outputs in zip(*per_level))

    def forward_level(self, level: int, x: Tensor) -> tuple[Tensor, ...]:
        """Raw outputs of level ``level``: ``forward_single(x)``; heads with per-level modules (FCOS) override."""
        return self.forward_single(x)

    def predict_by_feat(
        self,
        cls_scores: Sequence[Tensor],
        bbox_preds: Sequence[Tensor],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        cfg: Any = None,
        rescale: bool = False,
        *,
        score_factors: Sequence[Tensor] | None = None,
    ) -> list[Instances]:
        """Detections per image (the maps are detached from the graph first).

        Args:
            cls_scores: Per level ``[B, A * C, H_l, W_l]``.
            bbox_preds: Per level ``[B, A * 4, H_l, W_l]``.
            batch_img_metas: Per image metas (``img_shape``; ``scale_factor`` to rescale).
            cfg: Test settings; ``None`` uses the head's ``test_cfg``.
            rescale: Return boxes in the original image's pixels.
            score_factors: Per level ``[B, A, H_l, W_l]`` factors multiplied into the
                scores (centerness, IoU), or ``None``.

        Returns:
            One ``Instances`` per image.
        """
        if len(cls_scores) != len(bbox_preds) or (score_factors is not None and len(score_factors) != len(cls_scores)):
            factors = "" if score_factors is None else f", {len(score_factors)} factor levels"
            raise ValueError(f"{len(cls_scores)} score levels but {len(bbox_preds)} delta levels{factors}")
        metas = image_metas(batch_img_metas, require=("img_shape",))
        cfg = self.test_cfg if cfg is None else cfg
        featmap_sizes = [tuple(score.shape[-2:]) for score in cls_scores]
        priors = self.prior_generator.grid_priors(
            featmap_sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device
        )
        return [
            self.predict_single(
                [score[i].detach() for score in cls_scores],
                [pred[i].detach() for pred in bbox_preds],
                None if score_factors is None else [factor[i].detach() for factor in score_factors],
                priors,
                meta,
                cfg=cfg,
                rescale=rescale,
            )
            for i, meta in enumerate(metas)
        ]

    def predict(
        self, feats: Sequence[Tensor], batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = False
    ) -> list[Instances]:
        """``forward`` then ``predict_by_feat`` with the head's test settings."""
        return self.predict_by_feat(*self(feats), batch_img_metas, rescale=rescale)

    def loss(
        self,
        feats: Sequence[Tensor],
        batch_gt_instances: Sequence[Instances],
        batch_img_metas: Sequence[ImageMeta | Mapping[str, Any]],
        batch_gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Any]:
        """``forward`` then ``loss_by_feat``."""
        return self.loss_by_feat(*self(feats), batch_gt_instances, batch_img_metas, batch_gt_instances_ignore)
