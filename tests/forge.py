"""A helper of the checkpoint tests (not a test module): re-sign a checkpoint after editing
its meta record or arrays, as someone who knows the format could (the checksum then holds,
so only the loader's own checks stand between the file and a run)."""
import io
import json

import numpy as np

from wuxing.golden.checkpoint import _digest


def resign(path, edit_meta=None, edit_arrays=None):
    """Rewrite the checkpoint at ``path`` with ``edit_meta(meta)`` / ``edit_arrays(arrays)``
    applied (in place) and a valid checksum."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    meta.pop("sha256")
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    meta["sha256"] = _digest(json.dumps(meta, sort_keys=True).encode(), arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
             **arrays)
    path.write_bytes(buf.getvalue())
    return path
