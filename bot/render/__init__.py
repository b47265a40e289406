"""A digest as text, Markdown, HTML and mail."""

# Here, not in bot.render.digest, so that the command line can offer them without importing Jinja2.
FORMATS = ("text", "html", "markdown", "json", "eml")
