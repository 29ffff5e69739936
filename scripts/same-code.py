#!/usr/bin/env python3
"""Whether two artifacts of `lazuli compile` hold the same machine code.

Usage: scripts/same-code.py OLD.cwasm NEW.cwasm

The code image (where the header says), with the memory image after it, runs to
the end of the artifact; the header before it
names the settings, so two compilers that differ only in what they accept but emit
the same code give different headers and identical images. Exit status 0 when the
images are byte-for-byte equal.
"""
import struct
import sys

TRAP_RECORD, OFFSET_RECORD = 5, 8  # crates/jit/src/tables.rs


def image(path):
    """The artifact's bytes from its code image on (serialize.rs's layout)."""
    data = open(path, "rb").read()
    pos = 12  # magic, format
    for _ in range(4):  # version, target, settings, the Wasm module
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4 + n
    _functions, rows = struct.unpack_from("<II", data, pos)
    pos += 8
    records = 0
    for row in range(rows):
        fields = struct.unpack_from("<6I", data, pos + 24 * row)
        records += fields[2] * TRAP_RECORD + fields[3] * OFFSET_RECORD
    pos += 24 * rows + records
    (start, _length) = struct.unpack_from("<QQ", data, pos)
    return data[start:]


old, new = image(sys.argv[1]), image(sys.argv[2])
same = old == new
print(f"{'identical' if same else 'different'} code images ({len(old)} and {len(new)} bytes)")
sys.exit(0 if same else 1)
