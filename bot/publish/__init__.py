"""The public archive: a static site of the sent digests (pages, Markdown, an Atom feed).

names.py says where a digest's page is (the mail links to it before it is
written); site.py collects what was sent and writes the site; feed.py is the
Atom feed; files.py writes each file atomically, and only when it changed.
"""
