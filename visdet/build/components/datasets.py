"""Dataset and data-loader schemas: ``CocoDataset``, the samplers, and a ``*_dataloader`` section."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field
from torch.utils.data import DataLoader

from visdet.build.component import Component, ComponentOf, Section
from visdet.build.components.transforms import TransformConfig
from visdet.build.registry import registry
from visdet.data import AspectRatioBatchSampler, CocoDataset, DefaultSampler, InfiniteSampler, build_dataloader


@registry("dataset").register
class CocoDatasetConfig(Component):
    """``CocoDataset``: COCO-format annotations and images, run through ``pipeline``."""

    type: Literal["CocoDataset"]
    ann_file: str = ""
    metainfo: dict[str, Any] | None = None
    data_root: str = ""
    data_prefix: dict[str, str] | None = None
    filter_cfg: dict[str, Any] | None = None
    indices: int | list[int] | None = None
    pipeline: list[TransformConfig] = []
    test_mode: bool = False
    lazy_init: bool = False
    max_refetch: int = 1000
    serialize_data: bool = True
    backend_args: None = Field(None, description="remote file backends are not supported (must be null)")
    seg_map_suffix: str = ".png"
    proposal_file: None = Field(None, description="precomputed proposals are not supported (must be null)")
    example: ClassVar[dict[str, Any]] = {"type": "CocoDataset", "lazy_init": True}

    def build(self) -> CocoDataset:
        """The dataset, its pipeline built."""
        return CocoDataset(pipeline=[step.build() for step in self.pipeline], **self.arguments("pipeline"))


@registry("data_sampler").register
class DefaultSamplerConfig(Component):
    """``DefaultSampler``: each index once per epoch (shuffled or in order)."""

    type: Literal["DefaultSampler"]
    shuffle: bool = True
    seed: int | None = Field(None, description="default: the run's randomness.seed (drawn when unset)")
    round_up: bool = True
    example: ClassVar[dict[str, Any]] = {"type": "DefaultSampler", "seed": 0}

    def build(self, *, dataset: Any, seed: int | None = None) -> DefaultSampler:
        """The sampler over ``dataset``; ``seed`` is used when the config sets none (mmengine's rule)."""
        return DefaultSampler(dataset, shuffle=self.shuffle, seed=self.seed if self.seed is not None else seed,
                              round_up=self.round_up)  # fmt: skip


@registry("data_sampler").register
class InfiniteSamplerConfig(Component):
    """``InfiniteSampler``: an endless index stream (iteration-based training)."""

    type: Literal["InfiniteSampler"]
    shuffle: bool = True
    seed: int | None = Field(None, description="default: the run's randomness.seed (drawn when unset)")
    example: ClassVar[dict[str, Any]] = {"type": "InfiniteSampler", "seed": 0}

    def build(self, *, dataset: Any, seed: int | None = None) -> InfiniteSampler:
        """The sampler over ``dataset``; ``seed`` is used when the config sets none."""
        return InfiniteSampler(dataset, shuffle=self.shuffle, seed=self.seed if self.seed is not None else seed)


@registry("batch_sampler").register
class AspectRatioBatchSamplerConfig(Component):
    """``AspectRatioBatchSampler``: batches of images with the same orientation."""

    type: Literal["AspectRatioBatchSampler"]
    drop_last: bool = False
    example: ClassVar[dict[str, Any]] = {"type": "AspectRatioBatchSampler"}

    def build(self, *, sampler: Any, batch_size: int) -> AspectRatioBatchSampler:
        """The batch sampler over ``sampler``'s indices."""
        return AspectRatioBatchSampler(sampler, batch_size=batch_size, drop_last=self.drop_last)


class DataLoaderConfig(Section):
    """``train_dataloader`` / ``val_dataloader`` / ``test_dataloader``."""

    batch_size: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    persistent_workers: bool = False
    drop_last: bool = Field(False, description="without a batch_sampler; a batch sampler has its own")
    pin_memory: bool = False
    sampler: Annotated[Component, ComponentOf("data_sampler")] = Field(
        default={"type": "DefaultSampler", "shuffle": True}, validate_default=True
    )
    batch_sampler: Annotated[Component, ComponentOf("batch_sampler")] | None = None
    dataset: Annotated[Component, ComponentOf("dataset")]

    def build(self, *, seed: int | None = None) -> DataLoader:
        """The loader; ``seed`` seeds the sampler (unless it sets its own) and the workers."""
        dataset = self.dataset.build()
        sampler = self.sampler.build(dataset=dataset, seed=seed)
        drop_last = self.batch_sampler.drop_last if self.batch_sampler is not None else self.drop_last
        return build_dataloader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            sampler=sampler,
            seed=seed,
            aspect_ratio_batches=self.batch_sampler is not None,
            drop_last=drop_last,
            persistent_workers=self.persistent_workers,
            pin_memory=self.pin_memory,
        )
