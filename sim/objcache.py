#!/usr/bin/env python3
"""A compiler wrapper for Verilator's makefiles (``OBJCACHE``): caches the objects of the
source files that do not belong to the model (Verilator's runtime, cocotb's main), which every
build compiles again with the same flags (about 30 s a build). Model files pass through.

The cache key is the compiler command (without the output name), the source file and the
headers next to it. Cache folder: the environment variable WUXING_OBJCACHE; unset, nothing is
cached.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def main(cmd: list) -> int:
    cache = os.environ.get("WUXING_OBJCACHE")
    src = next((a for a in reversed(cmd) if a.endswith(".cpp")), None)
    out = cmd[cmd.index("-o") + 1] if "-o" in cmd[:-1] else None
    if not (cache and src and out and os.path.isabs(src)
            and not src.startswith(os.getcwd() + os.sep)):
        return subprocess.call(cmd)
    key = hashlib.sha256(" ".join(a for a in cmd if a != out).encode())
    srcdir = Path(src).parent
    for f in [Path(src), *sorted(srcdir.glob("*.h"))]:
        key.update(f.name.encode())
        key.update(f.read_bytes())
    hit = Path(cache) / f"{key.hexdigest()[:24]}.o"
    if hit.exists():
        shutil.copyfile(hit, out)
        return 0
    rc = subprocess.call(cmd)
    if rc == 0:
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(out, tmp)
        os.replace(tmp, hit)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
