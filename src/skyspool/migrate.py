"""``skyspool migrate SRC_URL DST_URL``: copy a products archive between storage backends.

Both ends are fsspec URLs (a local folder, ``s3://bucket/prefix``, ``gs://``, ``az://``...),
so any backend fsspec knows works. A file already at the destination with the same size is
skipped, and when a checksum is cheap to get it must match too: S3's ETag of a single-part
upload is the MD5 of the bytes, so two such ETags are compared, or one against the MD5 of the
local file (reading a local file costs far less than sending it again). Copies are atomic
where the backend allows: a local file is written under a temporary name and renamed; an
object store's put only shows the object once complete; other backends get a temporary name
and a move. Files are copied by a pool of threads; a failure is recorded and the rest go on.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import re
import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from skyspool import atomic

log = logging.getLogger("skyspool.migrate")

# Backends whose put makes the object visible only once it is complete.
ATOMIC_PUT_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}
MD5_HEX = re.compile(r"[0-9a-f]{32}")


def open_url(url: str, options: dict | None = None):
    """``(filesystem, root path without a trailing slash)`` of an fsspec URL."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    return fs, root.rstrip("/") or "/"


def is_local(fs) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def listing(fs, root: str) -> dict[str, dict]:
    """Files under ``root`` by path relative to it (fsspec info dicts), without the
    temporaries of unfinished atomic writes. Empty when ``root`` does not exist."""
    fs.invalidate_cache(root)
    try:
        found = fs.find(root, detail=True)
    except FileNotFoundError:  # e.g. a bucket not made yet
        return {}
    files = {}
    for path, info in found.items():
        rel = path[len(root):].lstrip("/")
        name = rel.rsplit("/", 1)[-1]
        if info["type"] != "directory" and rel and not atomic.TEMPORARY_NAME.fullmatch(name):
            files[rel] = info
    return files


def etag_md5(info: dict) -> str | None:
    """The MD5 (hex) of an object from its S3 ETag, when it is one (single-part upload)."""
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"').lower()
    return etag if MD5_HEX.fullmatch(etag) else None


