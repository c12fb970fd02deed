"""Reading Qt resource bundles (``.rcc``), the files GCompris ships its pictures and sounds in.

The format (Qt's ``rcc`` tool, versions 1-3): a header ``qres`` + version + the offsets of three
tables, all big-endian. The *tree* is an array of nodes (name offset, flags, then for a folder
its child count and first child, for a file its locale and data offset; 8 more bytes of
modification time from version 2 on); *names* are length-prefixed UTF-16 strings after a hash;
*data* entries are length-prefixed blobs, zlib-compressed (after a 4-byte size) when flag 1 is set.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from ...errors import AssetBuildError

_COMPRESSED, _DIRECTORY, _ZSTD = 0x01, 0x02, 0x04


def read_rcc(path: Path) -> dict[str, bytes]:
    """Every file of the bundle at ``path``: {path inside the bundle: bytes}."""
    blob = path.read_bytes()
    try:
        if blob[:4] != b"qres":
            raise ValueError("no 'qres' header")
        version, tree, data, names = struct.unpack(">IIII", blob[4:20])
        node_size = 22 if version >= 2 else 14
        files: dict[str, bytes] = {}
        pending = [(0, "")]  # (node index, folder path)
        while pending:
            index, folder = pending.pop()
            node = tree + index * node_size
            name_offset, flags = struct.unpack(">IH", blob[node:node + 6])
            name = _name(blob, names + name_offset) if index else ""
            path_here = f"{folder}/{name}" if folder else name
            if flags & _DIRECTORY:
                count, first = struct.unpack(">II", blob[node + 6:node + 14])
                pending.extend((child, path_here) for child in range(first, first + count))
                continue
            (offset,) = struct.unpack(">I", blob[node + 10:node + 14])
            (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
            content = blob[data + offset + 4:data + offset + 4 + size]
            if flags & _ZSTD:
                raise ValueError(f"{path_here} is zstd-compressed, which this reader does not decode")
            files[path_here] = zlib.decompress(content[4:]) if flags & _COMPRESSED else content
        return files
    except (ValueError, struct.error, zlib.error, UnicodeDecodeError) as err:
        raise AssetBuildError(f"corrupt Qt resource bundle {path}: {err}") from err


def _name(blob: bytes, at: int) -> str:
    (length,) = struct.unpack(">H", blob[at:at + 2])
    return blob[at + 6:at + 6 + 2 * length].decode("utf-16-be")  # after the length and a 4-byte hash

