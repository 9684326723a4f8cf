"""Every code block of docs/ and README.md: Python runs, shell is checked, YAML/JSON parse.

See docs/contributing-docs.md ("Every snippet runs") for the rules. Each page's Python
blocks run in order, in one namespace, in a fresh working folder holding the files the
pages name (generated images, a synthetic COCO folder, a checkpoint of the Faster R-CNN
preset in mmengine's layout, mmdet's own Faster R-CNN config); nothing is downloaded.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from tests.docs.markdown_blocks import Block, markdown_blocks, misplaced_skips
from tests.docs.shell_check import check_shell_block, make_targets, visdet_commands

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
PAGE_IDS = [p.relative_to(ROOT).as_posix() for p in PAGES]
# Blocks that cannot run without mmdet are marked `<!-- skip: ... -->`; keep them few.
MAX_SKIPPED = 4
YAML_FILE = re.compile(r"^#\s*(?P<name>[\w./-]+\.ya?ml)\s*$")
CHECKPOINT_NAMES = ("faster_rcnn_r50_fpn_1x_coco.pth", "work_dirs/faster-rcnn_r50_fpn_1x_coco/epoch_12.pth")
MASK_CHECKPOINT = "mask_rcnn_r50_fpn_1x_coco.pth"


def _blocks(page: Path) -> list[Block]:
    return markdown_blocks(page, ROOT)


def _all_blocks() -> list[Block]:
    return [b for page in PAGES for b in _blocks(page)]


def _write_jpeg(path: Path, height: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([(xx * 3) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    for _ in range(4):  # a few filled rectangles, so the image is not a pure gradient
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        cv2.rectangle(img, (x, y), (x + 40, y + 30), color, thickness=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


@pytest.fixture(scope="session")
def doc_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the pages name, made once per test process (see docs/contributing-docs.md)."""
    import visdet
    from visdet.data.datasets.coco_classes import COCO_CLASSES
    from visdet.testing.coco_synth import write_coco_synth

    base = tmp_path_factory.mktemp("doc_files")
    _write_jpeg(base / "street.jpg", 240, 320, seed=0)
    _write_jpeg(base / "photos" / "001.jpg", 200, 300, seed=1)
    _write_jpeg(base / "photos" / "002.jpg", 256, 256, seed=2)
    write_coco_synth(base / "data" / "coco_tiny")
    shutil.copytree(ROOT / "tests" / "data" / "mmdet_configs", base / "configs")
    torch.manual_seed(0)
    model = visdet.build_detector("faster_rcnn_r50_fpn")
    checkpoint = {  # mmengine's layout (tensors plus plain meta; no mmengine objects)
        "meta": {"dataset_meta": {"classes": list(COCO_CLASSES)}, "epoch": 12, "iter": 87960},
        "state_dict": model.state_dict(),
    }
    torch.save(checkpoint, base / CHECKPOINT_NAMES[0])
    torch.manual_seed(0)
    mask_model = visdet.build_detector("mask_rcnn_r50_fpn")
    torch.save({**checkpoint, "state_dict": mask_model.state_dict()}, base / MASK_CHECKPOINT)
    return base


def _page_folder(doc_files: Path, target: Path) -> Path:
    for item in doc_files.iterdir():
        if item.name in (CHECKPOINT_NAMES[0], MASK_CHECKPOINT):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy)(item, target / item.name)
    for name in CHECKPOINT_NAMES:  # the large file once, linked under every name
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).symlink_to(doc_files / CHECKPOINT_NAMES[0])
    (target / MASK_CHECKPOINT).symlink_to(doc_files / MASK_CHECKPOINT)
    return target


def _run_python(block: Block, namespace: dict) -> None:
    # pad with blank lines so a traceback points at the block's line in its markdown file
    code = compile("\n" * (block.line - 1) + block.code, block.source, "exec")
    exec(code, namespace)  # noqa: S102 - the project's own documentation


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_python_blocks_run(page: Path, doc_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(page)
    runnable = [b for b in blocks if b.lang == "python" and b.skip is None]
    if not runnable:
        pytest.skip(f"{page.relative_to(ROOT)} has no Python block to run")
    monkeypatch.chdir(_page_folder(doc_files, tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__doc_snippet__"}
    for block in blocks:
        if block.lang in ("yaml", "yml"):
            first = block.code.splitlines()[0] if block.code.strip() else ""
            name = YAML_FILE.match(first)
            if name:  # a config file the following blocks use
                (tmp_path / name["name"]).write_text(block.code, encoding="utf-8")
        if block.lang != "python" or block.skip is not None:
            continue
        try:
            _run_python(block, namespace)
        except Exception as err:
            raise AssertionError(f"the Python block at {block.where} failed: {type(err).__name__}: {err}") from err


def test_shell_blocks_name_existing_targets_and_commands() -> None:
    targets = make_targets(ROOT / "Makefile")
    commands = visdet_commands()
    problems, checked = [], []
    for block in _all_blocks():
        if block.lang in ("bash", "sh", "shell", "console"):
            report = check_shell_block(block.code, block.where, targets, commands)
            problems += report.problems
            checked += report.checked
    assert not problems, "\n".join(problems)
    # the pages do show make targets and visdet commands: an empty check is a broken extractor
    assert any(c.startswith("make ") for c in checked) and any(c.startswith("visdet ") for c in checked)
    assert "visdet parity check" in checked  # the migration step (issue 22)


def test_yaml_and_json_blocks_parse() -> None:
    seen = 0
    for block in _all_blocks():
        if block.lang in ("yaml", "yml"):
            try:
                data = yaml.safe_load(block.code)
            except yaml.YAMLError as err:
                raise AssertionError(f"{block.where}: YAML does not parse: {err}") from err
            assert isinstance(data, dict), f"{block.where}: a YAML block should hold a mapping"
            seen += 1
        elif block.lang == "json":
            try:
                json.loads(block.code)
            except json.JSONDecodeError as err:
                raise AssertionError(f"{block.where}: JSON does not parse: {err}") from err
            seen += 1
    assert seen >= 3


def test_skipped_blocks_are_few_and_say_why() -> None:
    blocks = _all_blocks()
    python = [b for b in blocks if b.lang == "python"]
    skipped = [b for b in python if b.skip is not None]
    for page in PAGES:
        assert not misplaced_skips(page), f"{page}: skip marker(s) not before a python block: {misplaced_skips(page)}"
    assert all(b.skip for b in skipped), [b.where for b in skipped if not b.skip]
    assert len(skipped) <= MAX_SKIPPED, f"{len(skipped)} skipped Python blocks: {[b.where for b in skipped]}"
    # the count the docs promise: every page with code contributes runnable Python blocks
    run = len(python) - len(skipped)
    print(f"\npython blocks: {run} run, {len(skipped)} skipped ({', '.join(b.skip for b in skipped)})")
    assert run >= 20


def test_every_docs_page_is_in_the_nav() -> None:
    nav_text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (ROOT / "docs").rglob("*.md"):
        assert page.relative_to(ROOT / "docs").as_posix() in nav_text, f"{page} is not in mkdocs.yml's nav"
