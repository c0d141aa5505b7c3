"""``io.kestra.plugin.aws.cli.*``."""
