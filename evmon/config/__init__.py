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

from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

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

#: The submodule that defines each public name.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    globals(),
    {
        "contexts": [
            "ENV_CONTEXT",
            "ENV_NATS_CONTEXT",
            "ENV_NATS_URL",
            "NATS_DEFAULT_URL",
            "Context",
            "Warn",
            "config_home",
            "default_nats_context",
            "evmon_config_path",
            "find_context",
            "list_natscli_contexts",
            "load_evmon_contexts",
            "load_natscli_context",
            "natscli_context_dir",
            "natscli_selected_path",
            "natscli_selection",
            "selected_context",
        ],
        "resolve": [
            "DEFAULT_RECONNECT_DEADLINE",
            "ENV_KAFKA_PASSWORD",
            "ENV_NATS_PASSWORD",
            "ENV_NATS_TOKEN",
            "ConnectionFlags",
            "kafka_settings_from",
            "nats_settings_from",
        ],
        "settings": [
            "KAFKA_SASL_MECHANISMS",
            "KAFKA_SECURITY_PROTOCOLS",
            "MASK",
            "KafkaSettings",
            "NatsSettings",
            "redact",
        ],
    },
)
