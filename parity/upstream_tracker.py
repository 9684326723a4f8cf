"""Reads the upstream test tracker (``parity/upstream/*.yaml``): what is ported, what is planned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

TRACKER_DIR = Path(__file__).with_name("upstream")
# ported: every check of the upstream test has its visdet counterpart; partial: some of
# them do (the note says which are missing); planned: not yet; not-applicable: nothing
# to port (a stub, or a feature visdet does not mirror; the note says why).
STATUSES = ("ported", "partial", "planned", "not-applicable")


@dataclass(frozen=True)
class UpstreamTest:
    """One upstream test function and its port."""

    tracker: str
    upstream_file: str
    name: str
    status: str
    visdet: str
    note: str


def load_tracker(tracker_dir: Path = TRACKER_DIR) -> list[UpstreamTest]:
    """Every tracked upstream test; a malformed entry raises ValueError naming file and index."""
    entries: list[UpstreamTest] = []
    for path in sorted(tracker_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or []
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of upstream files")
        for i, item in enumerate(data):
            where = f"{path.name}[{i}]"
            if not isinstance(item, dict) or "upstream" not in item or "tests" not in item:
                raise ValueError(f"{where}: needs 'upstream' and 'tests'")
            for j, test in enumerate(item["tests"] or []):
                status = test.get("status")
                if status not in STATUSES:
                    raise ValueError(f"{where}.tests[{j}]: status {status!r} is not one of {STATUSES}")
                if status in ("ported", "partial") and not test.get("visdet"):
                    raise ValueError(f"{where}.tests[{j}] ({test.get('name')}): {status} but names no visdet test")
                if status == "partial" and not test.get("note"):
                    raise ValueError(
                        f"{where}.tests[{j}] ({test.get('name')}): partial needs a note saying what is missing"
                    )
                if status == "not-applicable" and not test.get("note"):
                    raise ValueError(f"{where}.tests[{j}] ({test.get('name')}): not-applicable needs a note")
                entries.append(
                    UpstreamTest(
                        tracker=path.name,
                        upstream_file=str(item["upstream"]),
                        name=str(test.get("name", "")),
                        status=status,
                        visdet=str(test.get("visdet") or ""),
                        note=str(test.get("note") or ""),
                    )
                )
    return entries


def summary(entries: list[UpstreamTest]) -> dict[str, object]:
    """Counts per status and the share fully ported among the applicable tests.

    A partial port counts as applicable but not as ported; two upstream tests that name
    the same visdet test raise ValueError (one port cannot stand for two).
    """
    ported_by: dict[str, str] = {}
    for e in entries:
        if e.status in ("ported", "partial"):
            if e.visdet in ported_by:
                raise ValueError(f"{e.tracker}: {e.name} and {ported_by[e.visdet]} both name {e.visdet}")
            ported_by[e.visdet] = e.name
    counts = {status: sum(e.status == status for e in entries) for status in STATUSES}
    applicable = counts["ported"] + counts["partial"] + counts["planned"]
    share = 100.0 * counts["ported"] / applicable if applicable else 0.0
    return {**counts, "files": len({e.upstream_file for e in entries}), "ported_percent": round(share, 1)}
