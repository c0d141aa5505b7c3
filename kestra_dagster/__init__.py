"""kestra-dagster: Kestra-style YAML flows compiled into Dagster jobs."""
