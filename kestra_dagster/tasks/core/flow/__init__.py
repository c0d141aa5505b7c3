"""Flowable tasks: ``io.kestra.plugin.core.flow.*`` (control flow around child tasks)."""
