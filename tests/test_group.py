"""The group stage: agenda items and sections, as a chair would make them.

Every rule is shown on small hand-written threads: topics merge by subject,
people and content (with words common to the period's subjects discounted);
patch series, pull requests and CI jobs become one line; sections follow the
built-in rules and the config.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.model import AOB, Item, Mail, Thread
from bot.pipeline.clean import CleanBody, clean_body
from bot.pipeline.group import compile_rules, effective_rules, make_items, section_of
from bot.pipeline.thread import build_threads
from bot.pipeline.topics import polish_title, topic_title
from bot.settings import SectionRule

T0 = datetime(2014, 8, 18, 9, 0, tzinfo=UTC)


def mail(mid: str, subject: str, author: str = "Ann Example", body: str = "Some text here.", *,
         hours: float = 0, reply_to: str | None = None, addr: str = "") -> Mail:
    """One message; `reply_to` links it to its parent by References."""
    return Mail(
        message_id=f"<{mid}>", subject=subject, from_name=author,
        from_addr=addr or author.lower().replace(" ", ".") + "@example.org",
        date=T0 + timedelta(hours=hours), in_reply_to=f"<{reply_to}>" if reply_to else None,
        references=(f"<{reply_to}>",) if reply_to else (),
        body=body,
    )


def threads_of(*mails: Mail) -> list[Thread]:
    return build_threads(list(mails))


def cleaned_of(threads: list[Thread]) -> dict[str, CleanBody]:
    return {m.message_id: clean_body(m.body) for t in threads for m in t.mails}


def items_of(*mails: Mail) -> list[Item]:
    threads = threads_of(*mails)
    return make_items(threads, cleaned_of(threads))


def titles(items: list[Item]) -> list[str]:
    return sorted(item.title for item in items)


# --- one topic, one item -------------------------------------------------------------------------


def test_feedback_slides_and_forwarded_copy_are_one_item_with_the_common_title() -> None:
    items = items_of(
        mail("a", "[dev] Feedback from my DevSummit talk", "Rohan Mehta", "The room was full."),
        mail("b", "Re: [dev] Feedback from my DevSummit talk", "Ewan Strachan", "Great news.", hours=1,
             reply_to="a"),
        mail("c", "[dev] Slides for DevSummit talk", "Rohan Mehta", "The slides are up.", hours=20),
        mail("d", "[dev] Re: Fwd: Feedback from my DevSummit talk", "Ines Carvalho", "Happy to share.", hours=30),
        mail("e", "[dev] Packages ready to go upstream", "Graham Whitlock", "Four packages build.", hours=2),
    )
    assert titles(items) == ["DevSummit talk", "Packages ready to go upstream"]
    talk = next(i for i in items if i.title == "DevSummit talk")
    assert talk.message_count == 4


def test_words_common_to_the_periods_subjects_do_not_merge_topics() -> None:
    # Every subject says "Release Apache Maven ... Plugin": those words name no topic.
    plugins = ("Javadoc", "JDeprScan", "Site", "PDF")
    votes = [mail(f"v{i}", f"[VOTE] Release Apache Maven {p} Plugin version 3.0.0", "Robert Scholte",
                  "Hi, we solved 12 issues. Staging repository is up; vote open for 72 hours.", hours=i)
             for i, p in enumerate(plugins)]
    announcement = mail("ann", "[ANN] Apache Maven JDeprScan Plugin 3.0.0 Released", "Robert Scholte",
                        "The Apache Maven team is pleased to announce the release.", hours=30)
    items = items_of(*votes, announcement)
    assert len(items) == 4
    jdeprscan = next(i for i in items if "JDeprScan" in i.title)
    assert jdeprscan.message_count == 2  # the vote and its announcement are one topic
    assert jdeprscan.title == "Release Apache Maven JDeprScan Plugin 3.0.0"


def test_a_middling_subject_match_needs_shared_people_or_content() -> None:
    # "ARM" and "hypervisor" are shared, but the starters differ and the bodies have nothing in common.
    items = items_of(
        mail("a", "Basic question: x86 vs ARM hypervisor differences", "Daniel Osei", "I am new here."),
        mail("b", "Heads-up: new ARM features in the next hypervisor release", "Ewan Strachan",
             "GICv3 support is coming.", hours=3),
    )
    assert titles(items) == ["New ARM features in the next hypervisor release", "x86 vs ARM hypervisor differences"]


def test_one_busy_person_in_common_is_no_evidence() -> None:
    # The release manager writes in both; the subjects share only common words.
    items = items_of(
        mail("a", "Maven release plugin", "Petar Tahchiev", "How do I skip the tag step?"),
        mail("b", "Re: Maven release plugin", "Robert Scholte", "Use -DpushChanges=false.", hours=1, reply_to="a"),
        mail("c", "[VOTE] Release Apache Maven Javadoc Plugin version 3.0.0", "Robert Scholte", "Vote open.",
             hours=2),
    )
    assert len(items) == 2


def test_a_rerolled_vote_joins_the_first() -> None:
    items = items_of(
        mail("a", "[VOTE] Release Apache Maven Javadoc Plugin version 3.0.0", "Robert Scholte", "Vote open."),
        mail("b", "[CANCELED] [VOTE] Release Apache Maven Javadoc Plugin version 3.0.0", "Robert Scholte",
             "Cancelled, an issue was found.", hours=20),
        mail("c", "[VOTE] Release Apache Maven Javadoc Plugin version 3.0.0 (take 2)", "Robert Scholte",
             "Vote open again.", hours=30),
    )
    assert [(i.title, i.message_count) for i in items] == [("Release Apache Maven Javadoc Plugin version 3.0.0", 3)]


@pytest.mark.parametrize(
    ("subjects", "title"),
    [
        (["Re: [dev] Fwd: Build broken (v2)", "[dev] Build broken"], "Build broken"),
        (["[Numpy-discussion] Meta: too many numerical libraries doing the",
          "[Numpy-discussion] Meta: too many numerical libraries doing the same thing?"],
         "Too many numerical libraries doing the same thing?"),
        (["'Re: Revision of R4-1915074 (RTS Text Proposal for NR FR1 MIMO OTA)'",
          "Revision of R4-1915074 (RTS Text Proposal for NR FR1 MIMO OTA)"],
         "Revision of R4-1915074 (RTS Text Proposal for NR FR1 MIMO OTA)"),
    ],
)
def test_the_title_is_the_common_subject_cleaned(subjects: list[str], title: str) -> None:
    threads = [Thread(f"<{i}>", s, (mail(str(i), s, hours=i),)) for i, s in enumerate(subjects)]
    assert topic_title(threads) == title


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Re: [users@httpd] Failure to start apache2 after SSL cert update.", "Failure to start apache2 after SSL "
         "cert update"),
        ("[dev] Heads-up: new ARM features", "New ARM features"),
        ("FYI: x86 builds are green", "x86 builds are green"),
        ("[VOTE] Release Foo 1.2 (take 3)", "Release Foo 1.2"),
        ("\"'quoted'\"", "'quoted'"),
    ],
)
def test_polished_titles(subject: str, title: str) -> None:
    assert polish_title(subject) == title


def test_ci_runs_of_one_job_are_one_line() -> None:
    items = items_of(
        mail("a", "Jenkins build is unstable: asterix-integration-tests f52bc588", "Build server"),
        mail("b", "Jenkins build is still unstable: asterix-integration-tests ab8375ea", "Build server", hours=5),
        mail("c", "Jenkins build is still unstable: asterix-integration-tests a281eeac", "Build server", hours=9),
        mail("d", "Jenkins build is back to stable : asterix-integration-tests", "Build server", hours=12),
    )
    assert [(i.title, i.note, i.message_count, i.participants) for i in items] == [
        ("Builds: asterix-integration-tests", "4 build reports: unstable, still unstable ×2, back to stable.", 4, ())
    ]


def test_a_person_replying_to_a_build_report_makes_it_a_discussion() -> None:
    items = items_of(
        mail("a", "Build failed in Jenkins: Maven TLP » maven-release » master #3", "Jenkins", "Log follows."),
        mail("b", "Re: Build failed in Jenkins: Maven TLP » maven-release » master #3", "Olivier Lamy",
             "I don't like to force builds manually.", hours=1, reply_to="a"),
    )
    assert len(items) == 1 and not items[0].note


# --- patch series ---------------------------------------------------------------------------------

SERIES_AUTHOR = "Sofia Marchetti"


def _series(*, threaded: bool = True) -> list[Mail]:
    mails = [mail("p0", "[PATCH v3 0/3] transport: pluggable conduit layer", SERIES_AUTHOR, "This series adds it.")]
    for i in (1, 2, 3):
        mails.append(mail(f"p{i}", f"[PATCH v3 {i}/3] conduit: part {i}", SERIES_AUTHOR, "diff --git a/x b/x",
                          hours=i / 60, reply_to="p0" if threaded else None))
    return mails


def test_a_patch_series_and_its_reviews_are_one_line() -> None:
    items = items_of(
        *_series(),
        mail("r1", "Re: [PATCH v3 2/3] conduit: part 2", "Priya Natarajan", "Reviewed-by: Priya Natarajan <p@x>",
             hours=2, reply_to="p2"),
        mail("r2", "Re: [PATCH v3 0/3] transport: pluggable conduit layer", "Kasper Lindqvist", "+1", hours=3,
             reply_to="p0"),
        mail("r3", "Re: [PATCH v3 0/3] transport: pluggable conduit layer", "Graham Whitlock",
             "Applied to master, thanks.", hours=4, reply_to="p0"),
    )
    assert [(i.title, i.note) for i in items] == [(
        "transport: pluggable conduit layer",
        "v3, 3 patches by Sofia Marchetti; reviewed by Priya Natarajan, Kasper Lindqvist; merged.",
    )]


def test_an_unthreaded_series_is_still_one_line() -> None:
    items = items_of(*_series(threaded=False))
    assert [(i.title, i.note) for i in items] == [
        ("transport: pluggable conduit layer", "v3, 3 patches by Sofia Marchetti; under review.")
    ]


# --- pull requests --------------------------------------------------------------------------------

MIRROR = "git@git.apache.org"


def test_github_mirror_notifications_are_one_line_per_pull_request() -> None:
    opened = ("GitHub user io7m opened a pull request:\n\n    https://github.com/apache/maven-plugins/pull/137\n\n"
              "    [MJAVADOC-489] Find the main module descriptor\n\nYou can merge this pull request into a Git "
              "repository by running:\n\n    $ git pull https://github.com/io7m/maven-plugins MJAVADOC-489\n")
    subject = "[GitHub] maven-plugins pull request #137: [MJAVADOC-489] Find the main module descrip..."
    items = items_of(
        mail("o", subject, "io7m", opened, addr=MIRROR),
        mail("c1", "[GitHub] maven-plugins issue #137: [MJAVADOC-489] Find the main module descrip...", "rfscholte",
             "Github user rfscholte commented on the issue:\n\n    https://github.com/apache/maven-plugins/pull/137"
             "\n\n    Looks good.\n", hours=1, reply_to="o", addr=MIRROR),
        mail("c2", "[GitHub] maven-plugins issue #137: [MJAVADOC-489] Find the main module descrip...", "michael-o",
             "Github user michael-o commented on the issue:\n\n    Agreed.\n", hours=2, reply_to="o", addr=MIRROR),
        mail("x", subject, "asfgit", "Github user asfgit closed the pull request at:\n\n    https://github.com/x\n",
             hours=3, reply_to="o", addr=MIRROR),
    )
    assert [(i.title, i.note, i.summary) for i in items] == [(
        "[MJAVADOC-489] Find the main module descriptor",
        "maven-plugins pull request #137 by io7m; 2 comments by rfscholte, michael-o; closed by asfgit.",
        (),
    )]


def test_gitbox_notifications_without_threading_are_one_line() -> None:
    url = "URL: https://github.com/apache/maven-release/pull/4\n"
    items = items_of(
        mail("o", "[GitHub] emenaceb opened a new pull request #4: [MRELEASE-798] Commit additional files", "GitBox",
             url + "Ability to commit additional files.", addr="git@apache.org"),
        mail("c", "[GitHub] jgangemi commented on issue #4: [MRELEASE-798] Commit additional files", "GitBox",
             url + "so this is being closed?", hours=1, addr="git@apache.org"),
        mail("m", "[GitHub] hboutemy closed pull request #4: [MRELEASE-798] Commit additional files", "GitBox",
             url + "This is a PR merged from a forked repository.", hours=2, addr="git@apache.org"),
    )
    assert [(i.title, i.note, i.participants) for i in items] == [(
        "[MRELEASE-798] Commit additional files",
        "maven-release pull request #4 by emenaceb; 1 comment by jgangemi; merged by hboutemy.",
        ("emenaceb", "jgangemi", "hboutemy"),  # the people, not the bot that mailed for them
    )]


def test_github_com_notifications_are_one_line() -> None:
    def note(mid: str, body: str, author: str, hours: float) -> Mail:
        return mail(mid, "Re: [octo/widgets] Speed up the parser (#42)", author,
                    body + "\n\nView it on GitHub: https://github.com/octo/widgets/pull/42", hours=hours,
                    addr="notifications@github.com")

    items = items_of(
        mail("o", "[octo/widgets] Speed up the parser (#42)", "Ada", "This halves parse time.\n"
             "https://github.com/octo/widgets/pull/42", addr="notifications@github.com"),
        note("c", "Nice, one nit.", "Bo", 1),
        note("m", "Merged #42 into main.", "Cy", 2),
    )
    assert [(i.title, i.note) for i in items] == [
        ("Speed up the parser", "widgets pull request #42 by Ada; 1 comment by Bo; merged by Cy.")
    ]


# --- sections -------------------------------------------------------------------------------------


def _section(subject: str, body: str = "Some text.", rules: tuple[SectionRule, ...] = ()) -> str:
    item = items_of(mail("a", subject, body=body))[0]
    return section_of(item, compile_rules(effective_rules(rules)))


@pytest.mark.parametrize(
    ("subject", "section"),
    [
        ("[PATCH v2 1/1] fix the call script", "patches"),
        ("[GitHub] maven pull request #139: [MNG-6298] ClassNotFoundException", "patches"),
        ("merging MNG-6302 to master", "patches"),
        ("[VOTE] Release Apache Maven Site Plugin version 3.7", "releases"),
        ("[ANN] driftwood-net 0.9.1 released", "releases"),
        ("Announcing mod_websocket v0.1.2", "releases"),
        ("Re-implementation of Numeric available for download", "releases"),
        ("Feedback from my DevSummit talk", "talks"),
        ("Face to face meetings", "talks"),
        ("Next call: Tuesday 2 September", "call"),
        ("[dev] Call tooling: the bridge failed again", "call"),
        ("WCAG Conference call TODAY", "call"),
        ("no RDF Core telcon this friday", "call"),
        ("[STATUS] Tidepool storage: week 34", "status"),
        ("Profiling on ARM boards", "status"),
        ("Jenkins build is unstable: asterix-integration-tests f52bc588", "status"),
        # Mentioning a word is not being one: these are questions, AOB.
        ("Heads-up: new ARM features in the next hypervisor release", AOB),
        ("Problem with httpd.conf after upgrade", AOB),
        ("Maven profile activation question", AOB),
        ("Strange error when I call foo()", AOB),
    ],
)
def test_built_in_section_rules(subject: str, section: str) -> None:
    assert _section(subject) == section


def test_a_body_rule_only_decides_when_no_subject_rule_matches() -> None:
    assert _section("Driftwood 3.0", body="We are pleased to announce Driftwood 3.0.") == "releases"
    assert _section("Talk at FOSDEM", body="We are pleased to announce our speakers.") == "talks"


def test_config_adds_renames_disables_and_reorders_sections() -> None:
    custom = (
        SectionRule(key="security", title="Security", subject=(r"\bCVE-\d+",)),
        SectionRule(key="releases", title="Releases"),
        SectionRule(key="talks", enabled=False),
    )
    rules = effective_rules(custom)
    assert [r.key for r in rules] == ["patches", "releases", "talks", "call", "status", "security", AOB]
    assert next(r for r in rules if r.key == "releases").title == "Releases"
    assert _section("CVE-2024-1234 in the parser", rules=custom) == "security"
    assert _section("Feedback from my DevSummit talk", rules=custom) == AOB  # talks is disabled
    assert _section("Build failed: how do I fix it", rules=custom) == AOB


def test_disabled_patches_section_sends_series_to_the_next_rule() -> None:
    item = items_of(mail("a", "[PATCH] fix the weekly call script"))[0]
    rules = compile_rules(effective_rules((SectionRule(key="patches", enabled=False),)))
    assert section_of(item, rules) == "call"
