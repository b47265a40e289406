"""A digest as text, Markdown, HTML and mail."""
