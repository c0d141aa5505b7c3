"""The Kestra 1.x set reuses the plugin tests' real peers: the HTTP receiver and aiosmtpd."""

from plugins.conftest import receiver, smtp_server  # noqa: F401 - fixtures for this directory
