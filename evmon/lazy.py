"""Lazy package roots (PEP 562): re-export public names, load a submodule on first use.

A package root that imported its submodules eagerly would make ``from evmon.codec import
parse_timestamp`` load orjson, and ``import evmon.tui.format`` load Textual and the app.
Each such root says which submodule holds which name and lets this build its module
``__getattr__`` and ``__dir__``::

    __getattr__, __dir__, __all__ = lazy_exports(
        __name__, globals(), {"timestamps": ["parse_timestamp"], "record": ["encode_record"]}
    )

A name may be exported under another name: ``("KAFKA_GROUPS", "GROUPS")`` in the list of
``kafka`` exports ``kafka.GROUPS`` as ``KAFKA_GROUPS``. The root keeps its
``TYPE_CHECKING`` imports, which are what mypy reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    homes: Mapping[str, Iterable[str | tuple[str, str]]],
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of the package ``package`` whose
    globals are ``namespace``; ``homes`` maps a submodule to the names it defines."""
    where: dict[str, tuple[str, str]] = {}
    for module, names in homes.items():
        for entry in names:
            public, attr = (entry, entry) if isinstance(entry, str) else entry
            where[public] = (module, attr)

    def __getattr__(name: str) -> Any:
        home = where.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = home
        value = getattr(importlib.import_module(f"{package}.{module}"), attr)
        namespace[name] = value  # found once; later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__, sorted(where)
