"""The configuration file's schema: the keys we accept, 1:1, as pydantic models with kebab-case
aliases, and the translation of pydantic's errors into ``ConfigError``s that point at the YAML.

``config.py`` kebab-cases every key first (Micronaut's relaxed binding: ``basicAuth``,
``basic_auth`` and ``basic-auth`` are one key), so the aliases here are the kebab-case names.
Values follow Kestra's YAML: booleans as ``true``/``false`` (or those strings, as placeholders
render them), strings also from numbers, integers also from digit strings. Rules that span keys
(a datasource needed by ``kestra.queue.type: postgres``, S3 keys that go together…) stay in
``config.parse_config``; this module answers "is every key known and of the right kind".
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Callable, Mapping

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from kestra_dagster.errors import KestraDagsterError

MASK = "******"
#: A dotted configuration path → (source, line, column) where its key is written.
Locations = Mapping[str, tuple[str, int, int]]


class ConfigError(KestraDagsterError, ValueError):
    """The configuration is invalid or asks for something we do not support."""


def is_secret_key(path: str) -> bool:
    last = path.rsplit(".", 1)[-1]
    return any(last == w or last.endswith("-" + w) for w in ("password", "secret-key", "access-key", "token", "secret"))


def shown(path: str, value: Any) -> str:
    """``value`` as an error message may show it: never the value of a secret key."""
    return MASK if is_secret_key(path) else repr(value)


# --------------------------------------------------------------------------- value kinds
def _flag(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _text(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("expected an integer") from None


Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]
Integer = Annotated[int, BeforeValidator(_integer)]


class Section(BaseModel):
    """A mapping of the file: unknown keys are errors; fields are written kebab-case."""

    model_config = ConfigDict(extra="forbid", alias_generator=lambda name: name.replace("_", "-"),
                              populate_by_name=True, frozen=True, defer_build=True)


# --------------------------------------------------------------------------- the tree
class PostgresDatasource(Section):
    url: Text | None = None
    username: Text | None = None
    password: Text | None = None
    driver_class_name: Text | None = None
    maximum_pool_size: Integer | None = None


class Datasources(Section):
    postgres: PostgresDatasource | None = None


class Backend(Section):
    """``kestra.repository`` / ``kestra.queue``: only which kind (it must match the datasource)."""

    type: Text | None = None


class BasicAuth(Section):
    enabled: Flag = False
    username: Text = ""
    password: Text = ""
    realm: Text = "kestra-dagster"
    open_urls: Any = None


class Server(Section):
    basic_auth: BasicAuth | None = None


class LocalStorage(Section):
    base_path: Text | None = None


class S3Storage(Section):
    bucket: Text | None = None
    endpoint: Text | None = None
    region: Text | None = None
    access_key: Text | None = None
    secret_key: Text | None = None


class Storage(Section):
    type: Text = "local"
    local: LocalStorage = LocalStorage()
    s3: S3Storage = S3Storage()


class TmpDir(Section):
    path: Text | None = None


class Scripts(Section):
    default_task_runner: Text | None = None


class Tasks(Section):
    tmp_dir: TmpDir = TmpDir()
    scripts: Scripts = Scripts()


class Variables(Section):
    env_vars_prefix: Text | None = None


class SecretFile(Section):
    path: Text | None = None


class Secret(Section):
    type: Text = "env"
    file: SecretFile | None = None
    env: Any = None


class Encryption(Section):
    secret_key: Text | None = None


class Webhooks(Section):
    max_body_bytes: Integer | None = None
    max_pending: Integer | None = None
    max_json_depth: Integer | None = None


class Reviewer(Section):
    username: Text = ""
    password: Text = ""


class Approvals(Section):
    users: list[Reviewer] = []


class Kestra(Section):
    repository: Backend = Backend()
    queue: Backend = Backend()
    server: Server = Server()
    storage: Storage | None = None
    tasks: Tasks = Tasks()
    secret: Secret | None = None
    webhooks: Webhooks = Webhooks()
    approvals: Approvals = Approvals()
    url: Text | None = None
    encryption: Encryption = Encryption()
    variables: Variables = Variables()


class MicronautServer(Section):
    port: Integer | None = None


class Micronaut(Section):
    server: MicronautServer = MicronautServer()


class ConfigFile(Section):
    """The whole file (or ``$KESTRA_CONFIGURATION``), after kebab-casing and placeholders."""

    datasources: Datasources = Datasources()
    kestra: Kestra = Kestra()
    micronaut: Micronaut = Micronaut()
    #: Dagster's own instance settings, merged last into the generated ``dagster.yaml`` (verbatim).
    dagster: dict[str, Any] | None = None


#: Keys people bring from Kestra that we refuse with a reason rather than a list.
HINTS: dict[str, str] = {
    "endpoints": "Micronaut management endpoints are not served; use /health",
    "datasources.h2": "the embedded default is SQLite under DAGSTER_HOME; remove datasources.h2",
    "datasources.mysql": "MySQL is not supported by kestra-dagster yet (use datasources.postgres)",
    "kestra.ee": "Kestra Enterprise settings are not supported",
    "kestra.kafka": "Kafka is a Kestra Enterprise feature; kestra-dagster queues runs in the Dagster database",
    "kestra.elasticsearch": "Elasticsearch is a Kestra Enterprise feature; kestra-dagster stores executions in "
                            "the Dagster database",
    "kestra.plugins": "task plugins are Python packages registered through the kestra_dagster.plugins entry point",
    "kestra.storage.gcs": "GCS storage is not supported (use local or s3)",
    "kestra.storage.azure": "Azure storage is not supported (use local or s3)",
    "kestra.storage.minio": "use kestra.storage.type: s3 with kestra.storage.s3.endpoint for MinIO",
}


# --------------------------------------------------------------------------- locations
def yaml_locations(text: str, source: str, kebab: Callable[[str], str]) -> dict[str, tuple[str, int, int]]:
    """Where each key of the YAML ``text`` is written, by its dotted path after kebab-casing (dotted
    keys expanded as ``config`` does); empty when the text does not parse (the parser says why)."""
    found: dict[str, tuple[str, int, int]] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return found

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                parts = [kebab(p) for p in str(key_node.value).split(".")]
                for i in range(1, len(parts) + 1):
                    sub = ".".join(filter(None, [path, *parts[:i]]))
                    found[sub] = (source, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                walk(value_node, ".".join(filter(None, [path, *parts])))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found[f"{path}[{i}]"] = (source, item.start_mark.line + 1, item.start_mark.column + 1)
                walk(item, f"{path}[{i}]")

    if root is not None:
        walk(root, "")
    return found


def located(path: str, message: str, locations: Locations | None) -> str:
    """``message`` prefixed with ``source:line:column`` of ``path`` (or its nearest written parent)."""
    if locations:
        probe = path
        while probe:
            if probe in locations:
                source, line, column = locations[probe]
                return f"{source}:{line}:{column}: {message}"
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
    return message


# --------------------------------------------------------------------------- errors
def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The kebab-case keys the section at ``loc`` (ending with the unknown key) accepts."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for name, f in current.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            inner = getattr(candidate, "__args__", (candidate,))
            found = next((c for c in (candidate, *inner) if isinstance(c, type) and issubclass(c, BaseModel)), None)
            if found is not None:
                current = found
                break
        else:
            return []
    return sorted(f.alias or name for name, f in current.model_fields.items())


def schema_error(exc: ValidationError, locations: Locations | None) -> ConfigError:
    """Every problem pydantic found, one per line, each naming the key, its place in the YAML and
    what to do (never a secret's value)."""
    return ConfigError("\n".join(_problem(error, locations) for error in exc.errors()))


def _problem(error: Any, locations: Locations | None) -> str:
    path = _dotted(tuple(error["loc"]))
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        hint = HINTS.get(path)
        message = f"unsupported configuration key '{path}'"
        if hint:
            message += f": {hint}"
        else:
            allowed = _allowed_keys(ConfigFile, tuple(error["loc"]))
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
            if close:
                message += f": did you mean '{close[0]}'?"
            message += f" (supported under '{parent or '<root>'}': {', '.join(allowed)})"
        return located(path, message, locations)
    reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error["type"] in ("model_type", "dict_type"):
        reason = f"expected a mapping, got {type(error.get('input')).__name__}"
    elif error["type"] == "list_type":
        reason = f"expected a list, got {type(error.get('input')).__name__}"
    elif "input" in error and error["type"] != "missing":
        reason += f", got {shown(path, error['input'])}" if not isinstance(error["input"], (dict, list)) else ""
    return located(path, f"{path}: {reason}", locations)


def validate_tree(tree: dict, locations: Locations | None = None) -> ConfigFile:
    try:
        return ConfigFile.model_validate(tree)
    except ValidationError as exc:
        raise schema_error(exc, locations) from None