def file_md5(fs, path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def same_file(src_fs, src_path: str, src_info: dict, dst_fs, dst_path: str, dst_info: dict) -> bool:
    """Whether the destination file already holds the source's bytes: same size, and the
    same MD5 when both have an ETag MD5 or one has it and the other is a local file."""
    if src_info.get("size") != dst_info.get("size"):
        return False
    src_md5, dst_md5 = etag_md5(src_info), etag_md5(dst_info)
    if src_md5 and dst_md5:
        return src_md5 == dst_md5
    if src_md5 and is_local(dst_fs):
        return src_md5 == file_md5(dst_fs, dst_path)
    if dst_md5 and is_local(src_fs):
        return dst_md5 == file_md5(src_fs, src_path)
    return True


def _transfer(src_fs, src: str, dst_fs, dst: str) -> None:
    """Copy one file's bytes with the best call the two backends offer."""
    if src_fs is dst_fs and not is_local(src_fs):
        src_fs.copy(src, dst)  # server-side within one store
    elif is_local(src_fs):
        dst_fs.put_file(src, dst)
    elif is_local(dst_fs):
        src_fs.get_file(src, dst)
    else:
        with src_fs.open(src, "rb") as reader, dst_fs.open(dst, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)


def copy_file(src_fs, src: str, dst_fs, dst: str) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is never seen half-written."""
    if is_local(dst_fs):
        with atomic.atomic_path(dst) as tmp:
            _transfer(src_fs, src, dst_fs, str(tmp))
        return
    protocols = dst_fs.protocol if isinstance(dst_fs.protocol, tuple) else (dst_fs.protocol,)
    if ATOMIC_PUT_PROTOCOLS.intersection(protocols):
        _transfer(src_fs, src, dst_fs, dst)
        return
    parent, _, name = dst.rpartition("/")
    # Named like atomic.py's temporaries, so listing() never takes one for a product.
    tmp = f"{parent}/.{name}.{secrets.token_hex(4)}.tmp"
    try:
        _transfer(src_fs, src, dst_fs, tmp)
        dst_fs.mv(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            dst_fs.rm(tmp)
        raise


def one_line(exc: BaseException) -> str:
    """A short, one-line reason for a failed copy."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def human(nbytes: float) -> str:
    """``nbytes`` as e.g. ``12.3MB`` (powers of 1000)."""
    from tqdm import tqdm

    return tqdm.format_sizeof(nbytes, "B")


class Progress:
    """Files and bytes done out of a known total, with the rate and the time left: one line
    rewritten in place on a terminal, a log line every ``interval`` seconds otherwise."""

    def __init__(self, files: int, nbytes: int, *, stream=None, interval: float = 10.0):
        self.files, self.nbytes = files, nbytes
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.interval = 0.2 if self.terminal else interval
        self.files_done = self.bytes_done = self.bytes_failed = 0
        self.start = self.shown = time.monotonic()
        self.lock = threading.Lock()

    def line(self) -> str:
        """``12/300 files, 1.2MB/45.0MB, 3.4MB/s, ETA 00:12``."""
        from tqdm import tqdm

        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.bytes_done / elapsed
        left = self.nbytes - self.bytes_done - self.bytes_failed
        eta = tqdm.format_interval(left / rate) if rate > 0 else "?"
        return (f"{self.files_done}/{self.files} files, {human(self.bytes_done)}/"
                f"{human(self.nbytes)}, {human(rate)}/s, ETA {eta}")

    def done(self, nbytes: int, ok: bool) -> None:
        """Count one file settled (copied or failed)."""
        with self.lock:
            self.files_done += 1
            if ok:
                self.bytes_done += nbytes
            else:
                self.bytes_failed += nbytes
            now = time.monotonic()
            if now - self.shown >= self.interval:
                self.shown = now
                self._show()

    def _show(self) -> None:
        if self.terminal:
            self.stream.write("\r" + self.line().ljust(79))
            self.stream.flush()
        else:
            log.info("%s", self.line())

    def close(self) -> None:
        with self.lock:
            self._show()
            if self.terminal:
                self.stream.write("\n")


@dataclass
class Result:
    """What a migration did (or, in a dry run, would do). Paths are relative to the roots."""

    to_copy: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bytes_to_copy(self) -> int:
        return sum(size for _, size in self.to_copy)

    @property
    def bytes_copied(self) -> int:
        done = set(self.copied)
        return sum(size for rel, size in self.to_copy if rel in done)


@dataclass(frozen=True)
class End:
    """One end of a migration: a filesystem and a root path in it."""

    fs: object
    root: str

    def path(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}"


def plan(pool: ThreadPoolExecutor, src: End, dst: End) -> Result:
    """Which source files to copy (``to_copy``) and which are already there (``skipped``);
    the checksums that takes are computed on ``pool``."""
    source, existing = listing(src.fs, src.root), listing(dst.fs, dst.root)

    def needs_copy(rel: str) -> bool:
        if rel not in existing:
            return True
        try:
            return not same_file(src.fs, src.path(rel), source[rel],
                                 dst.fs, dst.path(rel), existing[rel])
        except OSError:
            return True  # the copy will say what is wrong

    result = Result()
    for rel, needed in zip(sorted(source), pool.map(needs_copy, sorted(source))):
        if needed:
            result.to_copy.append((rel, source[rel]["size"] or 0))
        else:
            result.skipped.append(rel)
    return result


def copy_all(pool: ThreadPoolExecutor, src: End, dst: End, result: Result,
             progress: Progress) -> None:
    """Copy ``result.to_copy`` on ``pool``, filling ``result.copied`` and ``result.failed``."""

    def copy(item: tuple[str, int]) -> str | None:
        rel, size = item
        try:
            copy_file(src.fs, src.path(rel), dst.fs, dst.path(rel))
        except Exception as exc:  # any backend error: recorded, the others go on
            log.warning("failed %s: %s", rel, one_line(exc))
            progress.done(size, ok=False)
            return one_line(exc)
        progress.done(size, ok=True)
        return None

    for (rel, _), error in zip(result.to_copy, pool.map(copy, result.to_copy)):
        if error is None:
            result.copied.append(rel)
        else:
            result.failed.append((rel, error))
    progress.close()


def migrate(src_url: str, dst_url: str, *, dry_run: bool = False, jobs: int = 8,
            src_options: dict | None = None, dst_options: dict | None = None,
            progress_stream=None, progress_interval: float = 10.0) -> Result:
    """Copy every file under ``src_url`` to the same relative path under ``dst_url``,
    skipping those already there (see :func:`same_file`). Failures are collected in the
    result, never raised; a missing source raises FileNotFoundError."""
    src, dst = End(*open_url(src_url, src_options)), End(*open_url(dst_url, dst_options))
    if not src.fs.exists(src.root):
        raise FileNotFoundError(f"{src_url}: no such source")
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="migrate")
    try:
        result = plan(pool, src, dst)
        if not dry_run and result.to_copy:
            dst.fs.makedirs(dst.root, exist_ok=True)
            copy_all(pool, src, dst, result, Progress(
                len(result.to_copy), result.bytes_to_copy, stream=progress_stream,
                interval=progress_interval))
    finally:  # on Ctrl-C the copies under way end (atomically), the others never start
        pool.shutdown(cancel_futures=True)
    return result


