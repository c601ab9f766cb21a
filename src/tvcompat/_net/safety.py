"""A weights file never runs code: every pickle in it is checked before anything loads it.

torch checkpoints are pickles (inside a zip archive since torch 1.6, a stream of pickles
before). Unpickling a crafted file runs arbitrary code, and torchvision loads its weights
with ``weights_only=False`` on every torch release. :func:`check_file` reads the pickle
opcodes *without executing them* and refuses any reference to a Python object outside the
allow-list of what torchvision's official weights files contain (an ``OrderedDict`` of
tensors, quantized tensors and their quantization schemes). It reads only the pickles, a
few kilobytes, never the tensor data, and it works on every torch, old ones without
``weights_only`` included. :func:`load_checked` checks and then loads from the same open
file, with ``weights_only=True`` where the installed torch has it.
"""

from __future__ import annotations

import io
import pickletools
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any

from tvcompat._versions import capabilities
from tvcompat.errors import UnsafeWeightsFileError

__all__ = ["ALLOWED_GLOBALS", "check_file", "check_stream", "load_checked"]

_STORAGES = (
    "Double",
    "Float",
    "Half",
    "BFloat16",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
    "QInt8",
    "QUInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
)
#: ``(module, name)`` of every object an official torchvision weights file references
#: (0.10 → 0.29, float and quantized; torch's own ``weights_only`` allows a superset).
ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_qtensor"),
        ("torch", "per_tensor_affine"),
        ("torch", "per_channel_affine"),
        ("torch", "per_channel_affine_float_qparams"),
        ("torch", "Size"),
        # dtypes: quantized Linear layers store theirs (``_packed_params.dtype``)
        *(("torch", dtype) for dtype in ("qint8", "quint8", "qint32", "float16", "float32")),
        ("torch.storage", "UntypedStorage"),
        *(("torch", f"{kind}Storage") for kind in _STORAGES),
    }
)
#: a legacy (pre-zip) checkpoint is five pickles: magic number, protocol, system info, the
#: object, the storage keys; the raw tensor data follows
_LEGACY_PICKLES = 5
_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}
)
_REFUSED_OPS = frozenset({"EXT1", "EXT2", "EXT4"})  # the copyreg extension registry


def _refuse(name: str, why: str) -> UnsafeWeightsFileError:
    return UnsafeWeightsFileError(
        f"refusing to load the weights file {name}: {why}. An official torchvision weights "
        "file holds only tensors, so this file was tampered with or is not a weights file; "
        "loading it could run code. Remove it with `tvcompat cache verify --remove-corrupt` "
        "(a build then downloads the official file again)."
    )


def _scan_pickle(stream: IO[bytes], name: str) -> None:
    """Check one pickle from the current position to its STOP opcode (the stream is left
    after it), following strings through the memo so that STACK_GLOBAL can be checked."""
    memo: dict[int, Any] = {}
    stack: list[Any] = []  # only the strings matter: other values are pushed as None
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            op = opcode.name
            if op in _REFUSED_OPS:
                raise _refuse(name, f"it uses the pickle opcode {op}")
            if op in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                if (module, attr) not in ALLOWED_GLOBALS:
                    raise _refuse(name, f"it references {module}.{attr}")
                stack.append(None)
            elif op == "STACK_GLOBAL":
                last = stack.pop() if stack else None
                first = stack.pop() if stack else None
                if not (isinstance(first, str) and isinstance(last, str)):
                    raise _refuse(name, "it references an object whose name cannot be read")
                if (first, last) not in ALLOWED_GLOBALS:
                    raise _refuse(name, f"it references {first}.{last}")
                stack.append(None)
            elif op in _STRING_OPS:
                stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
            elif op == "MEMOIZE":  # pickle's rule: the next index is the memo's size
                memo[len(memo)] = stack[-1] if stack else None
            elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(str(arg))] = stack[-1] if stack else None
            elif op in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(int(str(arg))))
            elif op == "STOP":
                return
            else:  # the stack's exact shape does not matter: strings are looked at only
                stack.append(None)  # when STACK_GLOBAL consumes the two just pushed
    except UnsafeWeightsFileError:
        raise
    except Exception as exc:  # a truncated or malformed pickle: torch could not load it
        raise _refuse(name, f"its pickle data is malformed ({exc})") from None
    raise _refuse(name, "its pickle data ends early")


def check_stream(stream: IO[bytes], name: str) -> None:
    """Check every pickle torch would read from ``stream`` (a seekable binary file); the
    position is restored."""
    start = stream.tell()
    try:
        if zipfile.is_zipfile(stream):
            stream.seek(start)
            _check_zip(stream, name)
        else:
            stream.seek(start)
            if _is_tar(stream):
                raise _refuse(name, "it is a tar archive (torch's oldest format)")
            stream.seek(start)
            for _ in range(_LEGACY_PICKLES):
                _scan_pickle(stream, name)
    finally:
        stream.seek(start)


def _is_tar(stream: IO[bytes]) -> bool:
    try:
        with tarfile.open(fileobj=stream, mode="r:"):
            return True
    except tarfile.TarError:
        return False


def _check_zip(stream: IO[bytes], name: str) -> None:
    with zipfile.ZipFile(stream) as archive:
        names = archive.namelist()
        if len(names) != len(set(names)):
            raise _refuse(name, "its archive holds two entries of the same name")
        pickles = [n for n in names if n.endswith(".pkl")]
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in pickles):
            raise _refuse(name, "it is a zip archive without torch's data.pkl")
        for entry in pickles:  # data.pkl, and any other pickle torch might read
            with archive.open(entry) as member:
                _scan_pickle(io.BytesIO(member.read()), name)


def check_file(path: str | Path) -> None:
    """Refuse (:class:`~tvcompat.errors.UnsafeWeightsFileError`) a file that references
    anything outside :data:`ALLOWED_GLOBALS`; a file that cannot be read raises ``OSError``."""
    with open(path, "rb") as stream:
        check_stream(stream, Path(path).name)


def load_checked(path: str | Path, map_location: Any = None) -> Any:
    """Check ``path`` and load it from the same open file (so that it cannot be swapped in
    between), with ``weights_only=True`` where the installed torch has it.

    The check is the guarantee; ``weights_only`` is a second line. Where the installed
    torch's own allow-list is narrower than the official files need (quantized tensors on
    torch 1.13 to 2.x), the checked file is loaded without it.
    """
    import pickle  # noqa: PLC0415 - only needed here

    import torch  # noqa: PLC0415 - torch is heavy: lazy

    with open(path, "rb") as stream:
        check_stream(stream, Path(path).name)
        if capabilities().torch_load_weights_only:
            try:
                return torch.load(stream, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError:
                stream.seek(0)
        return torch.load(stream, map_location=map_location)
