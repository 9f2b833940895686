"""The host agent: the only part of the platform that talks to a Docker Engine."""

__version__ = "0.1.0"
