"""Input serializers that take a request's JSON as the schema says it: DRF converts leniently (a "5" for an integer,
a 0 for a boolean, a number for a string) and ignores unknown fields, so an API whose schema says integer would
accept what it says it refuses, and a typo would be saved with defaults instead of refused."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

# A field class -> the JSON types its value must have (checked before DRF converts it).
_JSON_TYPES: list[tuple[type, tuple[type, ...]]] = [
    (serializers.BooleanField, (bool,)),
    (serializers.IntegerField, (int,)),
    (serializers.DecimalField, (str,)),
    (serializers.DateTimeField, (str,)),
    (serializers.CharField, (str,)),
]


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, not silently ignored (a typo must not buy or save with defaults), and each
    field's value must be of the JSON type the schema gives it (a boolean is no integer)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {field: ["Unknown field."] for field in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                if name in data and not field.read_only and not _json_type_ok(field, data[name]):
                    errors[name] = ["Not the JSON type the schema gives this field."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _json_type_ok(field, value) -> bool:
    if value is None:
        return field.allow_null
    for field_class, types in _JSON_TYPES:
        if isinstance(field, field_class):
            return isinstance(value, types) and not (types == (int,) and isinstance(value, bool))
    return True


class StrictSerializerSchema(OpenApiSerializerExtension):
    """The schema says what StrictSerializer refuses: no property besides the declared ones."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema
