"""Reading a ``torch.save`` file (zip format) holding a dict of tensors, without unpickling.

A ``torch.save`` zip holds ``<name>/data.pkl``, a pickle program that describes the container
(e.g. an ``OrderedDict`` of tensors built by ``torch._utils._rebuild_tensor_v2``), and one raw
little-endian storage per tensor in ``<name>/data/<key>``. Running that pickle program would
execute whatever callables it names. Here it is never run: :func:`pickletools.genops` only
decodes its opcodes, and a small interpreter below understands the handful of opcodes and the
four globals that a state dict needs. Anything else (another global, an unknown opcode) makes
the file unreadable with :class:`ballast.errors.CheckpointError`; nothing in the file is executed.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from typing import Any

import numpy as np
import torch

from ballast.errors import CheckpointError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_MARK = object()


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"


class _StorageRef:
    def __init__(self, dtype: type, key: str, numel: int) -> None:
        self.dtype, self.key, self.numel = dtype, key, numel


def _pop_mark(stack: list[Any]) -> list[Any]:
    items = []
    while True:
        item = stack.pop()
        if item is _MARK:
            return items[::-1]
        items.append(item)


def _global(text: str) -> _Global:
    module, _, name = text.partition(" ")
    return _Global(module, name)


def _interpret(program: bytes, storages: dict[str, bytes]) -> Any:
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    for opcode, arg, _ in pickletools.genops(program):
        name = opcode.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack.pop()
        if name == "MARK":
            stack.append(_MARK)
        elif name in ("EMPTY_DICT",):
            stack.append({})
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("BINUNICODE", "SHORT_BINUNICODE", "UNICODE", "BINUNICODE8", "BININT", "BININT1", "BININT2",
                      "LONG1", "BINFLOAT", "SHORT_BINSTRING", "BINSTRING"):
            stack.append(arg)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name == "NONE":
            stack.append(None)
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack)))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "GLOBAL":
            stack.append(_global(arg))
        elif name == "STACK_GLOBAL":
            attr, module = stack.pop(), stack.pop()
            stack.append(_Global(module, attr))
        elif name == "BINPERSID":
            stack.append(_persistent(stack.pop()))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            stack.append(_call(func, args, storages))
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = _pop_mark(stack)
            target = stack[-1]
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            items = _pop_mark(stack)
            stack[-1].extend(items)
        elif name == "BUILD":
            stack.pop()  # object state (e.g. an OrderedDict's _metadata): not needed for the tensors
        else:
            raise CheckpointError(f"the tensor file uses the pickle opcode {name}, which a state dict does not need")
    raise CheckpointError("the tensor file's pickle program has no STOP")


def _persistent(pid: Any) -> _StorageRef:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Global)):
        raise CheckpointError(f"unexpected persistent id {pid!r} in the tensor file")
    storage_type = pid[1]
    if storage_type.module != "torch" or storage_type.name not in _STORAGE_DTYPES:
        raise CheckpointError(f"unsupported storage type {storage_type.path} in the tensor file")
    return _StorageRef(_STORAGE_DTYPES[storage_type.name], str(pid[2]), int(pid[4]))


def _call(func: Any, args: tuple, storages: dict[str, bytes]) -> Any:
    if not isinstance(func, _Global):
        raise CheckpointError("the tensor file calls something that is not a known global")
    if func.path == "collections.OrderedDict":
        return {}
    if func.path == "torch._utils._rebuild_tensor_v2":
        storage, offset, size, stride = args[0], int(args[1]), tuple(args[2]), tuple(args[3])
        if not isinstance(storage, _StorageRef) or storage.key not in storages:
            raise CheckpointError("a tensor in the file refers to a storage that is missing")
        flat = np.frombuffer(storages[storage.key], dtype=storage.dtype, count=storage.numel)
        itemsize = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[s * itemsize for s in stride])
        return torch.from_numpy(np.array(view))
    raise CheckpointError(
        f"the tensor file names {func.path}, which a plain state dict never uses; it was not run"
    )


def read_torch_zip(data: bytes) -> dict[str, Any]:
    """The dict of tensors in a ``torch.save`` zip, read without executing anything from it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                raise CheckpointError("not a torch.save zip: no data.pkl inside")
            prefix = pickles[0][: -len("data.pkl")]
            storages = {n[len(prefix) + len("data/"):]: zf.read(n) for n in names
                        if n.startswith(prefix + "data/")}
            program = zf.read(pickles[0])
    except zipfile.BadZipFile as err:
        raise CheckpointError(f"the tensor file is not a readable zip ({err})") from None
    result = _interpret(program, storages)
    if not isinstance(result, dict):
        raise CheckpointError(f"the tensor file holds a {type(result).__name__}, not a dict of tensors")
    return result
