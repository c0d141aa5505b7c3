"""Flow ``inputs``: one model per Kestra input type (``io.kestra.core.models.flows.input.*``).

Each model can ``coerce(raw)`` a value given at launch time into its typed form, raising
ValueError with a message that says what was expected; the engine uses it to reject bad inputs
before any task runs.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar, Iterable, Literal, Union
from urllib.parse import urlparse

import yaml
from pydantic import Field, field_validator, model_validator

from kestra_dagster.model.common import KestraModel, is_dynamic, parse_duration

INPUT_ID_PATTERN = r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$"


class InputDependsOn(KestraModel):
    inputs: list[str] = Field(default_factory=list)
    condition: str | None = None


class _Input(KestraModel):
    id: str = Field(pattern=INPUT_ID_PATTERN)
    type: str
    description: str | None = None
    displayName: str | None = None
    required: bool = True
    defaults: Any = None
    prefill: Any = None
    dependsOn: InputDependsOn | None = None
    name: str | None = None  # deprecated alias of id in old flows

    @model_validator(mode="before")
    @classmethod
    def _name_is_old_id(cls, data: Any) -> Any:
        # Flows from Kestra < 0.15 name inputs with `name`; it is the id.
        if isinstance(data, dict) and "id" not in data and isinstance(data.get("name"), str):
            data = {**data, "id": data["name"]}
        return data

    #: The Python type the Dagster Launchpad should show (str when the value is free text).
    launchpad_type: ClassVar[type] = str

    def coerce(self, value: Any) -> Any:
        return value


class StringInput(_Input):
    type: Literal["STRING"]
    validator: str | None = None

    @field_validator("validator")
    @classmethod
    def _regex_compiles(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"validator is not a valid regular expression: {exc}") from None
        return v

    def coerce(self, value: Any) -> Any:
        value = value if isinstance(value, str) else str(value)
        if self.validator and not re.fullmatch(self.validator, value):
            raise ValueError(f"it must match the pattern {self.validator!r}")
        return value


class SecretInput(StringInput):
    type: Literal["SECRET"]  # type: ignore[assignment]


class EnumInput(_Input):
    type: Literal["ENUM"]
    values: list[str]

    def coerce(self, value: Any) -> Any:
        if str(value) not in self.values:
            raise ValueError(f"it must be one of {self.values}")
        return str(value)


class SelectInput(_Input):
    type: Literal["SELECT"]
    values: list[str] | None = None
    expression: str | None = None
    allowCustomValue: bool = False
    isRadio: bool = False

    def coerce(self, value: Any) -> Any:
        if self.values and not self.allowCustomValue and str(value) not in self.values:
            raise ValueError(f"it must be one of {self.values}")
        return str(value)


class MultiselectInput(_Input):
    type: Literal["MULTISELECT"]
    values: list[str] | None = None
    options: list[str] | None = None  # deprecated name
    expression: str | None = None
    itemType: str | None = None
    allowCustomValue: bool = False
    launchpad_type: ClassVar[type] = list

    def coerce(self, value: Any) -> Any:
        items = _as_list(value)
        allowed = self.values or self.options
        if allowed and not self.allowCustomValue:
            bad = [v for v in items if str(v) not in allowed]
            if bad:
                raise ValueError(f"{bad} not in the allowed values {allowed}")
        return [str(v) for v in items]


class _MinMax(_Input):
    min: Any = None
    max: Any = None

    def _bounds(self, value, conv):
        if self.min is not None and value < conv(self.min):
            raise ValueError(f"it must be at least {self.min}")
        if self.max is not None and value > conv(self.max):
            raise ValueError(f"it must be at most {self.max}")
        return value


class IntInput(_MinMax):
    type: Literal["INT"]
    launchpad_type: ClassVar[type] = int

    def coerce(self, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("expected an integer")
        try:
            number = int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
        return self._bounds(number, int)


class FloatInput(_MinMax):
    type: Literal["FLOAT"]
    launchpad_type: ClassVar[type] = float

    def coerce(self, value: Any) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        return self._bounds(number, float)


class DurationInput(_MinMax):
    type: Literal["DURATION"]

    def coerce(self, value: Any) -> Any:
        parsed = parse_duration(value)
        self._bounds(parsed, parse_duration)
        return value


class BooleanInput(_Input):
    type: Literal["BOOLEAN", "BOOL"]
    launchpad_type: ClassVar[type] = bool

    def coerce(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")


class JsonInput(_Input):
    type: Literal["JSON"]

    def coerce(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected JSON: {exc}") from None
        return value


class YamlInput(_Input):
    type: Literal["YAML"]

    def coerce(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise ValueError(f"expected YAML: {exc}") from None
        return value


class ArrayInput(_Input):
    type: Literal["ARRAY"]
    itemType: Literal[
        "STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "DATETIME", "DATE", "TIME", "DURATION", "JSON", "URI", "EMAIL", "SECRET", "YAML"
    ]
    launchpad_type: ClassVar[type] = list

    def coerce(self, value: Any) -> Any:
        item_model = INPUT_TYPES[self.itemType].model_construct(id=self.id, type=self.itemType)
        return [item_model.coerce(v) for v in _as_list(value)]


class UriInput(_Input):
    type: Literal["URI"]

    def coerce(self, value: Any) -> Any:
        parsed = urlparse(str(value))
        if not parsed.scheme:
            raise ValueError(f"expected a URI with a scheme, got {value!r}")
        return str(value)


class EmailInput(_Input):
    type: Literal["EMAIL"]

    def coerce(self, value: Any) -> Any:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(value)):
            raise ValueError(f"expected an e-mail address, got {value!r}")
        return str(value)


class _Temporal(_Input):
    after: Any = None
    before: Any = None
    _parse: ClassVar[Any] = None

    def coerce(self, value: Any) -> Any:
        parsed = self._parse_value(value)
        if self.after is not None and parsed <= self._parse_value(self.after):
            raise ValueError(f"it must be after {self.after}")
        if self.before is not None and parsed >= self._parse_value(self.before):
            raise ValueError(f"it must be before {self.before}")
        return value if isinstance(value, str) else parsed.isoformat()

    def _parse_value(self, value):
        raise NotImplementedError


class DateTimeInput(_Temporal):
    type: Literal["DATETIME"]

    def _parse_value(self, value):
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expected an ISO-8601 date-time such as 2024-01-31T10:00:00Z, got {value!r}") from None


class DateInput(_Temporal):
    type: Literal["DATE"]

    def _parse_value(self, value):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"expected a date such as 2024-01-31, got {value!r}") from None


class TimeInput(_Temporal):
    type: Literal["TIME"]

    def _parse_value(self, value):
        if isinstance(value, time):
            return value
        try:
            return time.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"expected a time such as 10:15:00, got {value!r}") from None


class FileInput(_Input):
    type: Literal["FILE"]
    extension: str | None = None
    allowedFileExtensions: list[str] | None = None

    @model_validator(mode="after")
    def _no_defaults(self):
        if self.defaults is not None:
            raise ValueError("a FILE input cannot have defaults; give the file when launching")
        return self


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected a JSON array: {exc}") from None
            if isinstance(loaded, list):
                return loaded
        return [v.strip() for v in text.split(",")] if text else []
    raise ValueError(f"expected a list, got {value!r}")


Input = Annotated[
    Union[
        StringInput, SecretInput, EnumInput, SelectInput, MultiselectInput, IntInput, FloatInput,
        DurationInput, BooleanInput, JsonInput, YamlInput, ArrayInput, UriInput, EmailInput,
        DateTimeInput, DateInput, TimeInput, FileInput,
    ],
    Field(discriminator="type"),
]

INPUT_TYPES: dict[str, type[_Input]] = {
    "STRING": StringInput, "SECRET": SecretInput, "ENUM": EnumInput, "SELECT": SelectInput,
    "MULTISELECT": MultiselectInput, "INT": IntInput, "FLOAT": FloatInput, "DURATION": DurationInput,
    "BOOLEAN": BooleanInput, "BOOL": BooleanInput, "JSON": JsonInput, "YAML": YamlInput,
    "ARRAY": ArrayInput, "URI": UriInput, "EMAIL": EmailInput, "DATETIME": DateTimeInput,
    "DATE": DateInput, "TIME": TimeInput, "FILE": FileInput,
}


def input_prefixes(ids: Iterable[str]) -> set[str]:
    """Every proper prefix of dotted input ids: ``{"request"}`` for ``request.name`` (a dotted id
    nests, as Kestra's ``{{ inputs.request.name }}``)."""
    found: set[str] = set()
    for input_id in ids:
        parts = input_id.split(".")
        found.update(".".join(parts[:k]) for k in range(1, len(parts)))
    return found


def conditional_inputs(inputs: list) -> set[str]:
    """Ids of inputs a ``dependsOn.condition`` may disable, directly or through an input they
    depend on: such inputs are never required up front (Kestra does not ask for them)."""
    by_id = {i.id: i for i in inputs}
    found: set[str] = set()

    def may_be_disabled(input_id: str, seen: frozenset) -> bool:
        inp = by_id.get(input_id)
        if inp is None or inp.dependsOn is None or input_id in seen:
            return False
        if inp.dependsOn.condition is not None:
            return True
        return any(may_be_disabled(d, seen | {input_id}) for d in inp.dependsOn.inputs)

    for inp in inputs:
        if may_be_disabled(inp.id, frozenset()):
            found.add(inp.id)
    return found


def coerce_default(inp: _Input) -> Any:
    """Validate a declared default at load time (dynamic defaults are checked at run time)."""
    if inp.defaults is None or is_dynamic(inp.defaults):
        return inp.defaults
    return inp.coerce(inp.defaults)
