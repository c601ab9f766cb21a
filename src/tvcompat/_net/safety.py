"""A weights file never runs code: every pickle in it is checked before anything loads it.

torch checkpoints are pickles (inside a zip archive since torch 1.6, a stream of pickles
before). Unpickling a crafted file runs arbitrary code, and torchvision loads its weights
with ``weights_only=False`` on every torch release. :func:`check_file` refuses any
reference to a Python object outside the allow-list of what torchvision's official weights
files contain (an ``OrderedDict`` of tensors, quantized tensors and their quantization
schemes), without running anything the pickles name: the C unpickler over inert objects
proves the usual file clean, the opcode scan decides the rest. It reads only the pickles, a
few kilobytes, never the tensor data, and it works on every torch, old ones without
``weights_only`` included. :func:`load_checked` checks and then loads from the same open
file, with ``weights_only=True`` where the installed torch has it.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import pickletools
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, NamedTuple

from tvcompat._versions import capabilities
from tvcompat.errors import UnsafeWeightsFileError

__all__ = ["ALLOWED_GLOBALS", "check_file", "check_stream", "is_damaged", "load_checked"]


def _words(text: str) -> list[str]:
    return text.split()


#: bytes per element of each ``torch.<Kind>Storage`` (``torch._utils._element_size``)
_ELEMENT_SIZES = dict(
    zip(
        _words(
            "Double Float Half BFloat16 Long Int Short Char Byte Bool ComplexFloat "
            "ComplexDouble QInt8 QUInt8 QInt32 QUInt4x2 QUInt2x4"
        ),
        (8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 8, 16, 1, 1, 4, 1, 1),
    )
)
_STORAGES = tuple(_ELEMENT_SIZES)
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


class _DamagedFileError(UnsafeWeightsFileError):
    """A file that is not a readable weights file at all (empty, truncated, malformed), as
    opposed to one that references code: see :func:`is_damaged`."""


def _damaged(name: str, why: str) -> UnsafeWeightsFileError:
    return _DamagedFileError(
        f"cannot load the weights file {name}: {why}. It is damaged (an interrupted copy or "
        "download, a full disk) or not a weights file. Remove it with `tvcompat cache verify "
        "--remove-corrupt` (a build then downloads the official file again)."
    )


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` (from :func:`check_file`) says the file is damaged (empty,
    truncated, not a torch file) rather than that it references code: a damaged file whose
    name carries a hash may be downloaded again; one that references code is a security
    refusal."""
    return isinstance(exc, _DamagedFileError)


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
        raise _damaged(name, f"its pickle data is malformed ({exc})") from None
    raise _damaged(name, "its pickle data ends early")


class _Inert:
    """What the fast check's unpickler makes of every allowed global and persistent id: an
    object that accepts what unpickling does to one (calls, items, state) and is nothing."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


_INERT = _Inert()


class _Inspector(pickle.Unpickler):
    """Unpickles at C speed with every global and persistent id resolved to :data:`_INERT`
    (nothing real is ever called), refusing a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(io.BytesIO(data))
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise _refuse(self.name, f"it references {module}.{name}")
        return _INERT

    def persistent_load(self, pid: Any) -> Any:
        return _INERT


def _proven_clean(data: bytes, name: str) -> bool:
    """Whether the C unpickler runs ``data`` to its end over inert objects, every global it
    names passing ``find_class`` (the allow-list): C speed. That proves the pickle clean only
    while no ``copyreg`` extension is registered or cached (an EXT opcode then fails rather
    than yield a cached object unchecked); a refusal by the allow-list is final."""
    registries = [getattr(copyreg, n, None) for n in ("_inverted_registry", "_extension_cache")]
    if not all(r is not None and not r for r in registries):
        return False
    try:
        _Inspector(data, name).load()
    except UnsafeWeightsFileError:
        raise
    except Exception:  # EXT, malformed, unusual: the opcode scan tells which
        return False
    return True


def _check_pickle(data: bytes, name: str) -> None:
    """:func:`_scan_pickle` on one whole pickle, proven clean the fast way where it can be."""
    if not _proven_clean(data, name):
        _scan_pickle(io.BytesIO(data), name)


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
                raise _damaged(name, "it is a tar archive (torch's oldest format)")
            stream.seek(start)
            for _ in range(_LEGACY_PICKLES):
                _scan_pickle(stream, name)
            stream.seek(start)
            _check_legacy_storages(stream, name)
    finally:
        stream.seek(start)


