"""Swappable local-remote collaboration strategies; see :mod:`protocols.base`."""

from protocols.base import Protocol, ProtocolConfig, available, describe_options, get_protocol

__all__ = ["Protocol", "ProtocolConfig", "available", "describe_options", "get_protocol"]
