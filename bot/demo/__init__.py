"""Bundled demo data: one week of a fictional project's development list (week.mbox)."""
