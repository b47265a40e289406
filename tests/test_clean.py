"""The clean stage: only the author's own prose may reach a summary.

Every body here is hand-written to look like real list mail; each test covers one rule.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pipeline.clean import CleanBody, clean_body


def text_of(body: str) -> str:
    return clean_body(body).text


# --- basics ---------------------------------------------------------------------------


def test_result_is_a_frozen_dataclass() -> None:
    result = clean_body("The build is green again.\n")
    assert result == CleanBody("The build is green again.", False, (), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("body", ["", "\n", "   \n\t\n", "\r\n\r\n"])
def test_empty_input(body: str) -> None:
    assert clean_body(body) == CleanBody("", False, (), ())


def test_lines_of_a_paragraph_join_and_paragraphs_stay_apart() -> None:
    body = (
        "The nightly build has failed three times this week,\n"
        "always in the storage tests.\n"
        "\n"
        "\n"
        "I will bisect it tomorrow.\n"
    )
    assert text_of(body) == (
        "The nightly build has failed three times this week, always in the storage tests.\n\nI will bisect it tomorrow."
    )


def test_windows_line_endings_and_no_final_newline() -> None:
    body = "Release 4.2 is tagged.\r\nNotes are on the wiki.\r\n\r\nPlease test it."
    assert text_of(body) == "Release 4.2 is tagged. Notes are on the wiki.\n\nPlease test it."


def test_runs_of_spaces_inside_prose_collapse() -> None:
    assert text_of("It  works  now.\u00a0Really.\n") == "It works now. Really."


def test_non_ascii_text_is_kept() -> None:
    body = "Zoë a testé la version 2.1 à Zürich : ça marche.\n\n日本語のドキュメントも更新しました。\n"
    assert text_of(body) == "Zoë a testé la version 2.1 à Zürich : ça marche.\n\n日本語のドキュメントも更新しました。"


def test_numbers_and_measurements_are_kept() -> None:
    body = "Latency went from 120 ms to 85 ms (p99) after the change; memory stayed at 2.5 GiB.\n"
    assert text_of(body) == "Latency went from 120 ms to 85 ms (p99) after the change; memory stayed at 2.5 GiB."


# --- quoted text and attributions -------------------------------------------------------


def test_quoted_lines_go_at_every_depth() -> None:
    body = (
        "> Should we drop Python 3.9?\n"
        ">> It is end of life in October.\n"
        "> > > Older quote.\n"
        "   > indented quote\n"
        "Yes, let's drop it in the next minor release.\n"
    )
    assert text_of(body) == "Yes, let's drop it in the next minor release."


def test_interleaved_answers_stay_separate_paragraphs() -> None:
    body = (
        "> Is the migration reversible?\n"
        "Only until the cleanup job runs.\n"
        "> And how long does it take?\n"
        "About ten minutes for a large instance.\n"
    )
    assert text_of(body) == "Only until the cleanup job runs.\n\nAbout ten minutes for a large instance."


def test_one_word_answer_after_a_quote_is_kept() -> None:
    body = "> Can we tag the release today?\n\nYes.\n\n> Including the docs?\n\nCorrect.\n"
    assert text_of(body) == "Yes.\n\nCorrect."


def test_supercite_quotes_go() -> None:
    body = "Olga> The old API is deprecated.\n\nIt is, but nobody has a migration guide yet.\n"
    assert text_of(body) == "It is, but nobody has a migration guide yet."


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tue, 5 Mar 2024 at 10:12, Maya Chen <maya@example.org> wrote:",
        "On 2024-03-05 10:12, Maya Chen wrote:",
        "Maya Chen wrote:",
        "Maya Chen <maya@example.org> writes:",
        "Maya Chen wrote on 2024-03-05 10:12:",
        "Le mar. 5 mars 2024 à 10:12, Maya Chen <maya@example.org> a écrit :",
        "Am Di., 5. März 2024 um 10:12 Uhr schrieb Maya Chen <maya@example.org>:",
        '"Maya Chen" schrieb:',
    ],
)
def test_attribution_lines_go(attribution: str) -> None:
    body = f"I can review it on Friday.\n\n{attribution}\n> Could someone review the patch?\n"
    assert text_of(body) == "I can review it on Friday."


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("On Tue, Mar 5, 2024 at 10:12 AM Maya Chen <maya@example.org>", "wrote:"),
        ("On Tue, Mar 5, 2024 at 10:12 AM Maya Chen <", "maya@example.org> wrote:"),
        ('Le 5 mars 2024 10:12, "Chen, Maya" <maya@example.org> a', "écrit :"),
    ],
)
def test_attribution_wrapped_over_two_lines_goes(first: str, second: str) -> None:
    body = f"Merged, thanks for the fix.\n\n{first}\n{second}\n\n> Here is v2 of the patch.\n"
    assert text_of(body) == "Merged, thanks for the fix."


def test_lone_from_line_introducing_a_quote_goes() -> None:
    body = (
        "From: Olga Petrova <olga at example.org>\n\n> Does the exporter handle leap seconds?\n\nIt does since 0.9.\n"
    )
    assert text_of(body) == "It does since 0.9."


# --- Outlook quoting and forwards ----------------------------------------------------------


def test_original_message_separator_cuts_the_rest() -> None:
    body = (
        "Agreed, let's keep the bracketed text for now.\n"
        "\n"
        "-----Original Message-----\n"
        "From: Maya Chen <maya@example.org>\n"
        "Sent: Tuesday, March 5, 2024 10:12 AM\n"
        "Subject: Draft TP\n"
        "\n"
        "Please find the draft attached.\n"
    )
    assert text_of(body) == "Agreed, let's keep the bracketed text for now."


def test_outlook_header_block_cuts_the_rest() -> None:
    body = (
        "The revised work plan is in the drafts folder.\n"
        "\n"
        "From: WG-RADIO [mailto:WG-RADIO@LIST.EXAMPLE.ORG] On Behalf Of Maya Chen\n"
        "Sent: Tuesday, March 5, 2024 10:25 AM\n"
        "To: WG-RADIO@LIST.EXAMPLE.ORG\n"
        "Subject: Work plan, first draft\n"
        "\n"
        "Here is the first draft of the work plan.\n"
    )
    assert text_of(body) == "The revised work plan is in the drafts folder."


def test_underscore_rule_then_headers_cuts_the_rest() -> None:
    body = (
        "Clause 5 still needs a note on FR2.\n"
        "\n"
        "________________________________\n"
        "From: Maya Chen\n"
        "Date: 2024-03-05 09:43\n"
        "To: WG-RADIO\n"
        "Subject: Re: draft work plan\n"
        "Section 4 is new.\n"
    )
    assert text_of(body) == "Clause 5 still needs a note on FR2."


def test_localised_outlook_headers_cut_the_rest() -> None:
    body = (
        "Looks fine, one typo in clause 5.\n\n"
        "发件人： Maya Chen\n发送时间： 2024-03-05 11:35\n收件人： WG-RADIO\n主题： 周会\n"
        "周会改到周四。\n"
    )
    assert text_of(body) == "Looks fine, one typo in clause 5."


def test_original_message_glued_into_a_line_cuts_there() -> None:
    body = (
        "A rewrite rule is the simpler fix.\u00a0Sam\n-------- Original message --------From: Lee <l@x.org> Date: 3/5\n"
    )
    assert text_of(body) == "A rewrite rule is the simpler fix. Sam"


def test_original_message_with_nothing_above_is_a_forward_with_inline_notes() -> None:
    body = (
        "-----Original Message-----\n"
        "From: Lee Park <lee@example.org>\n"
        "Sent: Monday, March 4, 2024 9:00 AM\n"
        "To: dev@example.org\n"
        "\n"
        "> Should the exporter retry forever?\n"
        "No, three attempts and then it gives up.\n"
    )
    assert text_of(body) == "No, three attempts and then it gives up."


def test_forwarded_message_keeps_the_body_but_not_its_headers() -> None:
    body = (
        "FYI, this came in on the security alias.\n"
        "\n"
        "---------- Forwarded message ---------\n"
        "From: Reporter <bugs@example.com>\n"
        "Date: Mon, 4 Mar 2024 at 22:01\n"
        "Subject: Crash in the parser\n"
        "To: <security@example.org>\n"
        "\n"
        "The parser crashes on an empty attribute list.\n"
    )
    assert text_of(body) == (
        "FYI, this came in on the security alias.\n\nThe parser crashes on an empty attribute list."
    )


def test_apple_forward_marker_keeps_the_body() -> None:
    body = "See below.\n\nBegin forwarded message:\n\nFrom: Ops <ops@x.org>\nSubject: Outage\n\nDNS is reverted.\n"
    assert text_of(body) == "See below.\n\nDNS is reverted."


# --- signatures and sign-offs -----------------------------------------------------------


def test_dash_dash_signature_goes_with_everything_after() -> None:
    body = "The fix is in main now.\n\n-- \nMaya Chen\nRelease manager, Example Project\nhttps://example.org/~maya\n"
    assert text_of(body) == "The fix is in main now."


def test_dash_dash_without_trailing_space_is_a_signature_too() -> None:
    assert text_of("Tagged v2.0.\n--\nMaya\n") == "Tagged v2.0."


@pytest.mark.parametrize(
    "signoff",
    [
        "Cheers,\nMaya",
        "Thanks,\nMaya Chen",
        "Best regards,\nMaya Chen\nSenior Engineer, Example Corp.",
        "Regards,\n\nMaya",
        "Best,\nMaya\nExample Corp",
        "Kind regards\nMaya Chen\nPhone: +49 30 1234567",
        "Many thanks,\n-- Maya",
        "Thank you and\nbest regards,\nMaya",
        "Thanks, Maya",
        "Best regards -- Maya",
        "-maya",
        "- Maya",
        "~Maya.",
        "Maya\nExample Corp",
        "Maya Chen, PMC (she/her)\nExample Corp\n42 Harbour Road, Unit #7\nPortsmouth PO1 2AB",
        "Regards,\nMaya\n___\nMaya Chen || Lead Engineer || Example Corp",
    ],
)
def test_signoff_blocks_at_the_end_go(signoff: str) -> None:
    body = f"I pushed the fix for the flaky test.\n\n{signoff}\n"
    assert text_of(body) == "I pushed the fix for the flaky test."


def test_signature_motto_goes() -> None:
    body = 'Upgrading to 1.8.3 makes it go away.\n\nMaya\n\n"Measure twice, cut once." -- a carpenter\n'
    assert text_of(body) == "Upgrading to 1.8.3 makes it go away."


def test_a_short_last_sentence_is_not_mistaken_for_a_signature() -> None:
    body = "Thanks for the review!\n\nI pushed v2 with all the fixes.\n\nIt passes locally.\n"
    assert text_of(body) == "I pushed v2 with all the fixes.\n\nIt passes locally."


def test_thanks_then_more_prose_keeps_the_prose() -> None:
    body = "Thanks,\nthat explains the timeout we saw in the proxy logs last week.\n"
    assert text_of(body) == "that explains the timeout we saw in the proxy logs last week."


def test_last_list_item_is_not_mistaken_for_a_signature() -> None:
    body = "Supported formats:\n- Avro\n- Parquet\n- Orc\n"
    assert text_of(body) == "Supported formats:\n\nAvro\n\nParquet\n\nOrc"


def test_a_name_that_is_the_only_text_is_kept() -> None:
    assert text_of("Done\n") == "Done"


@pytest.mark.parametrize(
    "line",
    ["Sent from my iPhone", "Sent from my Galaxy", "Get Outlook for Android", "Sent from Mail for Windows"],
)
def test_mobile_signatures_go(line: str) -> None:
    assert text_of(f"I'll join the call at 5.\n\n{line}\n") == "I'll join the call at 5."


def test_pgp_signature_block_goes() -> None:
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\n"
        "Hash: SHA256\n"
        "\n"
        "The 3.1.2 artifacts are signed and uploaded.\n"
        "-----BEGIN PGP SIGNATURE-----\n"
        "\n"
        "iQIzBAEBCAAdFiEEq7Lm0Vx3Tz9Qk4Rw\n"
        "=Xk2P\n"
        "-----END PGP SIGNATURE-----\n"
        "Vote closes on Friday.\n"
    )
    assert text_of(body) == "The 3.1.2 artifacts are signed and uploaded.\n\nVote closes on Friday."


def test_confidentiality_disclaimer_goes() -> None:
    body = (
        "The meeting moves to Thursday.\n\n"
        "This email message is confidential and is intended for the addressee only.\n"
        "If you received it by mistake, delete it.\n"
    )
    assert text_of(body) == "The meeting moves to Thursday."


# --- list footers -------------------------------------------------------------------------


def test_mailman_footer_goes() -> None:
    body = (
        "Leap-second support landed in 0.9.\n"
        "\n"
        "_______________________________________________\n"
        "Orbit-users mailing list\n"
        "Orbit-users@lists.example.org\n"
        "https://lists.example.org/mailman/listinfo/orbit-users\n"
    )
    assert text_of(body) == "Leap-second support landed in 0.9."


def test_apache_footer_goes() -> None:
    body = (
        "+1 to release the plugin.\n"
        "I checked signatures and the source build.\n"
        "\n"
        "---------------------------------------------------------------------\n"
        "To unsubscribe, e-mail: dev-unsubscribe@example.apache.org\n"
        "For additional commands, e-mail: dev-help@example.apache.org\n"
    )
    assert text_of(body) == "+1 to release the plugin. I checked signatures and the source build."


def test_old_apache_footer_with_its_intro_goes() -> None:
    body = (
        "Use the batch exporter instead.\n"
        "\n"
        "---------------------------------------------------------------------\n"
        "Orbit users help each other here; the list is run by volunteers.\n"
        "See <URL:http://orbit.example.org/lists.html> for the archives.\n"
        "To unsubscribe, e-mail: users-unsubscribe@orbit.example.org\n"
    )
    assert text_of(body) == "Use the batch exporter instead."


def test_listserv_footer_goes() -> None:
    body = (
        "The call is cancelled.\n\n"
        "########################################################################\n\n"
        "To unsubscribe from the EXAMPLE_WG4 list, click the following link:\n"
        "https://list.example.org/scripts/wa.exe?SUBED1=EXAMPLE_WG4&A=1\n"
    )
    assert text_of(body) == "The call is cancelled."


def test_google_groups_footer_goes() -> None:
    body = (
        "Pinning the dependency fixed it for me.\n"
        "\n"
        "-- \n"
        "You received this message because you are subscribed to the Google Groups "
        '"example-users" group.\n'
        "To unsubscribe from this group and stop receiving emails from it, send an email to "
        "example-users+unsubscribe@googlegroups.com.\n"
    )
    assert text_of(body) == "Pinning the dependency fixed it for me."


def test_google_groups_footer_without_dashes_goes() -> None:
    body = (
        "Pinning the dependency fixed it for me.\n\n"
        "You received this message because you are subscribed to the Google Groups "
        '"example-users" group.\n'
    )
    assert text_of(body) == "Pinning the dependency fixed it for me."


# --- greetings, thanks and agreement ---------------------------------------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi all,",
        "Hello Maya,",
        "Hey folks",
        "Dear all,",
        "Hi Maya, all,",
        "Hi Lee and Sam,",
        "Dear Radio WG Colleagues,",
        "Good morning everyone!",
        "Hello,",
        "Hi ALL，",
    ],
)
def test_greeting_lines_go(greeting: str) -> None:
    body = f"{greeting}\n\nThe agenda for Thursday is on the wiki.\n"
    assert text_of(body) == "The agenda for Thursday is on the wiki."


def test_a_greeting_word_that_starts_a_sentence_is_kept() -> None:
    body = "Hi, I think the second option is simpler.\nDear all, please vote by Friday.\n"
    assert text_of(body) == "Hi, I think the second option is simpler. Dear all, please vote by Friday."


def test_bare_name_opening_the_mail_goes() -> None:
    assert text_of("Priya,\n\nGood catch, v3 of the draft fixes it.\n") == "Good catch, v3 of the draft fixes it."


@pytest.mark.parametrize(
    "thanks", ["Thanks!", "Thanks a lot.", "Many thanks", "Thank you very much!", "Thanks in advance.", "thx"]
)
def test_thanks_only_lines_go(thanks: str) -> None:
    body = f"Could someone with a Windows box run the test suite?\n{thanks}\n"
    assert text_of(body) == "Could someone with a Windows box run the test suite?"


@pytest.mark.parametrize(
    "vote", ["+1", "+1!", "+1 (binding)", "+1 (non-binding)", "LGTM", "Looks good to me.", "Sounds good!", "Agreed."]
)
def test_agreement_only_message_is_support(vote: str) -> None:
    body = f"{vote}\n\nOn Mon, 4 Mar 2024, Maya Chen wrote:\n> Shall we release 2.0 on Friday?\n"
    assert clean_body(body) == CleanBody("", True, (), (), vote="+")


def test_agreement_with_a_sign_off_is_still_support() -> None:
    body = "+1\n\nCheers,\nMaya\n\n> [VOTE] Release 2.0\n"
    assert clean_body(body) == CleanBody("", True, (), (), vote="+")


def test_agreement_plus_prose_is_not_support() -> None:
    result = clean_body("+1\n\nI built it from source on ARM64 and all tests pass.\n")
    assert result.text == "I built it from source on ARM64 and all tests pass."
    assert result.support is False


def test_acked_by_only_is_support_with_a_trailer() -> None:
    result = clean_body("Acked-by: Maya Chen <maya@example.org>\n\n> [PATCH 2/3] net: fix leak\n")
    assert result == CleanBody("", True, (), (("Acked-by", "Maya Chen <maya@example.org>"),))


def test_minus_one_is_an_opinion_not_support() -> None:
    result = clean_body("-1 (non-binding)\n\nThe license headers are missing.\n")
    assert result.text == "-1 (non-binding)\n\nThe license headers are missing."
    assert result.support is False


# --- trailers and actions --------------------------------------------------------------------


def test_git_trailers_are_extracted_and_removed() -> None:
    body = (
        "Looks correct to me, and it fixes the leak on my box.\n"
        "\n"
        "Reviewed-by: Maya Chen <maya@example.org>\n"
        "Tested-by: Sam Ortiz <sam@example.org>\n"
        "signed-off-by: Lee Park <lee@example.org>\n"
    )
    result = clean_body(body)
    assert result.text == "Looks correct to me, and it fixes the leak on my box."
    assert result.trailers == (
        ("Reviewed-by", "Maya Chen <maya@example.org>"),
        ("Tested-by", "Sam Ortiz <sam@example.org>"),
        ("Signed-off-by", "Lee Park <lee@example.org>"),
    )
    assert result.support is False


def test_quoted_trailers_are_not_the_authors() -> None:
    assert clean_body("Applied.\n\n> Signed-off-by: Lee Park <lee@example.org>\n").trailers == ()


def test_action_items_are_extracted() -> None:
    body = (
        "We agreed to freeze on Monday.\n"
        "ACTION: Maya to prepare the release notes\n"
        "Action: Sam, update the CI matrix\n"
        "- TODO: drop the old config keys\n"
    )
    result = clean_body(body)
    assert result.actions == (
        "Maya to prepare the release notes",
        "Sam, update the CI matrix",
        "drop the old config keys",
    )
    assert result.text.startswith("We agreed to freeze on Monday. ACTION: Maya to prepare the release notes")


def test_quoted_actions_are_not_the_authors() -> None:
    assert clean_body("Done.\n\n> ACTION: Maya to tag the release\n").actions == ()


# --- code, logs and diffs ------------------------------------------------------------------------


def test_unified_diff_goes_and_prose_around_it_stays() -> None:
    body = (
        "This fixes the off-by-one in the pager.\n"
        "\n"
        "diff --git a/src/pager.c b/src/pager.c\n"
        "index 3f2a1b0..9c8d7e6 100644\n"
        "--- a/src/pager.c\n"
        "+++ b/src/pager.c\n"
        "@@ -10,4 +10,4 @@ static int next_page(int n)\n"
        " {\n"
        "-    return n;\n"
        "+    return n + 1;\n"
        " }\n"
        "\n"
        "- one bullet after the diff\n"
        "Comments welcome.\n"
    )
    assert text_of(body) == ("This fixes the off-by-one in the pager.\n\none bullet after the diff Comments welcome.")


def test_diffstat_goes() -> None:
    body = "Two small fixes.\n\n src/pager.c | 4 ++--\n 1 file changed, 2 insertions(+), 2 deletions(-)\n"
    assert text_of(body) == "Two small fixes."


def test_indented_code_goes() -> None:
    body = (
        "Try this in your config:\n"
        "\n"
        "    <Location /status>\n"
        "        Require ip 10.0.0.0/8\n"
        "\tSetHandler server-status\n"
        "\n"
        "and reload the server.\n"
    )
    assert text_of(body) == "Try this in your config:\n\nand reload the server."


def test_fenced_code_goes() -> None:
    body = "Minimal repro:\n\n```\nimport parser\nparser.parse('')\n```\n\nIt raises IndexError.\n"
    assert text_of(body) == "Minimal repro:\n\nIt raises IndexError."


@pytest.mark.parametrize(
    "code",
    [
        "int total = count(items);",
        "return x;",
        "public void run() {",
        "}",
        "<dependency>",
        "import org.example.Pager;",
        "def parse(text):",
        "$ mvn -Prelease clean deploy",
        "% make check",
        "# apachectl status",
        "user@build-01:~$ ./configure --prefix=/opt",
        "C:\\Users\\maya> gradle build",
        "masked_values(a, fill_value=0)",
    ],
)
def test_code_like_lines_go(code: str) -> None:
    assert text_of(f"This is what I ran:\n{code}\nIt fails on the second step.\n") == (
        "This is what I ran:\n\nIt fails on the second step."
    )


def test_prose_that_wraps_at_a_semicolon_is_kept() -> None:
    body = "We tried the proxy, the cache and the new scheduler;\nnone of them helped.\n"
    assert text_of(body) == "We tried the proxy, the cache and the new scheduler; none of them helped."


def test_python_traceback_goes() -> None:
    body = (
        "The importer crashes on empty files:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "import.py", line 12, in <module>\n'
        "    rows = load(path)\n"
        '  File "import.py", line 5, in load\n'
        "    return data[0]\n"
        "IndexError: list index out of range\n"
        "\n"
        "Is that expected?\n"
    )
    assert text_of(body) == "The importer crashes on empty files:\n\nIs that expected?"


def test_java_stack_trace_goes() -> None:
    body = (
        "The plugin fails during site generation:\n"
        'Exception in thread "main" java.lang.NullPointerException: model is null\n'
        "\tat org.example.site.Renderer.render(Renderer.java:84)\n"
        "at org.example.site.Main.main(Main.java:12)\n"
        "Caused by: java.io.IOException: closed\n"
        "\t... 12 more\n"
        "Any idea what changed?\n"
    )
    assert text_of(body) == "The plugin fails during site generation:\n\nAny idea what changed?"


@pytest.mark.parametrize(
    "log",
    [
        "2024-03-05 10:12:01,123 INFO [main] Starting server on port 8080",
        "[INFO] BUILD FAILURE",
        "[ERROR] Failed to execute goal on project core",
        'ERROR: relation "users" does not exist',
        "WARN - disk usage above 90%",
        "[Tue Mar 05 10:12:00.123 2024] [ssl:error] [pid 42] AH02032: handshake failed",
        "Mar  5 10:12:01 web-01 sshd[42]: Accepted publickey",
        '10.0.0.7 - - [05/Mar/2024:10:12:01 +0000] "GET / HTTP/1.1" 200 512',
        "10:12:01.554 [pool-1] DEBUG org.example.Cache - miss",
    ],
)
def test_log_lines_go(log: str) -> None:
    assert text_of(f"The proxy logs this on every request:\n{log}\nAny hints?\n") == (
        "The proxy logs this on every request:\n\nAny hints?"
    )


# --- links, rules and lists --------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "https://issues.example.org/browse/PROJ-123",
        "<https://example.org/docs/install.html>",
        "[1] https://example.org/docs/install.html",
        "See https://example.org/docs/install.html",
        "www.example.org/download",
        "[cid:image001.png@01D57520.C56EBDB0]",
    ],
)
def test_link_only_lines_go(link: str) -> None:
    assert text_of(f"The install guide is out of date.\n\n{link}\n\nI'll send a patch.\n") == (
        "The install guide is out of date.\n\nI'll send a patch."
    )


def test_a_link_inside_prose_is_kept() -> None:
    body = "The guide at https://example.org/docs/install.html still says Java 8.\n"
    assert text_of(body) == "The guide at https://example.org/docs/install.html still says Java 8."


@pytest.mark.parametrize("rule", ["----------", "==========", "* * *", "#####", "[...]", "...", "~~~"])
def test_punctuation_only_lines_go(rule: str) -> None:
    assert text_of(f"First topic is settled.\n{rule}\nSecond topic needs a vote.\n") == (
        "First topic is settled.\n\nSecond topic needs a vote."
    )


def test_bullets_lose_their_markers_and_become_paragraphs() -> None:
    body = (
        "Open items for 3.0:\n"
        "- drop Java 8 support\n"
        "* new resolver,\n"
        "  behind a feature flag\n"
        "1. migrate the site to Git\n"
        "2) remove the legacy scripts\n"
        "• update the logo\n"
    )
    assert text_of(body) == (
        "Open items for 3.0:\n\ndrop Java 8 support\n\nnew resolver, behind a feature flag\n\n"
        "migrate the site to Git\n\nremove the legacy scripts\n\nupdate the logo"
    )


def test_outlook_padded_numbered_list_is_kept() -> None:
    body = "Two questions:\n\n1)       Does it retry on timeouts?\n\n2)       Can the limit be configured?\n"
    assert text_of(body) == "Two questions:\n\nDoes it retry on timeouts?\n\nCan the limit be configured?"


def test_wide_gap_after_a_sentence_is_prose_not_a_table() -> None:
    body = "Does this need a new scope?   And how do we stay backwards compatible?\n"
    assert text_of(body) == "Does this need a new scope? And how do we stay backwards compatible?"


def test_aligned_table_rows_go() -> None:
    body = "Results:\n\nHost      p50     p99\nweb-01    12 ms   80 ms\n\nThe p99 on web-01 is worse than last week.\n"
    assert text_of(body) == "Results:\n\nThe p99 on web-01 is worse than last week."


def test_lone_path_or_identifier_goes_but_a_wrapped_ending_stays() -> None:
    body = "Double-check the key in\nconfig.yaml.\n\n/etc/exporter/config.yaml\n\nThat was the culprit for me.\n"
    assert text_of(body) == "Double-check the key in config.yaml.\n\nThat was the culprit for me."


def test_external_sender_banners_go() -> None:
    body = (
        "[EXTERNAL]\n"
        "WARNING: This email originated from outside of Example Corp. Do not click links.\n"
        "I uploaded the revision to the drafts folder.\n"
    )
    assert text_of(body) == "I uploaded the revision to the drafts folder."


# --- whole messages -------------------------------------------------------------------------------


def test_realistic_bottom_posted_reply() -> None:
    body = (
        "Hi Maya,\r\n"
        "\r\n"
        "On Mon, Mar 4, 2024 at 9:15 PM Maya Chen <maya@example.org> wrote:\r\n"
        "> Can we get the resolver change into 3.9.6? Users keep hitting the\r\n"
        "> timeout with large reactors.\r\n"
        "\r\n"
        "I'd rather not. The change touches the lock manager, and 3.9.6 is meant\r\n"
        "to be a bug-fix release.\r\n"
        "\r\n"
        "> If not, what is the plan?\r\n"
        "\r\n"
        "It can go into 4.0-beta-2, which we plan to cut on 18 March.\r\n"
        "ACTION: Sam to open the 4.0-beta-2 milestone\r\n"
        "\r\n"
        "Thanks,\r\n"
        "Sam\r\n"
        "\r\n"
        "-- \r\n"
        "Sam Ortiz | Example Foundation\r\n"
        "\r\n"
        "---------------------------------------------------------------------\r\n"
        "To unsubscribe, e-mail: dev-unsubscribe@example.apache.org\r\n"
        "For additional commands, e-mail: dev-help@example.apache.org\r\n"
    )
    assert clean_body(body) == CleanBody(
        text=(
            "I'd rather not. The change touches the lock manager, and 3.9.6 is meant to be a bug-fix release.\n\n"
            "It can go into 4.0-beta-2, which we plan to cut on 18 March. "
            "ACTION: Sam to open the 4.0-beta-2 milestone"
        ),
        support=False,
        actions=("Sam to open the 4.0-beta-2 milestone",),
        trailers=(),
    )


def test_realistic_top_posted_outlook_reply() -> None:
    body = (
        "Dear Priya,\n"
        "\n"
        " \n"
        "Thanks for the measurements, I will update our contribution accordingly.\n"
        "\n"
        "Two points remain open for us:\n"
        "\n"
        "1)       Were the antenna patterns normalised before averaging?\n"
        "\n"
        "2)       Should the 6 GHz results go into the same table?\n"
        "\n"
        "Best Regards\n"
        "\n"
        "Tomasz\n"
        "\n"
        " \n"
        "From: Priya Raman [mailto:priya@example.com]\n"
        "Sent: Wednesday, March 6, 2024 11:14 PM\n"
        "To: Tomasz <tomasz@example.com>; WG-RADIO@LIST.EXAMPLE.ORG\n"
        "Subject: RE: Antenna measurement campaign\n"
        "\n"
        "Hi Tomasz,\n"
        "\n"
        "The raw data is on the group drive.\n"
        "\n"
        "########################################################################\n"
        "\n"
        "To unsubscribe from the WG-RADIO list, click the following link:\n"
        "https://list.example.org/scripts/wa.exe?SUBED1=WG-RADIO&A=1\n"
    )
    assert text_of(body) == (
        "Thanks for the measurements, I will update our contribution accordingly.\n\n"
        "Two points remain open for us:\n\n"
        "Were the antenna patterns normalised before averaging?\n\n"
        "Should the 6 GHz results go into the same table?"
    )


def test_realistic_mailman_reply_with_signature_and_footer() -> None:
    body = (
        "On Tue, 5 Mar 2024, Lee Park wrote:\n"
        "\n"
        "> Is there a way to export only the changed rows?\n"
        "\n"
        "Pass --since with the last export time. It compares the row\n"
        "versions; deleted rows are not exported yet.\n"
        "\n"
        "Cheers,\n"
        "\n"
        "Olga.\n"
        "-- \n"
        "-------------------------------------------------------------------\n"
        "Olga Petrova                          | E-Mail: olga@example.org\n"
        "Data Platform Team, Example Labs      | Tel.: +44-20-5550-0142\n"
        "\n"
        "_______________________________________________\n"
        "Orbit-users mailing list\n"
        "Orbit-users@lists.example.org\n"
    )
    assert text_of(body) == (
        "Pass --since with the last export time. It compares the row versions; deleted rows are not exported yet."
    )


# --- robustness ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_any_text_cleans_without_error_and_without_quotes(body: str) -> None:
    result = clean_body(body)
    assert isinstance(result, CleanBody)
    assert all(not line.startswith(">") for line in result.text.split("\n"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "> quoted",
                "- bullet",
                "Thanks,",
                "Maya",
                "-- ",
                "+1",
                "@@ -1,2 +1,2 @@",
                "+added",
                "```",
                "Traceback (most recent call last):",
                "From: Maya <m@x.org>",
                "Sent: Monday",
                "To: list",
                "On Mon, Maya wrote:",
                "A normal sentence about the release.",
                "",
                "    indented();",
                "- > odd",
            ]
        ),
        max_size=40,
    )
)
def test_any_mix_of_mail_lines_cleans_without_quotes(lines: list[str]) -> None:
    result = clean_body("\n".join(lines))
    assert all(not line.startswith(">") for line in result.text.split("\n"))
    assert "\n\n\n" not in result.text and result.text == result.text.strip()


def test_ten_megabyte_body_is_handled() -> None:
    unit = (
        "I think we should ship the release next week, once the parser fix lands.\n"
        "> quoted context from the previous mail\n"
        "    indented_code(line);\n"
        "\n"
    )
    body = unit * (10 * 2**20 // len(unit) + 1)
    result = clean_body(body)
    assert len(body) >= 10 * 2**20
    paragraphs = result.text.split("\n\n")
    assert len(paragraphs) == body.count(unit)
    assert set(paragraphs) == {"I think we should ship the release next week, once the parser fix lands."}


def test_ten_megabyte_line_is_handled() -> None:
    result = clean_body("word " * (2 * 2**20))
    assert result.text == ("word " * (2 * 2**20)).strip()


# --- lists, code and logs in the author's own text --------------------------------------------------


def test_a_wrapped_list_item_indented_under_its_text_is_kept_whole() -> None:
    body = (
        "Notes from the hallway afterwards:\n\n"
        "  - A console daemon written in Driftwood could log straight into\n"
        "    Tidepool and empty the guests' console rings far more quickly.\n"
        "  - New guests could negotiate a \"v2\" store protocol: a compact binary\n"
        "    wire format with fixed-size headers.\n"
    )
    assert clean_body(body).text.split("\n\n")[1:] == [
        "A console daemon written in Driftwood could log straight into Tidepool and empty the guests' console "
        "rings far more quickly.",
        "New guests could negotiate a \"v2\" store protocol: a compact binary wire format with fixed-size headers.",
    ]


def test_a_code_block_indented_by_two_goes_whole() -> None:
    body = (
        "A quick way to see it is to log the free slots before every push:\n\n"
        "  let free = Ring.Front.get_free_requests t.tx_ring in\n"
        "  if free > 200 then\n"
        "    Printf.printf \"tx: push with %d/256 free\" free;\n"
        "  flush_all t\n\n"
        "If TCP is mostly pushing into an almost empty ring, that's our 4x.\n"
    )
    assert clean_body(body).text == (
        "A quick way to see it is to log the free slots before every push:\n\n"
        "If TCP is mostly pushing into an almost empty ring, that's our 4x."
    )


def test_kernel_log_lines_go() -> None:
    body = ("A TCP run looks like this:\n\n[  12.041] tx: push with 255/256 free, notify=true\n"
            "[  12.042] rx: ack 1448 bytes, window 14480\n\nSo TCP never has more than one request in flight.\n")
    assert "12.041" not in clean_body(body).text
    assert clean_body(body).text.endswith("So TCP never has more than one request in flight.")


@pytest.mark.parametrize(
    ("body", "vote"),
    [
        ("+1\n\nCheers,\nMaya", "+"),
        ("+1 (non-binding)", "+"),
        ("LGTM", "+"),
        ("Hi Robert,\n\n+1, and thanks for running the release.", "+"),
        ("-1: the source archive misses the license file.", "-"),
        ("-1.5 dB is what we measured on the board.", ""),
        ("I think we need a -1 here, not a +1.", ""),
        ("The release looks fine to me.", ""),
    ],
)
def test_the_vote_a_message_opens_with(body: str, vote: str) -> None:
    assert clean_body(body).vote == vote


def test_a_link_target_glued_to_its_text_goes() -> None:
    body = "The draft is in the Drafts/EVS<https://urldefense.example/v2/url?u=https-3A__x&d=DwMFAg> folder.\n"
    assert clean_body(body).text == "The draft is in the Drafts/EVS folder."


def test_a_french_sign_off_goes() -> None:
    body = "I would not promise it before the end of the year.\n\nAmicalement, Thibault\n"
    assert clean_body(body).text == "I would not promise it before the end of the year."


def test_a_numbered_item_wrapped_with_a_semicolon_is_prose() -> None:
    body = ("Two proposals:\n\n1. Move to a tool with phone dial-in, so people who are travelling or on\n"
            "   bad wifi can still join. GoToMeeting does this; a small plan costs about $49 a month.\n")
    assert clean_body(body).text.split("\n\n")[1] == (
        "Move to a tool with phone dial-in, so people who are travelling or on bad wifi can still join. "
        "GoToMeeting does this; a small plan costs about $49 a month."
    )


def test_a_run_of_statements_goes_even_unindented() -> None:
    body = ("I'm seeing a strange issue when inserting into a dataset with an autogenerated key.\n\n"
            "drop dataverse channels if exists;\ncreate dataverse channels;\nuse channels;\n\n"
            "Has anyone had success with such a case?\n")
    assert clean_body(body).text == (
        "I'm seeing a strange issue when inserting into a dataset with an autogenerated key.\n\n"
        "Has anyone had success with such a case?"
    )
