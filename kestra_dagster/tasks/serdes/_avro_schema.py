"""Avro schemas for IonToAvro and IonToParquet: ``schema`` as given (JSON), or inferred from the
first ``numberOfRowsToScan`` rows as Kestra does; values (often CSV strings) converted to each
field's type with Kestra's ``trueValues``/``falseValues``/``nullValues`` and date formats."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from kestra_dagster.errors import TaskFailed

DEFAULT_TRUE = ["t", "true", "enabled", "1", "on", "yes"]
DEFAULT_FALSE = ["f", "false", "disabled", "0", "off", "no", ""]
DEFAULT_NULL = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "1.#IND", "1.#QNAN", "NA", "n/a",
                "nan", "null"]


class BadValue(ValueError):
    pass


def parse_schema(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        schema = text
    else:
        try:
            schema = json.loads(str(text))
        except ValueError as exc:
            raise TaskFailed(f"property 'schema' is not JSON: {exc}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
        raise TaskFailed("property 'schema' must be an Avro record schema: {\"type\": \"record\", \"name\": …, "
                         "\"fields\": [{\"name\": …, \"type\": …}]}")
    try:
        import fastavro

        fastavro.parse_schema(schema)
    except Exception as exc:  # noqa: BLE001 - fastavro's SchemaParseException and friends
        raise TaskFailed(f"property 'schema' is not a valid Avro schema: {exc}") from None
    return schema


def _infer_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, (float, Decimal)):
        return "double"
    if isinstance(value, dt.datetime):
        return {"type": "long", "logicalType": "timestamp-millis"}
    if isinstance(value, dt.date):
        return {"type": "int", "logicalType": "date"}
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        inner = next((_infer_type(v) for v in value if v is not None), "string")
        return {"type": "array", "items": ["null", inner] if inner != "null" else "string"}
    if isinstance(value, dict):
        return {"type": "map", "values": ["null", "string"]}
    return "string"


def infer_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every field nullable, typed after its first non-null value (string when unknown)."""
    fields: dict[str, Any] = {}
    for row in rows:
        for name, value in row.items():
            if value is not None and name not in fields:
                fields[name] = _infer_type(value)
            fields.setdefault(name, None)
    return {"type": "record", "name": "Record", "namespace": "io.kestra.serdes",
            "fields": [{"name": _avro_name(n), "type": ["null", t or "string"], "default": None}
                       for n, t in fields.items()]}


def _avro_name(name: str) -> str:
    import re

    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if clean and not clean[0].isdigit() else f"_{clean}"


class Converter:
    """Turns row values into what fastavro/pyarrow expect for an Avro field type."""

    def __init__(self, true_values: list[str], false_values: list[str], null_values: list[str],
                 decimal_separator: str = ".", tz: dt.tzinfo | None = None):
        self.true = {v.lower() for v in true_values}
        self.false = {v.lower() for v in false_values}
        self.null = set(null_values)
        self.decimal_separator = decimal_separator
        self.tz = tz or dt.timezone.utc

    def record(self, schema: dict[str, Any], row: dict[str, Any], strict: bool) -> dict[str, Any]:
        out = {}
        by_avro = {_avro_name(k): v for k, v in row.items()} if not strict else row
        for field in schema["fields"]:
            name = field["name"]
            value = row.get(name, by_avro.get(name))
            try:
                out[name] = self.value(field["type"], value)
            except BadValue as exc:
                raise BadValue(f"field '{name}': {exc}") from None
        if strict:
            extra = set(row) - {f["name"] for f in schema["fields"]}
            if extra:
                raise BadValue(f"field(s) {', '.join(sorted(extra))} are not in the schema (strictSchema: true)")
        return out

    def value(self, avro_type: Any, value: Any) -> Any:
        if isinstance(avro_type, list):  # union: null first when the value is null-like, else the first that fits
            if value is None or (isinstance(value, str) and value in self.null and "null" in avro_type):
                if "null" in avro_type:
                    return None
                raise BadValue("null is not allowed")
            errors = []
            for option in avro_type:
                if option == "null":
                    continue
                try:
                    return self.value(option, value)
                except BadValue as exc:
                    errors.append(str(exc))
            raise BadValue("; ".join(errors) or "no type of the union fits")
        if isinstance(avro_type, dict):
            kind, logical = avro_type.get("type"), avro_type.get("logicalType")
            if logical == "date":
                return self._date(value)
            if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"):
                return self._datetime(value, local=logical.startswith("local"))
            if logical in ("time-millis", "time-micros"):
                return self._time(value)
            if logical == "decimal":
                return self._decimal(value)
            if kind == "array":
                if not isinstance(value, list):
                    raise BadValue(f"{value!r} is not a list")
                return [self.value(avro_type["items"], v) for v in value]
            if kind == "map":
                if not isinstance(value, dict):
                    raise BadValue(f"{value!r} is not a map")
                return {str(k): self.value(avro_type["values"], v) for k, v in value.items()}
            if kind == "record":
                if not isinstance(value, dict):
                    raise BadValue(f"{value!r} is not a record")
                return self.record(avro_type, value, strict=False)
            if kind == "enum":
                if str(value) not in avro_type.get("symbols", []):
                    raise BadValue(f"{value!r} is not one of {avro_type.get('symbols')}")
                return str(value)
            return self.value(kind, value)
        if value is None:
            if avro_type == "null":
                return None
            raise BadValue("null is not allowed (make the field's type a union with \"null\")")
        if avro_type == "string":
            return value.isoformat() if isinstance(value, (dt.date, dt.time)) else str(value)
        if avro_type in ("int", "long"):
            if isinstance(value, bool):
                return int(value)
            try:
                return int(value) if not isinstance(value, str) else int(value.strip())
            except (TypeError, ValueError):
                raise BadValue(f"{value!r} is not an integer") from None
        if avro_type in ("float", "double"):
            try:
                if isinstance(value, str):
                    value = value.strip().replace(self.decimal_separator, ".")
                return float(value)
            except (TypeError, ValueError):
                raise BadValue(f"{value!r} is not a number") from None
        if avro_type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in self.true:
                return True
            if text in self.false:
                return False
            raise BadValue(f"{value!r} is neither a trueValues nor a falseValues entry")
        if avro_type in ("bytes", "fixed"):
            return value if isinstance(value, bytes) else str(value).encode("utf-8")
        if avro_type == "null":
            raise BadValue(f"{value!r} is not null")
        return value

    def _date(self, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise BadValue(f"{value!r} is not a date (yyyy-MM-dd)") from None

    def _datetime(self, value: Any, local: bool) -> dt.datetime:
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, dt.date):
            parsed = dt.datetime(value.year, value.month, value.day)
        else:
            try:
                parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            except ValueError:
                raise BadValue(f"{value!r} is not a date-time (yyyy-MM-dd'T'HH:mm:ss[XXX])") from None
        if local:
            return parsed.replace(tzinfo=None)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)

    def _time(self, value: Any) -> dt.time:
        if isinstance(value, dt.time):
            return value
        try:
            return dt.time.fromisoformat(str(value).strip())
        except ValueError:
            raise BadValue(f"{value!r} is not a time (HH:mm[:ss])") from None

    def _decimal(self, value: Any) -> Decimal:
        try:
            return Decimal(str(value).strip().replace(self.decimal_separator, "."))
        except InvalidOperation:
            raise BadValue(f"{value!r} is not a decimal number") from None
