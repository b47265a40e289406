"""Mail in: read a source, parse MIME, store raw bytes first."""
