"""From stored mail to a digest: clean, thread, group, summarize."""
