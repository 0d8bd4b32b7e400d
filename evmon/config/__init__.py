"""Connection settings for each broker, built from flags, the environment and contexts.

- ``settings``: ``NatsSettings`` and ``KafkaSettings`` (what the sources take), ``redact``.
- ``contexts``: evmon's contexts file and natscli's context files (``Context``), and which
  one a command uses (``selected_context``: natscli's ``$NATS_CONTEXT``, ``context.txt`` and
  ``$NATS_URL`` when the command line names no server).
- ``resolve``: ``ConnectionFlags`` (a plain frozen dataclass of the connection flags) to
  settings, flags over ``EVMON_*`` variables over the context. Nothing here knows argparse:
  ``evmon.commands.common`` turns a namespace into ``ConnectionFlags``.

The package root re-exports the public names and loads a submodule when one of its names is
first used (PEP 562): a source module that only needs ``NatsSettings`` does not load the
TOML and JSON readers of the contexts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evmon.config.contexts import ENV_CONTEXT as ENV_CONTEXT
    from evmon.config.contexts import ENV_NATS_CONTEXT as ENV_NATS_CONTEXT
    from evmon.config.contexts import ENV_NATS_URL as ENV_NATS_URL
    from evmon.config.contexts import NATS_DEFAULT_URL as NATS_DEFAULT_URL
    from evmon.config.contexts import Context as Context
    from evmon.config.contexts import Warn as Warn
    from evmon.config.contexts import config_home as config_home
    from evmon.config.contexts import default_nats_context as default_nats_context
    from evmon.config.contexts import evmon_config_path as evmon_config_path
    from evmon.config.contexts import find_context as find_context
    from evmon.config.contexts import list_natscli_contexts as list_natscli_contexts
    from evmon.config.contexts import load_evmon_contexts as load_evmon_contexts
    from evmon.config.contexts import load_natscli_context as load_natscli_context
    from evmon.config.contexts import natscli_context_dir as natscli_context_dir
    from evmon.config.contexts import natscli_selected_path as natscli_selected_path
    from evmon.config.contexts import natscli_selection as natscli_selection
    from evmon.config.contexts import selected_context as selected_context
    from evmon.config.resolve import DEFAULT_RECONNECT_DEADLINE as DEFAULT_RECONNECT_DEADLINE
    from evmon.config.resolve import ENV_KAFKA_PASSWORD as ENV_KAFKA_PASSWORD
    from evmon.config.resolve import ENV_NATS_PASSWORD as ENV_NATS_PASSWORD
    from evmon.config.resolve import ENV_NATS_TOKEN as ENV_NATS_TOKEN
    from evmon.config.resolve import ConnectionFlags as ConnectionFlags
    from evmon.config.resolve import kafka_settings_from as kafka_settings_from
    from evmon.config.resolve import nats_settings_from as nats_settings_from
    from evmon.config.settings import KAFKA_SASL_MECHANISMS as KAFKA_SASL_MECHANISMS
    from evmon.config.settings import KAFKA_SECURITY_PROTOCOLS as KAFKA_SECURITY_PROTOCOLS
    from evmon.config.settings import MASK as MASK
    from evmon.config.settings import KafkaSettings as KafkaSettings
    from evmon.config.settings import NatsSettings as NatsSettings
    from evmon.config.settings import redact as redact

#: Public name -> the submodule that defines it.
_HOME = {
    "ENV_CONTEXT": "contexts",
    "ENV_NATS_CONTEXT": "contexts",
    "ENV_NATS_URL": "contexts",
    "NATS_DEFAULT_URL": "contexts",
    "Context": "contexts",
    "Warn": "contexts",
    "config_home": "contexts",
    "default_nats_context": "contexts",
    "evmon_config_path": "contexts",
    "find_context": "contexts",
    "list_natscli_contexts": "contexts",
    "load_evmon_contexts": "contexts",
    "load_natscli_context": "contexts",
    "natscli_context_dir": "contexts",
    "natscli_selected_path": "contexts",
    "natscli_selection": "contexts",
    "selected_context": "contexts",
    "DEFAULT_RECONNECT_DEADLINE": "resolve",
    "ENV_KAFKA_PASSWORD": "resolve",
    "ENV_NATS_PASSWORD": "resolve",
    "ENV_NATS_TOKEN": "resolve",
    "ConnectionFlags": "resolve",
    "kafka_settings_from": "resolve",
    "nats_settings_from": "resolve",
    "KAFKA_SASL_MECHANISMS": "settings",
    "KAFKA_SECURITY_PROTOCOLS": "settings",
    "MASK": "settings",
    "KafkaSettings": "settings",
    "NatsSettings": "settings",
    "redact": "settings",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
