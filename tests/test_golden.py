"""The demo week's digest, compared with checked-in golden files.

After an intended change to the output, regenerate them with
DIGESTBOT_UPDATE_GOLDEN=1 pytest tests/test_golden.py and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
SCRIPT = str(Path(sys.executable).parent / "digestbot")


@pytest.fixture(scope="module")
def demo_outputs() -> dict[str, str]:
    out = {}
    for fmt in ("text", "json", "markdown"):
        result = subprocess.run([SCRIPT, "demo", "--format", fmt], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        out[fmt] = result.stdout
    return out


@pytest.mark.parametrize(("fmt", "name"), [("text", "demo.txt"), ("json", "demo.json"), ("markdown", "demo.md")])
def test_demo_digest_matches_golden(demo_outputs: dict[str, str], fmt: str, name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("DIGESTBOT_UPDATE_GOLDEN"):
        golden.write_text(demo_outputs[fmt], encoding="utf-8")
    assert demo_outputs[fmt] == golden.read_text(encoding="utf-8")


def test_demo_digest_has_the_shape_of_the_reference_minutes(demo_outputs: dict[str, str]) -> None:
    data = json.loads(demo_outputs["json"])
    assert data["title"] == "Weekly Meeting: 2014-08-20"
    assert data["attendees"][0] == "Maya Okafor"
    titles = [t["subject"] for s in data["sections"] for t in s["threads"]]
    # The talk's feedback thread, its slides thread and the forwarded copy are one item.
    assert sum("DevSummit" in t for t in titles) == 1
    # The seven-patch series is one line, not seven summaries.
    patches = next(s for s in data["sections"] if s["title"] == "Patches")
    assert len(patches["threads"]) == 1
    assert "7 patches" in patches["threads"][0]["note"]
    assert data["sections"][-1]["title"] == "Any other business"
    assert data["next_call"].startswith("2014-09-02")
    # 56 distinct messages: the cross-posted one is counted once.
    assert data["stats"]["messages"] == 56
    for thread in (t for s in data["sections"] for t in s["threads"]):
        for sentence in thread["summary"]:
            assert not sentence["text"].lstrip().startswith(">")
            assert "mailing list" not in sentence["text"]
            assert sentence["message_id"] in thread["message_ids"]
