"""Developer checks that guard the architecture (run ``python -m kestra_dagster.devtools imports``)."""
