"""The hiring pipeline, built on plait's public API."""
