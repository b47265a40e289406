"""Benchmarks: a generator of realistic list traffic and the runner that times it.

Run `python -m bot.tools.bench` (or `make bench`); see BENCHMARKS.md for the last
results. Nothing here is imported by the bot itself.
"""
