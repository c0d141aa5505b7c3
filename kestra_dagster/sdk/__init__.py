"""The plugin SDK: what a task family needs besides the task contract (see ``kestra_dagster.sdk``)."""