def _options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs as storage options (``true``/``false`` and integers converted)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{pair!r}: expected KEY=VALUE")
        lowered = value.lower()
        options[key] = (lowered == "true" if lowered in ("true", "false")
                        else int(value) if value.isdigit() else value)
    return options


def add_parser(commands) -> argparse.ArgumentParser:
    """Add the ``migrate`` subcommand to the ``skyspool`` command line."""
    parser = commands.add_parser(
        "migrate", help="copy a products archive between storage backends (local, s3://...)",
        description="Copy every file under SRC_URL to DST_URL (fsspec URLs: a folder, "
        "s3://bucket/prefix, gs://, az://...), skipping files already there with the same "
        "size (and MD5 when cheap). Credentials come from each backend's usual places "
        "(e.g. AWS_* variables, ~/.aws).")
    parser.add_argument("src_url")
    parser.add_argument("dst_url")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be copied and its total size; copy nothing")
    parser.add_argument("--jobs", type=int, default=8, help="files copied at once (default 8)")
    parser.add_argument("--src-option", action="append", default=[], metavar="KEY=VALUE",
                        help="fsspec storage option of the source (e.g. endpoint_url=...)")
    parser.add_argument("--dst-option", action="append", default=[], metavar="KEY=VALUE",
                        help="fsspec storage option of the destination")
    parser.set_defaults(func=cmd_migrate)
    return parser


def cmd_migrate(args) -> int:
    logging.getLogger("skyspool.migrate").setLevel(logging.INFO)
    started = time.monotonic()
    try:
        result = migrate(args.src_url, args.dst_url, dry_run=args.dry_run, jobs=args.jobs,
                         src_options=_options(args.src_option),
                         dst_options=_options(args.dst_option))
    except (argparse.ArgumentTypeError, FileNotFoundError, ValueError, ImportError) as exc:
        print(f"skyspool migrate: {exc}", file=sys.stderr)
        return 2
    size = f"{result.bytes_to_copy} bytes ({human(result.bytes_to_copy)})"
    if args.dry_run:
        for rel, nbytes in result.to_copy:
            print(f"{rel}\t{nbytes}")
        print(f"would copy {len(result.to_copy)} files, {size}; "
              f"{len(result.skipped)} already at the destination")
        return 0
    elapsed = time.monotonic() - started
    print(f"copied {len(result.copied)} files ({human(result.bytes_copied)}) in {elapsed:.1f} s; "
          f"{len(result.skipped)} already at the destination; {len(result.failed)} failed")
    for rel, reason in result.failed:
        print(f"FAILED {rel}: {reason}", file=sys.stderr)
    return 1 if result.failed else 0
