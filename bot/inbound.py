"""Incoming activities as botbuilder ``Activity`` objects, without msrest's generic walk.

msrest's deserializer inspects every key and value of the body through several layers of
type dispatch; for the activities Teams actually sends (strings where strings belong, nested
accounts, entities, attachments) the same objects can be built directly at a fraction of the
cost. Anything this fast path does not recognise exactly (a value of an unexpected type, a model
it has no class for) goes to msrest instead, so the result is always msrest's.
"""

from __future__ import annotations

from typing import Any

from botbuilder import schema
from msrest.serialization import Deserializer, Model

# Nested models may be any of botbuilder's schema classes.
_MODELS: dict[str, type[Model]] = {
    name: cls
    for name, cls in vars(schema).items()
    if isinstance(cls, type) and issubclass(cls, Model)
}


class _Unusual(Exception):
    pass


def _by_key(cls: type[Model]) -> dict[str, tuple[str, str]]:
    mapping: dict[str, tuple[str, str]] | None = getattr(cls, "_teamcrm_by_key", None)
    if mapping is None:
        mapping = {spec["key"]: (name, spec["type"]) for name, spec in cls._attribute_map.items()}
        cls._teamcrm_by_key = mapping  # type: ignore[attr-defined]
    return mapping


def _value(kind: str, raw: Any) -> Any:
    if raw is None:
        return None
    if kind == "str":
        if type(raw) is not str:
            raise _Unusual
        return raw
    if kind == "bool":
        if type(raw) is not bool:
            raise _Unusual
        return raw
    if kind == "object":
        return raw
    if kind == "iso-8601":
        return Deserializer.deserialize_iso(raw)
    if kind.startswith("[") and kind.endswith("]"):
        if type(raw) is not list:
            raise _Unusual
        inner = kind[1:-1]
        return [_value(inner, item) for item in raw]
    model = _MODELS.get(kind)
    if model is None or type(raw) is not dict:
        raise _Unusual
    return _model(model, raw)


def _model(cls: type[Model], raw: dict[str, Any]) -> Model:
    by_key = _by_key(cls)
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, item in raw.items():
        found = by_key.get(key)
        if found is None:
            extra[key] = item
        else:
            values[found[0]] = _value(found[1], item)
    instance = cls(**values)
    if extra:
        instance.additional_properties = extra
    return instance


def activity_from(body: dict[str, Any]) -> schema.Activity:
    """The body as msrest would deserialize it (raises what msrest raises on a bad one)."""
    try:
        activity = _model(schema.Activity, body)
    except Exception:  # noqa: BLE001 - whatever it was, msrest decides (and raises its error)
        activity = schema.Activity().deserialize(body)
    return activity
