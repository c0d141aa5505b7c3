"""Task implementations, one package per plugin family (core, scripts, docker…)."""
