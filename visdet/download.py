"""Download checkpoints by URL into a local cache, once, verified.

``download(url)`` returns the path of the cached file, fetching it only when it is not
there yet:

* **cache folder**: ``$VISDET_HOME/checkpoints`` when ``VISDET_HOME`` is set, else the
  platform's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
  ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) ``/visdet/checkpoints``.
  The file keeps the URL's file name.
* **hash**: a given ``sha256`` (64 hex digits, or a prefix of at least 8) is checked
  against the file's SHA-256; otherwise the hex digits that mmdet's (and torch.hub's)
  file names carry before ``.pth`` (``..._20200130-047c8118.pth``) are, as torch.hub's
  ``check_hash`` does: they are the start of the file's SHA-256.
* **resume**: bytes arrive in ``<name>.partial`` beside the final file; an interrupted
  download (a dropped connection, a timeout) leaves it there and the next call asks the
  server for the rest with an HTTP ``Range`` header (a server that answers the whole file
  instead is read from the start).
* **atomic**: the final name appears only after the whole file arrived and its hash
  matched (``os.replace`` of the verified ``.partial``); a file that fails its hash is
  deleted. So the cache never holds a file under its final name that is not complete and
  verified; a cached file is used as it is, without network (offline use).
* **progress**: a tqdm bar on stderr (``progress=False`` hides it).
* **errors**: :class:`DownloadError` naming the URL and what went wrong (HTTP status,
  timeout, short read, hash mismatch, not cached while offline).

``VISDET_OFFLINE=1`` forbids network access: cached files work, anything else is an error.
Only ``http://`` and ``https://`` URLs are fetched.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

URL_SCHEMES = ("http://", "https://")
# mmdet / torch.hub names: "<name>-<hex>.pth"; the hex digits start the file's sha256.
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth?$")
CHUNK_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 30.0
PARTIAL_SUFFIX = ".partial"


class DownloadError(OSError):
    """A file could not be downloaded or verified; the message names the URL."""


def is_url(value: object) -> bool:
    """Whether ``value`` is a string starting with ``http://`` or ``https://``."""
    return isinstance(value, str) and value.lower().startswith(URL_SCHEMES)


def cache_dir() -> Path:
    """The folder checkpoints are cached in (see the module docstring); not created here."""
    home = os.environ.get("VISDET_HOME")
    if home:
        return Path(home).expanduser() / "checkpoints"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "visdet" / "checkpoints"


def file_name(url: str) -> str:
    """The file name a URL is cached under (its path's last part, unquoted).

    Raises:
        DownloadError: When the URL's path has no file name.
    """
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DownloadError(f"{url}: the URL does not end in a file name")
    return name


def expected_hash(url: str, sha256: str | None = None) -> str | None:
    """The hex digits the file's SHA-256 must start with: ``sha256``, else those in the file name."""
    if sha256 is not None:
        digest = sha256.lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", digest):
            raise ValueError(f"sha256 must be 8 to 64 hex digits, got {sha256!r}")
        return digest
    match = HASH_IN_NAME.search(file_name(url))
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline() -> bool:
    return os.environ.get("VISDET_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _open(url: str, start: int, timeout: float) -> tuple[object, int, int | None]:
    """Open ``url`` from byte ``start``: (response, first byte it sends, total size or None)."""
    request = urllib.request.Request(url, headers={"User-Agent": "visdet"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked by the caller
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the partial file is not a prefix we can extend: start again
            return _open(url, 0, timeout)
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except TimeoutError as err:
        raise DownloadError(f"{url}: no answer within {timeout:g} s ({err})") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, TimeoutError):
            raise DownloadError(f"{url}: no answer within {timeout:g} s ({reason})") from None
        raise DownloadError(f"{url}: cannot connect: {reason}") from None
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if start and response.status == 206:
        match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", "").strip())
        if not match or int(match.group(1)) != start:
            response.close()
            raise DownloadError(f"{url}: the server answered a range request with {match and match.group(0)!r}")
        total = int(match.group(2)) if match.group(2) != "*" else None
        return response, start, total
    return response, 0, length  # 200: the whole file, whatever we asked for


def _fetch(url: str, partial: Path, *, timeout: float, progress: bool) -> None:
    """Bring ``partial`` to the whole file, resuming from what it holds."""
    from tqdm import tqdm

    start = partial.stat().st_size if partial.exists() else 0
    response, first, total = _open(url, start, timeout)
    received = first
    with response, open(partial, "ab" if first else "wb") as out:  # type: ignore[attr-defined]
        bar = tqdm(
            total=total, initial=first, unit="B", unit_scale=True, unit_divisor=1024,
            desc=file_name(url), disable=not progress, file=sys.stderr, leave=False,
        )  # fmt: skip
        with bar:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)  # type: ignore[attr-defined]
                except TimeoutError:
                    raise DownloadError(
                        f"{url}: the server stopped sending for {timeout:g} s after {received} bytes "
                        f"(kept for resuming in {partial})"
                    ) from None
                except (OSError, http.client.HTTPException) as err:  # reset connection, IncompleteRead
                    raise DownloadError(f"{url}: connection lost after {received} bytes: {err}") from None
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if total is not None and received != total:
        raise DownloadError(f"{url}: truncated: received {received} of {total} bytes (kept for resuming in {partial})")


def download(
    url: str,
    *,
    sha256: str | None = None,
    check_hash: bool = True,
    cache: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """The local path of ``url``'s file, downloaded into the cache unless it is there.

    Args:
        url: An ``http://`` or ``https://`` URL ending in a file name.
        sha256: The file's SHA-256 (64 hex digits) or a prefix of at least 8; ``None``
            uses the digits in an mmdet-style file name (``...-047c8118.pth``), if any.
        check_hash: Verify the hash (default). ``False`` skips it.
        cache: The folder to cache in (default :func:`cache_dir`).
        timeout: Seconds to wait for the server to answer or to send the next bytes.
        progress: Show a progress bar on stderr.

    Returns:
        The path of the verified file in the cache.

    Raises:
        DownloadError: HTTP errors (404...), connection failures, timeouts, truncated
            files, hash mismatches, or a file not cached while ``VISDET_OFFLINE`` is set;
            the message names the URL. No file is left under the final name.
    """
    if not is_url(url):
        raise DownloadError(f"{url!r}: only http:// and https:// URLs can be downloaded")
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / file_name(url)
    if target.is_file():
        return target
    if _offline():
        raise DownloadError(f"{url}: not in the cache ({target}) and VISDET_OFFLINE is set")
    digest = expected_hash(url, sha256) if check_hash else None
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    _fetch(url, partial, timeout=timeout, progress=progress)
    if digest is not None:
        actual = sha256_of(partial)
        if not actual.startswith(digest):
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{url}: hash mismatch: sha256 {actual} does not start with {digest}; file deleted")
    os.replace(partial, target)
    return target
