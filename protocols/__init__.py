"""Swappable local-remote collaboration strategies; see :mod:`minions.protocol`."""

from minions.protocol import Protocol, ProtocolConfig, available, describe_options, get_protocol

__all__ = ["Protocol", "ProtocolConfig", "available", "describe_options", "get_protocol"]
