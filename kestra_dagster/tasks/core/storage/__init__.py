"""``io.kestra.plugin.core.storage.*``: files in the execution's internal storage (``kestra://``)."""
