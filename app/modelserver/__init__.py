"""An Ollama-compatible model server over llama-cpp-python, for machines without Ollama.

docsort talks to a model only through the official `ollama` client. Where no Ollama can be
installed, this server answers the part of Ollama's API that the client uses (version, tags,
show, ps, chat, generate, embed) with the same JSON shapes, so the app runs unchanged on either.

    python -m app.modelserver --port 11434 --models-dir DIR --threads N --ctx 4096
"""

from .engine import ApiError, Piece, Sampling, StopFilter, grammar_for
from .host import ModelHost
from .routes import create_app

__all__ = [
    "ApiError",
    "ModelHost",
    "Piece",
    "Sampling",
    "StopFilter",
    "create_app",
    "grammar_for",
]
