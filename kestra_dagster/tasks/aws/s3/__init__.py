"""S3 object tasks (``io.kestra.plugin.aws.s3.*``): one module per Kestra type."""
