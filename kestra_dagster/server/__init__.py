"""Production server: ``server standalone`` (supervisor + front door with basic auth and /health).

See ``app`` for the commands, ``supervisor`` for process handling, ``front`` for auth and
proxying, ``health`` for ``/health``, ``intake`` for the webhook/approval integration point.
"""
