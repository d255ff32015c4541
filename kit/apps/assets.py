"""The kit pages' scripts and styles, served from memory.

A plenary of 300 phones fetching the survey's script and style at once made tornado's
``StaticFileHandler`` (a stat, an open, a read and headers per request) a third of the server's
work per respondent. These files are few and small and their URLs carry a content hash
(``?v=...``), so each is read once (again when it changes on disk), compressed once, and sent
with a long cache lifetime; ``If-None-Match`` gets 304.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path

import tornado.web

MAX_ASSET_BYTES = 4 * 1024 * 1024  # the kit's own files; anything larger is not an asset


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str
    mtime: float


_ASSETS: dict[Path, Asset] = {}
_LOCK = threading.Lock()


def load_asset(path: Path) -> Asset:
    """``path``'s bytes, gzip and ETag, read again only when the file changed."""
    mtime = path.stat().st_mtime
    with _LOCK:
        found = _ASSETS.get(path)
    if found is not None and found.mtime == mtime:
        return found
    body = path.read_bytes()
    if len(body) > MAX_ASSET_BYTES:
        raise tornado.web.HTTPError(404)
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    asset = Asset(
        body=body,
        gzipped=gzip.compress(body, 6, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        content_type=kind,
        mtime=mtime,
    )
    with _LOCK:
        _ASSETS[path] = asset
    return asset


class AssetHandler(tornado.web.RequestHandler):
    """``GET`` one file of ``path`` (a folder) named by the URL's group; nothing outside it."""

    def initialize(self, path: str, max_age: int = 86400) -> None:
        self.root = Path(path).resolve()
        self.max_age = max_age

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def compute_etag(self) -> str | None:
        return None  # set from the asset, not by hashing the body again

    def get(self, name: str) -> None:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise tornado.web.HTTPError(404)
        asset = load_asset(path)
        self.set_header("Content-Type", asset.content_type)
        self.set_header("Cache-Control", f"public, max-age={self.max_age}")
        self.set_header("ETag", asset.etag)
        self.set_header("Vary", "Accept-Encoding")
        if asset.etag in self.request.headers.get("If-None-Match", ""):
            self.set_status(304)
            self.finish()
            return
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(asset.gzipped)
        else:
            self.finish(asset.body)
