#!/usr/bin/env python3
"""Reads FILE in 1 MiB reads at a loader's pace (PACE_MS between reads), prints STARTED after the
first read, and at the end the file's sha256 and the longest wait for one read, in seconds: across a
daemon restart, that wait is the stall a reader sees."""
import hashlib, os, sys, time

path, pace = sys.argv[1], float(sys.argv[2]) / 1000
fd = os.open(path, os.O_RDONLY)
h = hashlib.sha256()
worst = 0.0
first = True
while True:
    t0 = time.monotonic()
    b = os.read(fd, 1 << 20)
    worst = max(worst, time.monotonic() - t0)
    if not b:
        break
    h.update(b)
    if first:
        print("STARTED", flush=True)
        first = False
    time.sleep(pace)
print(h.hexdigest(), "%.6f" % worst, flush=True)
