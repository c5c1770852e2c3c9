"""Layer blobs as tar streams: decompression (gzip, zstd, plain, sniffed by magic) and hashing.

:class:`HashingReader` counts and hashes the uncompressed bytes (the diff_id)
and caps the size of a tar header, so a header announcing gigabytes is
refused before tarfile buffers it.
"""

from __future__ import annotations

import hashlib

from pyctr.core.errors import ImageError

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from typing import IO

MAX_HEADER_BYTES = 16 << 20
_CHUNK = 1 << 20

# ---------------------------------------------------------------- streams --
class _ZstdReader:
    """Minimal file object over a zstandard stream reader (read-only)."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        import zstandard

        self._r = zstandard.ZstdDecompressor().stream_reader(fileobj, read_across_frames=True)

    def read(self, n: int = -1) -> bytes:
        import zstandard

        try:
            return self._r.read(n)
        except zstandard.ZstdError as e:
            raise ImageError(f"corrupt zstd layer: {e}") from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._r.close()


class _GzipStream:
    """gzip decompression with large reads and bounded output per call.

    ``gzip.GzipFile`` reads its input 128 KiB at a time and pays Python
    overhead per call; layers are tens of MB, so this reads 1 MiB at a time.
    Output per :meth:`read` is capped (``max_length``), so a small input that
    inflates to gigabytes never sits in memory. Multi-member gzip (pigz -i,
    concatenated streams) is followed; zero padding after the last member is
    allowed, as gzip(1) allows it.
    """

    def __init__(self, fileobj: IO[bytes]) -> None:
        import zlib

        self._f = fileobj
        self._zlib = zlib
        self._d = zlib.decompressobj(31)
        self._in = b""  # input not yet given to the decompressor
        self._done = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        if n == 0:
            return b""  # decompress(max_length=0) would mean "no limit"
        while not self._done:
            if self._d.eof:
                rest = self._d.unused_data + self._in
                self._in = b""
                if not rest.strip(b"\0"):
                    more = self._f.read(_CHUNK)
                    if not more:
                        self._done = True
                        return b""
                    rest += more
                    if not rest.strip(b"\0"):
                        continue
                self._d = self._zlib.decompressobj(31)  # the next member
                self._in = rest.lstrip(b"\0") if not rest.startswith(b"\x1f") else rest
                continue
            data = self._d.unconsumed_tail or self._in
            self._in = b""
            if not data:
                data = self._f.read(_CHUNK)
                if not data:
                    raise EOFError("compressed layer ended before the end-of-stream marker was reached")
            out = self._d.decompress(data, n)
            if out:
                return out
        return b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


class _Peek:
    """Puts back the sniffed bytes in front of a non-seekable stream."""

    def __init__(self, head: bytes, fileobj: IO[bytes]) -> None:
        self._head = head
        self._f = fileobj

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._f.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._f.read(n - len(out))
            return out
        return self._f.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


class HashingReader:
    """Counts and sha256-hashes what is read through it (for diff_ids).

    ``header_phase()`` / ``data_phase()`` bracket the reading of one tar
    header: tarfile keeps PAX and GNU long-name payloads in memory, so a
    header that announces gigabytes would be a memory bomb. Docker caps them
    at 1 MiB; more than :data:`MAX_HEADER_BYTES` between two members is refused.
    """

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._f = fileobj
        self._h = hashlib.sha256()
        self.count = 0
        self._header_start: int | None = None

    def header_phase(self) -> None:
        self._header_start = self.count

    def data_phase(self) -> None:
        self._header_start = None

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        self.count += len(data)
        if self._header_start is not None and self.count - self._header_start > MAX_HEADER_BYTES:
            raise ImageError(f"layer has a tar header larger than {MAX_HEADER_BYTES} bytes")
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._h.hexdigest()

    def close(self) -> None:
        pass


def open_layer_stream(fileobj: IO[bytes]) -> IO[bytes]:
    """Wrap a layer blob so reads return the uncompressed tar (gzip, zstd or plain)."""
    head = fileobj.read(4)
    src = _Peek(head, fileobj)
    if head[:2] == b"\x1f\x8b":
        return _GzipStream(src)  # type: ignore[return-value]
    if head == b"\x28\xb5\x2f\xfd":
        return _ZstdReader(src)  # type: ignore[arg-type,return-value]
    return src  # type: ignore[return-value]

