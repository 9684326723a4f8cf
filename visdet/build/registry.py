"""One registry per component kind: type name -> schema (pydantic, with the defaults and the factory).

A *kind* is a role in a config (``backbone``, ``loss``, ``hook``...); each registered type
of a kind is a :class:`~visdet.build.component.Component` schema whose ``build`` method
is its factory. Registration is explicit: ``@registry("loss").register`` on the schema
class, in the module of :mod:`visdet.build.components` (or :mod:`visdet.engine.components`)
that describes that kind; :mod:`visdet.build.catalog` lists those modules by name.

Fields typed ``ComponentOf("loss")`` accept any registered type of the kind, as a
discriminated union on ``type``; an unknown type is reported as
``model.roi_head.bbox_head.loss_cls.type: unknown type 'FocalLos'; did you mean 'FocalLoss'?``.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable, Iterator, Sequence

from pydantic import BaseModel

# the schemas are ``visdet.build.component.Component`` subclasses (that module builds on this one)
Schema = BaseModel

# kind -> what a component of that kind does (shown by ``visdet config schema --kinds``)
KINDS: dict[str, str] = {
    "backbone": "image -> multi-level features",
    "neck": "multi-level features -> pyramid features",
    "dense_head": "dense per-location head (RPN, one-stage heads)",
    "roi_head": "second stage: RoI pooling plus box (and mask) heads",
    "roi_extractor": "pools RoI features from a feature pyramid",
    "roi_layer": "the pooling op of an RoI extractor",
    "bbox_head": "RoI box classification and regression head",
    "mask_head": "RoI mask head (per-RoI mask logits, targets and pasting)",
    "positional_encoding": "position embedding of a feature map from its padding mask (DETR family)",
    "attention": "an attention module of a transformer layer (DETR family)",
    "transformer_layer": "one encoder or decoder layer of a DETR-family transformer",
    "transformer": "the encoder or decoder stack of a DETR-family transformer",
    "query_generator": "makes DINO's denoising queries from the ground truth (DETR family)",
    "loss": "a loss module",
    "assigner": "assigns priors or proposals to ground truth",
    "match_cost": "one cost matrix of the Hungarian assigner (DETR family)",
    "iou_calculator": "pairwise overlaps of an assigner",
    "sampler": "samples assigned priors or proposals",
    "bbox_coder": "encodes boxes as regression targets and decodes them",
    "prior_generator": "anchors or points per feature level",
    "data_preprocessor": "normalises and pads images into a batch",
    "batch_augment": "augments a whole training batch on its device (data_preprocessor.batch_augments)",
    "detector": "a whole detector",
    "transform": "one step of a data pipeline",
    "dataset": "a dataset",
    "data_sampler": "the index sampler of a data loader",
    "batch_sampler": "the batch sampler of a data loader",
    "metric": "an evaluation metric",
    "optimizer": "a torch optimizer",
    "optim_wrapper": "the optimizer with gradient clipping, accumulation and precision",
    "scheduler": "a learning-rate schedule",
    "hook": "a training hook",
    "train_loop": "the training loop",
    "eval_loop": "the validation or test loop",
}

MAX_LISTED = 12
# called after a type is registered into a kind whose unions were built (see component.py)
REBUILDERS: list[Callable[[], None]] = []


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def listing(values: Sequence[str]) -> str:
    """Up to :data:`MAX_LISTED` values, comma-separated."""
    shown = ", ".join(values[:MAX_LISTED])
    return shown + (", ..." if len(values) > MAX_LISTED else "")


def type_names(schema: type[Schema]) -> tuple[str, ...]:
    """The names in a schema's ``type: Literal[...]`` annotation."""
    field = schema.model_fields.get("type")
    names = typing.get_args(field.annotation) if field is not None else ()
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{schema.__name__}.type must be a Literal of type names")
    return names


class Registry:
    """The registered types of one kind, by name (see the module docstring).

    Args:
        kind: The kind's name (a key of :data:`KINDS`).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._schemas: dict[str, type[Schema]] = {}
        self.version = 0
        self.used = False  # set once a ComponentOf union of this kind has been built

    def register(self, schema: type[Schema]) -> type[Schema]:
        """Register ``schema`` under each name of its ``type`` literal (a class decorator).

        Raises:
            TypeError: ``schema`` is not a ``Component``, has no ``example`` config for the
                registry sweep, or does not define ``build``.
            ValueError: A name is registered already.
        """
        if not (isinstance(schema, type) and issubclass(schema, BaseModel) and "type" in schema.model_fields):
            raise TypeError(f"{self.kind}: only Component schemas can be registered, got {schema!r}")
        if not isinstance(getattr(schema, "example", None), dict):
            raise TypeError(f"{schema.__name__}: a registered schema needs an 'example' config (its smallest one)")
        if getattr(schema.build, "__isabstractmethod__", False):
            raise TypeError(f"{schema.__name__}: a registered schema needs a 'build' method (its factory)")
        for name in type_names(schema):
            if name in self._schemas:
                raise ValueError(f"{self.kind} type {name!r} is registered twice ({self._schemas[name].__name__})")
            self._schemas[name] = schema
        self.version += 1
        if self.used:  # unions of this kind were built already: rebuild them with the new type
            for rebuild in REBUILDERS:
                rebuild()
        return schema

    def get(self, name: str) -> type[Schema]:
        """The schema of type ``name``.

        Raises:
            KeyError: Unknown name (the message suggests the closest and lists them).
        """
        if name not in self._schemas:
            hint = did_you_mean(name, self.names())
            raise KeyError(f"unknown {self.kind} type {name!r}{hint} (allowed: {listing(self.names())})")
        return self._schemas[name]

    def names(self) -> list[str]:
        """Every registered type name, in registration order."""
        return list(self._schemas)

    def schemas(self) -> list[type[Schema]]:
        """Every registered schema once, in registration order."""
        return list(dict.fromkeys(self._schemas.values()))

    def items(self) -> Iterator[tuple[str, type[Schema]]]:
        """``(name, schema)`` pairs."""
        return iter(list(self._schemas.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._schemas

    def __len__(self) -> int:
        return len(self._schemas)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._schemas)})"


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


def registry(kind: str) -> Registry:
    """The registry of ``kind``.

    Raises:
        KeyError: Unknown kind (naming the known ones).
    """
    if kind not in REGISTRIES:
        raise KeyError(f"unknown component kind {kind!r}{did_you_mean(kind, list(KINDS))} (kinds: {', '.join(KINDS)})")
    return REGISTRIES[kind]


def find_schema(name: str) -> type[Schema] | None:
    """The schema registered as ``name`` under any kind (``None`` if none)."""
    for reg in REGISTRIES.values():
        if name in reg:
            return reg.get(name)
    return None
