"""digestbot: turns a project's mailing list into weekly minutes."""

__version__ = "0.1.0"
