"""``visdet config``: show, validate, convert configs; list presets; write the JSON Schema.

* ``visdet config show CONFIG [--defaults]``: the ``_base_`` inheritance tree and the
  resolved YAML; with ``--defaults``, validated, every default of the schemas filled in
  and mmdet's ``train_cfg``/``test_cfg`` shown on the heads that use them.
* ``visdet config validate CONFIG``: check against the schemas; exit 2 with the errors.
* ``visdet config convert MMDET.py -o OUT.yaml``: mmdet 3.x Python config to visdet YAML.
* ``visdet config schema -o schema.json``: JSON Schema for editors (yaml-language-server);
  ``--kinds`` lists the registered types of every component kind instead.
* ``visdet config list``: the packaged presets.

CONFIG is a preset name, a YAML path or an mmdet ``.py`` path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visdet.commands.guard import guarded
from visdet.config.errors import ConfigError

EXIT_CHECK_FAILED = 1

CONVERT_HELP = (
    "convert an mmdet 3.x Python config (with its _base_ or read_base() chain) to visdet YAML. "
    "The file is read without running it: only the constructs configs use are evaluated "
    "(literals, dict(...), arithmetic, comprehensions, _base_ references); anything else "
    "is refused with the file and line."
)


def add_parser(subparsers: Any) -> None:
    """Add ``config`` and its sub-commands to the top-level ``subparsers``."""
    config = subparsers.add_parser("config", help="show, validate and convert configs")
    commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    show = commands.add_parser("show", help="print the inheritance tree and the resolved config")
    show.add_argument("config", help="preset name, YAML path or mmdet .py path")
    show.add_argument("--defaults", action="store_true", help="validate and fill in every default of the schemas")
    show.set_defaults(handler=_show)

    validate = commands.add_parser("validate", help="validate a config against the schemas")
    validate.add_argument("config", help="preset name, YAML path or mmdet .py path")
    validate.set_defaults(handler=_validate)

    convert = commands.add_parser("convert", help=CONVERT_HELP, description=CONVERT_HELP)
    convert.add_argument("source", help="mmdet config, e.g. configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py")
    convert.add_argument("-o", "--output", help="YAML file to write (default: print)")
    convert.set_defaults(handler=_convert)

    schema = commands.add_parser("schema", help="write the JSON Schema of config files")
    schema.add_argument("-o", "--output", help="JSON file to write (default: print)")
    schema.add_argument("--kinds", action="store_true", help="list the registered types of each component kind")
    schema.set_defaults(handler=_schema)

    listing = commands.add_parser("list", help="list the packaged presets")
    listing.set_defaults(handler=_list)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


@guarded("config show")
def _show(args: argparse.Namespace) -> int:
    from visdet.config.loader import load_config_tree
    from visdet.config.mmdet_convert import to_yaml

    node = load_config_tree(args.config)
    print("# inheritance (_base_ tree):")
    print("\n".join(f"#   {line}" for line in node.render().splitlines()))
    config = node.config
    if args.defaults:
        from visdet.engine.components import validate_config

        print("# with every default of the schemas (train_cfg/test_cfg routed onto the heads)")
        config = validate_config(config, source=args.config).model_dump(mode="json", exclude_none=True)
    sys.stdout.write(to_yaml(config))
    return 0


@guarded("config validate")
def _validate(args: argparse.Namespace) -> int:
    from visdet.config.loader import load_config
    from visdet.engine.components import validate_config

    validate_config(load_config(args.config), source=args.config)
    print(f"{args.config}: valid")
    return 0


@guarded("config convert")
def _convert(args: argparse.Namespace) -> int:
    from visdet.config.mmdet_convert import to_yaml
    from visdet.engine.components import validate_config
    from visdet.engine.components.convert import convert_mmdet_config

    if not args.source.endswith(".py"):
        raise ValueError(f"expected an mmdet Python config (.py), got {args.source}")
    config, dropped = convert_mmdet_config(args.source)
    header = f"Converted by `visdet config convert` from {Path(args.source).name} (mmdet 3.x config)."
    if dropped:
        header += f"\nTop-level helper variables not carried over: {', '.join(dropped)}"
    _emit(to_yaml(config, header=header), args.output)
    try:
        validate_config(config, source=args.source)
    except ConfigError as err:  # written anyway: the YAML is a starting point to edit
        print(f"visdet config convert: warning: visdet cannot use this config as is: {err}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0


@guarded("config schema")
def _schema(args: argparse.Namespace) -> int:
    from visdet.build import KINDS, registry
    from visdet.engine.components import config_json_schema

    if args.kinds:
        lines = [f"{kind}: {', '.join(registry(kind).names())}" for kind in KINDS]
        _emit("\n".join(lines) + "\n", args.output)
        return 0
    _emit(json.dumps(config_json_schema(), indent=2) + "\n", args.output)
    return 0


@guarded("config list")
def _list(args: argparse.Namespace) -> int:
    from visdet.config.presets import list_presets

    print("\n".join(list_presets()))
    return 0
