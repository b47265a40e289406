from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.pipeline.subject import PatchInfo, clean_title, is_reply, normalize_subject, patch_info, subject_tags


@pytest.mark.parametrize(
    "subject",
    [
        "Build broken",
        "Re: Build broken",
        "RE: build  BROKEN",
        "Fwd: Build broken",
        "Fw: Build broken",
        "AW: Build broken",
        "SV: Build broken",
        "Antw: Build broken",
        "Re[2]: Build broken",
        "Re(3): Build broken",
        "Re: Fwd: Re: Build broken",
        "re:Build broken",
        "Re : Build broken",
        "[driftwood-devel] Build broken",
        "[driftwood-devel] Re: [driftwood-devel] Re: Build broken",
        "Re: [Xen-devel] [driftwood-devel] Build broken",
        "  Re:\tBuild\n broken  ",
        "Build broken (fwd)",
        "回复：Build broken",
    ],
)
def test_normalize_subject_strips_noise(subject: str) -> None:
    assert normalize_subject(subject) == "build broken"


def test_normalize_subject_keeps_patch_markers() -> None:
    # Different versions and parts of a series are different mails.
    assert normalize_subject("Re: [list] [PATCH v2 1/3] Fix x") == "[patch v2 1/3] fix x"
    assert normalize_subject("[PATCH v2 1/3] Fix x") != normalize_subject("[PATCH v3 1/3] Fix x")
    assert normalize_subject("[ANN] Release 1.0") == normalize_subject("Re: Release 1.0")


def test_normalize_subject_does_not_touch_the_middle() -> None:
    assert normalize_subject("Why Re: is a prefix [sic]") == "why re: is a prefix [sic]"
    assert normalize_subject("Prefetch: tuning") == "prefetch: tuning"
    assert normalize_subject("") == ""
    assert normalize_subject("Re:") == ""


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Re: [driftwood-devel] Build broken on ARM", "Build broken on ARM"),
        ("[PATCH v3 0/7] Rework the IMAP fetcher", "Rework the IMAP fetcher"),
        ("[PATCH 2/3] store: add index:", "store: add index"),
        ("[RFC PATCH] Drop Python 3.10", "Drop Python 3.10"),
        ("[ANN] driftwood 2.0 released", "driftwood 2.0 released"),
        ("[STATUS] Week 12", "Week 12"),
        ("[Xen-devel] [PATCH net-next v4 3/5] net: fix  leak", "net: fix leak"),
        ("New scheduler (v2)", "New scheduler"),
        ("v3: New scheduler", "New scheduler"),
        ("Fwd: Re: Meeting notes:", "Meeting notes"),
        ("Is this a bug?", "Is this a bug?"),
    ],
)
def test_clean_title(subject: str, title: str) -> None:
    assert clean_title(subject) == title


def test_clean_title_never_empty() -> None:
    assert clean_title("[PATCH]") == "[PATCH]"
    assert clean_title("  [driftwood-devel]  ") == "[driftwood-devel]"
    assert clean_title("Re:") == "(no subject)"
    assert clean_title("") == "(no subject)"
    assert clean_title("   ") == "(no subject)"


@given(st.text())
def test_clean_title_never_empty_for_any_text(subject: str) -> None:
    title = clean_title(subject)
    assert title
    assert title == title.strip()


@given(st.text())
def test_normalize_subject_is_idempotent(subject: str) -> None:
    key = normalize_subject(subject)
    assert normalize_subject(key) == key


@pytest.mark.parametrize(
    ("subject", "info"),
    [
        ("[PATCH v3 2/7] fetch: retry", PatchInfo(3, 2, 7, False, "fetch: retry")),
        ("[PATCH 0/7] Rework", PatchInfo(1, 0, 7, False, "Rework")),
        ("[RFC PATCH v2 01/12] Big change", PatchInfo(2, 1, 12, True, "Big change")),
        ("[PATCH net-next v4 3/5] net: fix", PatchInfo(4, 3, 5, False, "net: fix")),
        ("[PATCH] Fix typo", PatchInfo(1, 1, 1, False, "Fix typo")),
        ("[PATCHv2 1/2] Old style", PatchInfo(2, 1, 2, False, "Old style")),
        ("[RFC][PATCH 1/2 v5] Split tags", PatchInfo(5, 1, 2, True, "Split tags")),
        ("[list] Re: [PATCH v2] Reviewed", PatchInfo(2, 1, 1, False, "Reviewed")),
    ],
)
def test_patch_info(subject: str, info: PatchInfo) -> None:
    assert patch_info(subject) == info


@pytest.mark.parametrize(
    "subject",
    ["Fix typo", "[ANN] Release", "[GIT PULL] for 6.1", "Re: patch for the parser", "Dispatch [PATCH] later", ""],
)
def test_patch_info_none(subject: str) -> None:
    assert patch_info(subject) is None


def test_subject_tags() -> None:
    assert subject_tags("[driftwood-devel] [PATCH  v3 0/7] Rework") == ("driftwood-devel", "patch v3 0/7")
    assert subject_tags("[Xen-devel] Re: [RFC] x") == ("xen-devel", "rfc")
    assert subject_tags("No tags [here]") == ()
    assert subject_tags("[] [ANN] x") == ("ann",)


def test_is_reply() -> None:
    assert is_reply("Re: x")
    assert is_reply("[list] Fwd: x")
    assert is_reply("x (fwd)")
    assert not is_reply("x")
    assert not is_reply("[PATCH] Re-enable cache")


def test_pathological_subject_is_fast() -> None:
    subject = "Re: [list] " * 20_000 + "x"
    assert normalize_subject(subject) == "x"
    assert clean_title(subject) == "x"
