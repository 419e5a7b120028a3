"""The web pages (built by the UI work; this placeholder keeps the server running without)."""

from fastapi import FastAPI


def install_pages(app: FastAPI) -> None:
    """Web pages are installed by the UI."""
