#!/usr/bin/env python3
"""Reads safetensors files the way loaders do (safe_open + get_tensor): mmap the file, parse the
header, then touch tensors in layer order. Standard library only, so it runs on any node.

  load_safetensors.py FILE            print the first tensor in loader order (name, dtype, shape, values)
  load_safetensors.py --all [--trace OUT] FILE...
                                      touch every tensor of every file in layer order; print bytes and
                                      seconds; with --trace, write "monotonic-seconds bytes-so-far" per
                                      tensor to OUT (CLOCK_MONOTONIC, the clock of Java's nanoTime)
"""
import json, mmap, re, struct, sys, time, hashlib

def header(mm):
    (n,) = struct.unpack_from("<Q", mm, 0)
    if n > 100_000_000 or 8 + n > len(mm):
        raise SystemExit(f"malformed safetensors header (length {n})")
    h = json.loads(bytes(mm[8:8 + n]))
    h.pop("__metadata__", None)
    return 8 + n, h

def loader_key(name):
    m = re.search(r"\.layers\.(\d+)\.", name)
    if "embed" in name:
        return (0, 0, name)
    if m:
        return (1, int(m.group(1)), name)
    return (2, 0, name)

def bf16(raw, count):
    return [struct.unpack("<f", b"\x00\x00" + raw[2 * i:2 * i + 2])[0] for i in range(count)]

def first(path):
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
        start, h = header(mm)
        name = sorted(h, key=loader_key)[0]
        t = h[name]
        b, e = t["data_offsets"]
        raw = mm[start + b:start + e]
        vals = bf16(raw, 6) if t["dtype"] == "BF16" else list(struct.unpack_from("<6f", raw)) if t["dtype"] == "F32" else []
        print(f"{path}: {len(h)} tensors; first in load order: {name} {t['dtype']} {t['shape']} "
              f"({e - b} bytes, sha256 {hashlib.sha256(raw).hexdigest()[:16]}) values {[round(v, 4) for v in vals]}")

def touch_all(paths, trace=None):
    t0, total = time.monotonic(), 0
    points = [(t0, 0)]
    for p in paths:
        with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            start, h = header(mm)
            for name in sorted(h, key=loader_key):
                b, e = h[name]["data_offsets"]
                mv = memoryview(mm)[start + b:start + e]
                total += len(mv)
                for off in range(0, len(mv), 4096):  # fault every page, as a copy to the GPU would
                    mv[off]
                mv.release()
                if trace:
                    points.append((time.monotonic(), total))
    print(f"loaded {total} bytes in {time.monotonic() - t0:.3f} s")
    if trace:
        with open(trace, "w") as out:
            out.writelines(f"{t:.6f} {b}\n" for t, b in points)

if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "--all" and sys.argv[2] == "--trace":
        touch_all(sys.argv[4:], trace=sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "--all":
        touch_all(sys.argv[2:])
    elif len(sys.argv) == 2:
        first(sys.argv[1])
    else:
        raise SystemExit(__doc__)
