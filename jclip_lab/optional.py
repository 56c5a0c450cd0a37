"""Import a package that only some features need, with an error that says what to install.

Example:
    >>> require("math", "math").__name__
    'math'
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, package: str, feature: str = "this feature") -> ModuleType:
    """Import ``module`` or raise an ImportError naming the pip ``package`` that provides it.

    Example:
        >>> require("not_a_module_xyz", "xyz-pkg", "flags")
        Traceback (most recent call last):
        ...
        ImportError: flags needs the package 'xyz-pkg': pip install xyz-pkg
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{feature} needs the package {package!r}: pip install {package}") from error
