"""docsort: local-first document classification."""
