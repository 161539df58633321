"""Static files served for caching: fingerprinted addresses, long Cache-Control, minified CSS, compression.

``url_for("static", filename=...)`` adds ``?v=<content hash>``: a request carrying the current
hash is cached for a year (``immutable``), since any change of the file changes its address; any
other request for a static file (no or an old hash) is ``no-cache`` and revalidated by ETag. The
stylesheet is served minified (comments and layout whitespace removed, read once per change of
the file), and HTML, CSS, JS and SVG answers are compressed (zstd, brotli or gzip, as the client
accepts) by Flask-Compress. JSON is left alone: the API's answers are small and on the hot path.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_compress import Compress

# A fingerprinted address never changes its content: browsers and proxies may keep it a year.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSED_MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"]
# Served from memory (so compressed in one piece, and the CSS minified); anything else streams from disk.
TEXT_SUFFIXES = {".css", ".js", ".svg"}


class StaticFiles:
    """Content hashes and the served bytes of the app's static files, re-read when a file changes."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder).resolve()
        self._cache: dict[str, tuple[float, str, bytes]] = {}

    def _load(self, filename: str) -> tuple[str, bytes] | None:
        path = (self.folder / filename).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        mtime = path.stat().st_mtime
        cached = self._cache.get(filename)
        if cached is None or cached[0] != mtime:
            raw = path.read_bytes()
            body = minify_css(raw.decode()).encode() if path.suffix == ".css" else raw
            cached = (mtime, hashlib.sha256(raw).hexdigest()[:12], body)
            self._cache[filename] = cached
        return cached[1], cached[2]

    def version(self, filename: str) -> str | None:
        """Return the file's fingerprint (a hash of its content), or None if there is no such file."""
        loaded = self._load(filename)
        return loaded[0] if loaded else None

    def body(self, filename: str) -> bytes | None:
        loaded = self._load(filename)
        return loaded[1] if loaded else None


def minify_css(css: str) -> str:
    """Drop comments and the whitespace that only lays the stylesheet out; keep every rule as written."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    # Spaces next to braces and semicolons, after commas and after colons never change a rule's
    # meaning; a space before a colon can (".a :focus" is not ".a:focus"), so it stays. (The
    # stylesheet has no quoted strings that these could touch.)
    css = re.sub(r" ?([{};]) ?", r"\1", css)
    css = re.sub(r"([,:]) ", r"\1", css)
    return css.replace(";}", "}").strip()


def init_assets(app: Flask) -> None:
    """Fingerprint static addresses, cache and minify static files, compress text answers."""
    files = StaticFiles(app.static_folder or "static")
    app.extensions["shop.static_files"] = files
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_MIMETYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["zstd", "br", "gzip"])
    # Registered before our after_request: after_request functions run last-registered first, so
    # the static file is in memory (and minified) by the time Flask-Compress sees it.
    Compress(app)

    @app.url_defaults
    def fingerprint_static(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = files.version(values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def cache_static(response: Response) -> Response:
        if request.endpoint != "static" or request.view_args is None:
            return response
        filename = request.view_args.get("filename", "")
        version = files.version(filename)
        fresh = version is not None and request.args.get("v") == version
        response.headers["Cache-Control"] = IMMUTABLE if fresh else REVALIDATE
        if response.status_code == 200 and Path(filename).suffix in TEXT_SUFFIXES:
            body = files.body(filename)
            if body is not None:
                closer = getattr(response.response, "close", None)
                if closer is not None:
                    closer()  # the file send_file opened; its bytes are served from memory instead
                response.direct_passthrough = False
                response.set_data(body)
        return response
