"""The webhook intake: receives Kestra webhook calls and approval decisions over HTTP (``intake.app``)
and stores them in the Dagster instance, where the flows' sensors pick them up."""
