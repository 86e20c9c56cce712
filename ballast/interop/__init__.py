"""Reading models written by other libraries, without executing code from their files."""

from ballast.interop.sb3 import import_sb3
from ballast.interop.torch_zip import read_torch_zip

__all__ = ["import_sb3", "read_torch_zip"]
