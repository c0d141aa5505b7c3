"""What flows see of the machine's environment: Kestra's ``envs`` and a task process's variables.

Kestra maps every variable that starts with ``kestra.variables.env-vars-prefix`` (default
``KESTRA_``) into ``{{ envs.<name> }}`` (prefix stripped, lower-cased). The same prefix carries
our own settings (the PostgreSQL password, the S3 secret key, reviewers' passwords, the inline
configuration…), which every process we start receives. Those are infrastructure credentials,
never flow data: :data:`OWN_SETTINGS` names them (exact names and prefixes) and they are left
out of ``envs`` and out of the environment a script task's process inherits.

``KESTRA_VARIABLES_ENV_VARS_PREFIX`` (set from ``kestra.variables.env-vars-prefix`` by the
server) changes the prefix, as in Kestra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

PREFIX_ENV = "KESTRA_VARIABLES_ENV_VARS_PREFIX"
DEFAULT_PREFIX = "KESTRA_"

# Our own settings: never flow data. A test scans the sources for KESTRA_* names and fails when
# one is not covered here, so a new setting cannot leak by accident.
OWN_SETTINGS_PREFIXES: tuple[str, ...] = (
    "KESTRA_SECRET",             # secrets (KESTRA_SECRET_X) and KESTRA_SECRETS_DIR
    "KESTRA_CONFIG",             # KESTRA_CONFIGURATION (inline YAML with passwords), KESTRA_CONFIG_FILE
    "KESTRA_DAGSTER_",           # instance settings (KESTRA_DAGSTER_PG_PASSWORD…)
    "KESTRA_STORAGE_",           # internal storage (KESTRA_STORAGE_S3_SECRET_KEY…)
    "KESTRA_APPROVAL",           # reviewers and their passwords
    "KESTRA_FRONT",              # front door settings
    "KESTRA_INTAKE",             # webhook intake settings
    "KESTRA_WEBHOOK",            # webhook settings
    "KESTRA_SERVER",             # server settings
    "KESTRA_BASIC_AUTH",         # basic-auth credentials
    "KESTRA_AUTH",               # any authentication setting
    "KESTRA_ENCRYPTION",         # the key that encrypts secret outputs at rest
    "KESTRA_VARIABLES_",         # this module's own setting
    "KESTRA_PLUGINS_PATH",
    "KESTRA_SCRIPTS_",           # script-task settings (KESTRA_SCRIPTS_DEFAULT_TASK_RUNNER)
)
OWN_SETTINGS_NAMES: frozenset[str] = frozenset({
    "KESTRA_FLOWS_DIR", "KESTRA_STEP_TAG", "KESTRA_TASKS_TMP_DIR", "KESTRA_SENSOR_LOOP_SECONDS",
    "KESTRA_RUN_WORKER_START", "KESTRA_HELPER", "KESTRA_CODE_SERVER", "KESTRA_TRIVY_BIN",
    "KESTRA_DOCKER_CLI", "KESTRA_COMPOSE_BIN", "KESTRA_GIT_KNOWN_HOSTS", "KESTRA_PYTHON_DEPS_CACHE",
    "KESTRA_NAMESPACE_FILES_DIR", "KESTRA_CONCURRENCY_QUEUE_TIMEOUT", "KESTRA_DAGSTER_SUPERVISOR",
    "KESTRA_DAGSTER_UI_URL",
    # what script tasks hand the ``kestra`` helper libraries (set in the task's own process)
    "KESTRA_CONTEXT", "KESTRA_EXECUTION_CONTEXT_FILE", "KESTRA_OUTPUTS_MODE",
})


def is_own_setting(name: str) -> bool:
    """True for a variable that configures kestra-dagster itself (never shown to flows)."""
    upper = name.upper()
    return upper in OWN_SETTINGS_NAMES or upper.startswith(OWN_SETTINGS_PREFIXES)


def env_vars_prefix(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(PREFIX_ENV) or DEFAULT_PREFIX


def kestra_envs(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Kestra's ``envs``: variables with the prefix, prefix stripped, lower-cased; our settings excluded."""
    environ = os.environ if environ is None else environ
    prefix = env_vars_prefix(environ)
    return {k[len(prefix):].lower(): v for k, v in environ.items()
            if k.startswith(prefix) and len(k) > len(prefix) and not is_own_setting(k)}


def task_process_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a task's process starts from: this machine's, without our own settings."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not is_own_setting(k)}
