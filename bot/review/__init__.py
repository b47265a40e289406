"""The chair's review: a draft's life, its mail, replies and tokens."""
