"""`digestbot publish`: the static archive of the sent digests (bot/publish/site.py)."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.context import Context, pass_context


@click.command("publish")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the site here (default: publish.dir of the config).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def publish_cmd(ctx: Context, output: Path | None, fmt: str) -> None:
    """Write the public archive of the sent digests: index.html, one page and one
    Markdown file per digest, and feed.xml (Atom).

    Only digests that were sent appear; drafts and unapproved revisions never do.
    Files whose content is unchanged are not rewritten, so running it again with
    nothing new changes nothing. Exit status 2: no --output and no publish.dir.
    """
    import json

    from bot.errors import ConfigError
    from bot.publish.site import publish

    settings = ctx.settings
    folder = output or (Path(settings.publish.dir) if settings.publish.dir else None)
    if folder is None:
        raise ConfigError("where to publish? give --output DIR, or set dir in the [publish] section of the config")
    report = publish(ctx.store(), settings, folder)
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else report.line())
