"""``BaseDetDataset``: a list of per-image dicts plus a pipeline, with mmengine's semantics.

A subclass implements :meth:`load_data_list`, returning one dict per image (``img_path``,
``img_id``, ``height``, ``width``, ``instances``, ...). The base class joins ``data_root``
with ``ann_file`` and ``data_prefix``, filters the list (:meth:`filter_data`), keeps a
subset (``indices``), and on indexing deep-copies an item, adds ``sample_idx`` and runs the
pipeline. When the pipeline returns ``None`` (e.g. a crop without boxes) outside test mode,
another index is drawn with ``np.random.randint`` (as mmengine) up to ``max_refetch`` times.
"""

from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visdet.data.transforms.compose import Compose


class DataItemError(RuntimeError):
    """Preparing one data item failed; the message names its image file and id."""


class BaseDetDataset:
    """Detection dataset base.

    Args:
        ann_file: annotation file, relative to ``data_root`` unless absolute.
        metainfo: overrides of the class's ``METAINFO`` (e.g. ``{"classes": (...)}``).
        data_root: root joined with ``ann_file`` and each relative ``data_prefix`` entry.
        data_prefix: folders per data kind, e.g. ``{"img": "train2017/"}``.
        filter_cfg: ``{"filter_empty_gt": bool, "min_size": int}`` (ignored in test mode).
        indices: keep the first ``indices`` items (int) or these items (list).
        pipeline: transforms (callables; build configs with ``visdet.build.build_pipeline``).
        test_mode: evaluation mode: no filtering, no re-drawing on ``None``.
        lazy_init: defer loading the annotation file to the first access.
        max_refetch: how many times to draw another item when the pipeline gives ``None``.
        serialize_data: accepted for mmengine config compatibility; items stay Python dicts.
        seg_map_suffix: file suffix of semantic maps (``seg_map_path`` with a ``seg`` prefix).
        backend_args: must be ``None`` (local files only).
        proposal_file: precomputed proposals are not supported; must be ``None``.
    """

    METAINFO: Mapping[str, Any] = {}

    def __init__(
        self,
        *,
        ann_file: str = "",
        metainfo: Mapping[str, Any] | None = None,
        data_root: str = "",
        data_prefix: Mapping[str, str] | None = None,
        filter_cfg: Mapping[str, Any] | None = None,
        indices: int | Sequence[int] | None = None,
        pipeline: Sequence[Any] = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        max_refetch: int = 1000,
        serialize_data: bool = True,
        backend_args: Mapping[str, Any] | None = None,
        proposal_file: str | None = None,
        seg_map_suffix: str = ".png",
    ) -> None:
        if backend_args is not None:
            raise ValueError("backend_args (remote file backends) are not supported; use local paths")
        if proposal_file is not None:
            raise ValueError("proposal_file is not supported")
        self.data_root = data_root
        self.ann_file = ann_file
        self.data_prefix = dict(data_prefix if data_prefix is not None else {"img": ""})
        self.filter_cfg = copy.deepcopy(dict(filter_cfg)) if filter_cfg is not None else None
        self._indices = indices
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        self.seg_map_suffix = seg_map_suffix
        self._metainfo = {**copy.deepcopy(dict(self.METAINFO)), **copy.deepcopy(dict(metainfo or {}))}
        self._join_prefix()
        self.pipeline = Compose(pipeline)
        self.data_list: list[dict[str, Any]] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict[str, Any]:
        """A copy of the dataset's meta information (``classes``, ...)."""
        return copy.deepcopy(self._metainfo)

    def _join_prefix(self) -> None:
        if self.ann_file and not osp.isabs(self.ann_file) and self.data_root:
            self.ann_file = osp.join(self.data_root, self.ann_file)
        for key, prefix in self.data_prefix.items():
            if not isinstance(prefix, str):
                raise TypeError(f"data_prefix[{key!r}] must be a str, got {type(prefix).__name__}")
            if not osp.isabs(prefix) and self.data_root:
                self.data_prefix[key] = osp.join(self.data_root, prefix)

    def full_init(self) -> None:
        """Load, filter and subset the data list (once)."""
        if self._fully_initialized:
            return
        self.data_list = self.load_data_list()
        self.data_list = self.filter_data()
        if self._indices is not None:
            self.data_list = self._subset(self._indices)
        self._fully_initialized = True

    def _subset(self, indices: int | Sequence[int]) -> list[dict[str, Any]]:
        if isinstance(indices, int):
            return self.data_list[:indices] if indices >= 0 else self.data_list[indices:]
        return [self.data_list[i] for i in indices]

    def load_data_list(self) -> list[dict[str, Any]]:
        """One dict per image; implemented by subclasses."""
        raise NotImplementedError

    def filter_data(self) -> list[dict[str, Any]]:
        """The data list after ``filter_cfg`` (unchanged here; subclasses filter)."""
        return self.data_list

    def get_cat_ids(self, idx: int) -> list[int]:
        """The class labels (``bbox_label``) present in item ``idx``."""
        return [inst["bbox_label"] for inst in self.get_data_info(idx)["instances"]]

    def get_data_info(self, idx: int) -> dict[str, Any]:
        """A deep copy of item ``idx`` with ``sample_idx`` set."""
        if not self._fully_initialized:
            self.full_init()
        info = copy.deepcopy(self.data_list[idx])
        info["sample_idx"] = idx if idx >= 0 else len(self) + idx
        return info

    def prepare_data(self, idx: int) -> Any:
        """Item ``idx`` run through the pipeline (``None`` if a transform rejected it).

        Raises:
            DataItemError: A transform failed with a message that does not name the
                item's image file; the new message names it, with ``img_id``, the item
                index and the annotation file (the original error is its ``__cause__``).
                Errors that already name the file (``LoadImageFromFile``'s) pass as they
                are. In a ``DataLoader`` worker the message reaches the main process too.
        """
        info = self.get_data_info(idx)
        path, img_id = info.get("img_path"), info.get("img_id")
        try:
            return self.pipeline(info)
        except Exception as err:
            if path and repr(str(path)) in str(err):  # already names the file (LoadImageFromFile)
                raise
            raise DataItemError(
                f"image {path!r} (img_id={img_id}, item {idx} of {self.ann_file!r}): {type(err).__name__}: {err}"
            ) from err

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self.data_list)

    def __getitem__(self, idx: int) -> Any:
        if not self._fully_initialized:
            self.full_init()
        if self.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError(
                    f"the test pipeline returned None for item {idx} "
                    f"(img_id={self.data_list[idx].get('img_id')}) of {self.ann_file!r}"
                )
            return data
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))
        raise RuntimeError(
            f"the pipeline returned None {self.max_refetch + 1} times in a row for {self.ann_file!r}; "
            "check the pipeline (e.g. RandomCrop without allow_negative_crop on images without boxes)"
        )