def _is_tar(stream: IO[bytes]) -> bool:
    try:
        with tarfile.open(fileobj=stream, mode="r:"):
            return True
    except tarfile.TarError:
        return False


def _check_zip(stream: IO[bytes], name: str) -> None:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise _refuse(name, "its archive holds two entries of the same name")
            pickles = [n for n in names if n.endswith(".pkl")]
            if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in pickles):
                raise _damaged(name, "it is a zip archive without torch's data.pkl")
            for entry in pickles:  # data.pkl, and any other pickle torch might read
                with archive.open(entry) as member:
                    data = member.read()
                _check_pickle(data, name)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise _damaged(name, f"its zip archive is damaged ({exc})") from None


# --------------------------------------------------------------------------------------------
# The legacy format's tensor data: is all of it there?
# --------------------------------------------------------------------------------------------

_INT_OPS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})


class _Global(NamedTuple):
    module: str
    name: str


class _CannotTell(Exception):
    """The legacy layout is not one this check understands: it checks nothing then."""


class _Mark:
    pass


_MARK = _Mark()


def _pop_to_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise _CannotTell


def _run_values(stream: IO[bytes]) -> tuple[list[Any], Any]:
    """Follow one (already checked) pickle's opcodes over a stack of plain values (strings,
    ints, ``None``, globals, tuples and lists; anything else is ``None``). Return the
    persistent ids it references and the value it unpickles to."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    pids: list[Any] = []

    def pop() -> Any:
        if not stack or stack[-1] is _MARK:
            raise _CannotTell
        return stack.pop()

    for opcode, arg, _ in pickletools.genops(stream):
        op = opcode.name
        if op == "STOP":
            return pids, pop()
        if op == "MARK":
            stack.append(_MARK)
        elif op in _STRING_OPS:
            stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif op in _INT_OPS:
            stack.append(int(arg) if isinstance(arg, (int, bool)) else None)
        elif op == "NONE":
            stack.append(None)
        elif op == "GLOBAL":
            module, _, attr = str(arg).partition(" ")
            stack.append(_Global(module, attr))
        elif op == "STACK_GLOBAL":
            attr, module = pop(), pop()
            stack.append(_Global(str(module), str(attr)))
        elif op == "EMPTY_TUPLE":
            stack.append(())
        elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
            items = [pop() for _ in range(int(op[-1]))]
            stack.append(tuple(reversed(items)))
        elif op == "TUPLE":
            stack.append(tuple(_pop_to_mark(stack)))
        elif op == "EMPTY_LIST":
            stack.append([])
        elif op == "LIST":
            stack.append(_pop_to_mark(stack))
        elif op == "APPEND":
            value = pop()
            if stack and isinstance(stack[-1], list):
                stack[-1].append(value)
        elif op == "APPENDS":
            items = _pop_to_mark(stack)
            if stack and isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif op == "BINPERSID":
            pids.append(pop())
            stack.append(None)
        elif op == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(str(arg))] = stack[-1] if stack else None
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(int(str(arg))))
        elif op == "POP":
            pop()
        elif op == "POP_MARK":
            _pop_to_mark(stack)
        elif op == "DUP":
            stack.append(stack[-1] if stack else None)
        else:  # anything else: its effect on the stack's shape, with opaque values
            before = opcode.stack_before
            if pickletools.markobject in before:
                _pop_to_mark(stack)
                for _ in range(before.index(pickletools.markobject)):
                    pop()
            else:
                for _ in before:
                    pop()
            stack.extend(None for _ in opcode.stack_after)
    raise _CannotTell


def _element_size(storage_type: Any) -> int | None:
    if not isinstance(storage_type, _Global):
        return None
    if storage_type == ("torch.storage", "UntypedStorage"):
        return 1
    if storage_type.module == "torch" and storage_type.name.endswith("Storage"):
        return _ELEMENT_SIZES.get(storage_type.name[: -len("Storage")])
    return None


def _check_legacy_storages(stream: IO[bytes], name: str) -> None:
    """A legacy checkpoint is its pickles, then each storage's data (an int64 element count
    and the elements), in the order of the last pickle's keys: refuse a file whose data ends
    before that, which ``torch.load`` would fail on ("unexpected EOF"). Layouts this does
    not understand are not refused (the pickles were checked already)."""
    try:
        for _ in range(3):  # magic number, protocol, system info
            _run_values(stream)
        pids, _ = _run_values(stream)
        _, keys = _run_values(stream)
        sizes: dict[str, int] = {}
        for pid in pids:
            if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
                raise _CannotTell
            element = _element_size(pid[1])
            if element is None or not isinstance(pid[2], str):
                raise _CannotTell
            sizes[str(pid[2])] = element
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise _CannotTell
    except (_CannotTell, ValueError, TypeError, IndexError):
        return
    position = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    for key in keys:
        element = sizes.get(key)
        if element is None:
            return
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            raise _damaged(name, f"it is truncated: the data of storage {key!r} is missing")
        (count,) = struct.unpack("<q", header)
        if count < 0:
            return
        position += 8 + count * element
        if position > end:
            raise _damaged(
                name,
                f"it is truncated: its tensor data ends {position - end} bytes early "
                f"(at {end} of at least {position} bytes)",
            )


#: files found clean, by identity (device, inode, size, mtime, ctime): a file replaced or
#: written since is another key, so it is checked again
_CLEAN: set[tuple[int, ...]] = set()


def _identity(stream: IO[bytes]) -> tuple[int, ...]:
    info = os.fstat(stream.fileno())
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _check_open_file(stream: IO[bytes], name: str) -> None:
    key = _identity(stream)
    if key not in _CLEAN:
        check_stream(stream, name)
        _CLEAN.add(key)


def check_file(path: str | Path) -> None:
    """Refuse (:class:`~tvcompat.errors.UnsafeWeightsFileError`) a file that references
    anything outside :data:`ALLOWED_GLOBALS`; a file that cannot be read raises ``OSError``."""
    with open(path, "rb") as stream:
        _check_open_file(stream, Path(path).name)


class _Restricted(pickle.Unpickler):
    """Resolves nothing outside :data:`ALLOWED_GLOBALS` (a mapped load's second line)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise _refuse("a mapped file", f"it references {module}.{name}")
        return super().find_class(module, name)


class _RestrictedPickle:
    """What ``torch.load(pickle_module=...)`` uses of the ``pickle`` module."""

    Unpickler = _Restricted
    __name__ = "tvcompat_restricted_pickle"


def _mapped_path(stream: IO[bytes]) -> str | None:
    """``/proc/self/fd/N`` (the very file ``stream`` has open) if it can be mapped: a zip
    checkpoint (all ``mmap=True`` reads) where such paths exist. Else ``None``: copy."""
    if not capabilities().torch_load_mmap:
        return None
    start = stream.tell()
    try:
        is_zip = zipfile.is_zipfile(stream)
    finally:
        stream.seek(start)
    proc = f"/proc/self/fd/{stream.fileno()}"
    return proc if is_zip and os.path.exists(proc) else None


def load_checked(path: str | Path, map_location: Any = None, *, mmap: bool = False) -> Any:
    """Check ``path`` and load it from the same open file (so that it cannot be swapped in
    between), with ``weights_only=True`` where the installed torch has it.

    The check is the guarantee; ``weights_only`` is a second line. Where the installed
    torch's own allow-list is narrower than the official files need (quantized tensors on
    torch 1.13 to 2.x), the checked file is loaded without it.

    With ``mmap=True`` (torch >= 2.1) a zip checkpoint is mapped, privately, through the
    checked descriptor (``/proc/self/fd``; elsewhere a copy is loaded), and unpickled by
    one that resolves only :data:`ALLOWED_GLOBALS` (C speed; torch's ``weights_only`` one
    is slower than the build). The mapping keeps the data alive: replacing the file by a
    rename (every tvcompat download) or removing it leaves the tensors unchanged. A file
    found clean is not scanned again while it is the same file (inode, size, times).
    """
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    with open(path, "rb") as stream:
        _check_open_file(stream, Path(path).name)
        mapped = _mapped_path(stream) if mmap else None
        if mapped is not None:
            return torch.load(
                mapped,
                map_location=map_location,
                pickle_module=_RestrictedPickle,
                weights_only=False,  # (the restricted unpickler is the second line here)
                mmap=True,
            )
        if capabilities().torch_load_weights_only:
            try:
                with warnings.catch_warnings():  # torch 2.0/2.1's own unpickler uses the
                    warnings.filterwarnings(  # TypedStorage it deprecates: not the caller's
                        "ignore", message="TypedStorage is deprecated", category=UserWarning
                    )
                    return torch.load(stream, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError:
                stream.seek(0)
        return torch.load(stream, map_location=map_location)
