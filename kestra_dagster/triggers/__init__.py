"""Trigger and condition types (the ``triggers`` plugin family) and their Dagster-side machinery.

Importing this package loads only the schema models (``TRIGGERS``, ``CONDITIONS``); the delivery
store (``store``), S3/Git pollers and the sensors built on them are imported where they are used.
"""

from kestra_dagster.triggers.conditions import CONDITIONS
from kestra_dagster.triggers.models import TRIGGERS

__all__ = ["CONDITIONS", "TRIGGERS"]
