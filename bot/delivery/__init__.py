"""Sending an approved digest to its subscribers, exactly once."""
