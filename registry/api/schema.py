"""The API's OpenAPI description: what drf-spectacular infers from the serializers, plus what it cannot
see: the version an update or delete must name, the error answers of each operation, the ranges the
model validators enforce, and what research accounts receive instead of the identified records."""

from django.core.exceptions import FieldDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

ERROR_BODY = {
    "type": "object",
    "description": "`detail` with a message, or each refused field or query parameter with its messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
VERSION_BODY = {
    "type": "object",
    "required": ["version"],
    "properties": {
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "The version of the record you edited (as you read it). Required unless an "
            "If-Match header names it; a stale version answers 409.",
        }
    },
}
VERSION_QUERY = OpenApiParameter(
    "version",
    int,
    OpenApiParameter.QUERY,
    required=True,
    description="The version of the record you are deleting (or send If-Match); a stale one answers 409.",
)
ANSWERS = {
    "400": "The request or a query parameter is malformed; the answer names what to correct.",
    "401": "No valid credentials: sign in or send `Authorization: Token KEY`.",
    "403": "Your role may not do this.",
    "404": "No such record, or page beyond the last.",
    "409": "Conflict: the record changed since the version you name, is in use by others, or is busy.",
    "412": "The If-Match version is stale: the record changed since you read it.",
    "428": "The version you edited is missing: send `version` or an If-Match header.",
}


def model_range(field):
    """(minimum, maximum) the model's validators allow for a serializer field, or (None, None)."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return None, None
    try:
        validators = model._meta.get_field(field.source).validators
    except (FieldDoesNotExist, AttributeError):
        return None, None
    lows = [v.limit_value for v in validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in validators if isinstance(v, MaxValueValidator)]
    return (max(lows) if lows else None), (min(highs) if highs else None)


class RegistryAutoSchema(AutoSchema):
    def _versioned(self):
        """Updates and deletes of clinical records, which must name the version the client edited."""
        from registry.api.views import RecordViewSet

        return isinstance(self.view, RecordViewSet) and self.method in ("PUT", "PATCH", "DELETE")

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._versioned() and self.method == "DELETE":
            parameters = [*parameters, VERSION_QUERY]
        return parameters

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if schema is not None and self._versioned():
            return {"allOf": [schema, VERSION_BODY]}, True
        return schema, required

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if hasattr(self.view, "error_answers"):
            return responses  # a view that names its own answers (signing in and out) is documented as it says
        codes = ["400", "401", "403"]
        if "{" in self.path or self._is_list_view():
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("409")
        if self._versioned():
            codes += ["412", "428"]
        for code in codes:
            responses.setdefault(
                code, {"description": ANSWERS[code], "content": {"application/json": {"schema": ERROR_BODY}}}
            )
        return responses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        low, high = model_range(field)
        if low is None and high is None:
            return schema
        if schema.get("type") in ("integer", "number"):
            if low is not None:
                schema["minimum"] = max(low, schema.get("minimum", low))
            if high is not None:
                schema["maximum"] = min(high, schema.get("maximum", high))
        else:  # decimals travel as strings; their range is stated in words
            bounds = f"From {low if low is not None else '-'} to {high if high is not None else '-'}."
            schema["description"] = f"{schema.get('description', '')} {bounds}".strip()
        return schema


def research_representations(result, generator, request, public):
    """Postprocessing hook: a read of a clinical record answers either its identified form or, to
    accounts without identifier access (research), the kind's de-identified projection, whose fields
    are the allow-list in registry.deidentify."""
    from registry import deidentify

    components = result.setdefault("components", {}).setdefault("schemas", {})
    for path, _regex, method, callback in generator.endpoints:
        research = getattr(getattr(callback, "cls", None), "research_serializer_class", None)
        operation = result["paths"].get(path.replace("{pk}", "{id}"), {}).get(method.lower())
        if research is None or method != "GET" or operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if not content or "$ref" not in content["schema"]:
            continue
        name = content["schema"]["$ref"].rsplit("/", 1)[1]
        paginated = name.startswith("Paginated") and name.endswith("List")
        clinical = name[len("Paginated") : -len("List")] if paginated else name
        research_name = f"Research{clinical}"
        components[research_name] = {
            "type": "object",
            "description": "What an account without identifier access (research) receives: only these "
            "fields; dates become whole days since the patient's first procedure (or shifted dates, "
            "as the export chooses), ages whole months, free text only where released.",
            "properties": {field: {} for field in deidentify.research_fields(research.kind)},
        }
        either = {
            "anyOf": [{"$ref": f"#/components/schemas/{clinical}"}, {"$ref": f"#/components/schemas/{research_name}"}]
        }
        if paginated:
            components[name]["properties"]["results"]["items"] = either
        else:
            content["schema"] = either
    return result
