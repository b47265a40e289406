"""Measuring tools (bench, eval, corpus check): not shipped in the wheel."""
