"""``visdet train CONFIG_OR_PRESET [--set key=value ...]``: train a detector.

``CONFIG_OR_PRESET`` is a whole config (YAML, or an mmdet 3.x ``.py`` file) or a model
preset name, which is combined with the ``coco_detection`` dataset, ``sgd`` optimizer
and ``1x`` schedule presets (change them with ``--dataset``, ``--optimizer``,
``--scheduler``). ``--set`` overrides any config key by its dotted path; values are
parsed as YAML (``--set train_cfg.max_epochs=2 --set visdet.precision=bf16``). The
merged config is validated against the schemas before anything is built: a mistake
exits with code 2 and a message naming its path (``optim_wrapper.optimizer.momentun:
unknown key; did you mean 'momentum'?``). ``--resume`` continues from
``<work_dir>/latest.pth``; ``--resume CHECKPOINT`` from that file (as mmdet's
``tools/train.py``); a file that is not a checkpoint of this model exits with code 2 and
a one-line message naming it.
"""

from __future__ import annotations

import argparse
from typing import Any

from visdet.commands.guard import guarded


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` -> ``{"a.b": 1, "c": [1, 2]}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def add_parser(subparsers: Any) -> None:
    """Add ``train`` to the top-level ``subparsers``."""
    train = subparsers.add_parser("train", help="train a detector from a config or presets")
    train.add_argument("config", metavar="CONFIG_OR_PRESET", help="config file (YAML / mmdet .py) or model preset")
    train.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (dotted path; value parsed as YAML); repeatable")  # fmt: skip
    train.add_argument("--dataset", default="coco_detection", help="dataset preset (with a model preset)")
    train.add_argument("--optimizer", default="sgd", help="optimizer preset (with a model preset)")
    train.add_argument("--scheduler", default="1x", help="schedule preset (with a model preset)")
    train.add_argument("--work-dir", default=None, help="output folder (default: the config's work_dir)")
    train.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                       help="continue from CHECKPOINT, or from <work_dir>/latest.pth without a value")  # fmt: skip
    train.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    train.set_defaults(handler=_train)


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """The merged config the command trains with."""
    import os

    from visdet.apis.simple_runner import SimpleRunner, list_models, nest
    from visdet.config import merge, resolve_config

    if args.config in list_models():
        cfg = SimpleRunner(model=args.config, dataset=args.dataset, optimizer=args.optimizer,
                           scheduler=args.scheduler).config  # fmt: skip
    elif os.path.exists(args.config) or args.config.endswith((".yaml", ".yml", ".py")):
        cfg = resolve_config(args.config)
    else:
        raise ValueError(f"{args.config!r} is neither a config file nor a model preset (presets: {list_models()})")
    extra: dict[str, Any] = {}
    if args.work_dir:
        extra["work_dir"] = args.work_dir
    if args.resume is not None:
        extra["resume"] = args.resume
    if args.device:
        extra["visdet"] = {"device": args.device}
    return merge(merge(cfg, extra), nest(parse_sets(args.sets)))


@guarded("train")
def _train(args: argparse.Namespace) -> int:
    from visdet.engine.components import validate_config
    from visdet.engine.config_runner import build_runner
    from visdet.engine.dist import init_distributed

    config = validate_config(build_config(args), source=args.config)  # before anything is built
    distributed = init_distributed()
    runner = build_runner(config, source=args.config)
    runner.train()
    if distributed:  # leave the process group cleanly (see Runner.release_distributed)
        import torch.distributed as dist

        runner.release_distributed()
        dist.barrier()
        dist.destroy_process_group()
    if runner.stop_reason:
        print(f"visdet train: stopped early: {runner.stop_reason}")
    print(f"visdet train: done after {runner.iter} iterations; checkpoints in {runner.work_dir}")
    return 0
