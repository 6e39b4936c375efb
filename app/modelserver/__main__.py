"""The command line: serve on loopback only, since the server has no authentication."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from .. import modelserver
from ..modelfetch import MODELS, default_models_dir, is_verified
from .host import ModelHost
from .routes import create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.modelserver", description=modelserver.__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $DOCSORT_MODEL_DIR")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--preload", metavar="NAME", help="load this model before serving")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to bind to {args.host}: this server has no authentication")
    host = ModelHost(args.models_dir or default_models_dir(), args.ctx, args.threads)
    if args.preload:
        spec = MODELS.get(args.preload)
        if spec is None or not is_verified(spec, host.models_dir):
            parser.error(f"cannot preload {args.preload!r}: not in {host.models_dir}")
        host.load(spec)
    names = ", ".join(spec.name for spec in host.available()) or "none"
    embedders = ", ".join(spec.name for spec, _ in host.available_embedders()) or "none"
    print(
        f"model server on http://{args.host}:{args.port} (models: {names}; embedding: {embedders})",
        file=sys.stderr,
    )
    uvicorn.run(create_app(host), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
