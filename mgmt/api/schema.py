"""The OpenAPI schema says what the API really answers: the envelope, the errors, JSON bodies.

`envelope_postprocessing_hook` (in `SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`)
does once, for every operation of the generated schema, what
`EnvelopeJSONRenderer` and `envelope_exception_handler` do to every response:

- each JSON response is `{"success": bool, "message": str, "data": ...}` with
  the view's own payload (or `null`) in `data`; a DELETE answers 200 with the
  envelope (views never answer 204);
- the errors the shared machinery answers are documented with the
  `ErrorEnvelope`: 400 where there is input (a body or query parameters), 401 and 403 where authentication
  is required, 404 where a path names an object or a page is asked for, 409 on
  writes, 415 where there is a body. A view adds what only it knows (429, 503,
  a 409 on a read) with `extend_schema(responses={503: UPSTREAM_ERROR})`;
- request bodies are JSON: DRF's default form parsers (kept for the browsable
  API) are not part of the contract; a view that names other media types
  itself (build contexts, upload chunks) keeps them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
ERROR_ENVELOPE = "ErrorEnvelope"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_ENVELOPE}"}

# Views name these in `extend_schema(responses=...)` for the errors only they can answer.
UPSTREAM_ERROR = OpenApiResponse(
    description="A Docker host's agent, a registry or an SSH host did not answer."
)
CONFLICT_ERROR = OpenApiResponse(description="The object's state does not allow this.")
RATE_LIMITED_ERROR = OpenApiResponse(description="Too many requests; try again later.")
FORBIDDEN_ERROR = OpenApiResponse(description="Not allowed.")

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `message` names the first problem, `data` holds the details per field.",
    "401": "Not authenticated (`WWW-Authenticate: Bearer`).",
    "403": "Your role does not allow this (or a cookie-authenticated write lacks its CSRF token).",
    "404": "No such object (or not yours), or no such page.",
    "409": "The request conflicts with the current state or existing data.",
    "415": "Unsupported media type of the request body.",
    "429": "Too many requests; try again later.",
    "503": "A Docker host's agent, a registry or an SSH host did not answer.",
}

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BODY_METHODS = frozenset({"post", "put", "patch", "delete"})
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

ERROR_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: `success` is false and `message` says what went wrong.",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string"},
        "data": {"description": "Field errors for 400 (`{field: [messages]}`), otherwise null or details."},
    },
    "required": ["success", "message", "data"],
}


def envelope(data: dict[str, Any] | None, *, success: bool = True) -> dict[str, Any]:
    """The schema of an envelope whose `data` has the schema `data` (None: always null)."""
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [success]},
            "message": {"type": "string"},
            "data": data if data is not None else {"type": "null"},
        },
        "required": ["success", "message", "data"],
    }


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": dict(_ERROR_REF)}}}


def _wrap(code: str, response: dict[str, Any]) -> dict[str, Any]:
    success = int(code) < 400
    content = response.get("content")
    description = response.get("description") or ""
    if description == "No response body":  # drf-spectacular's text for `None`
        description = ""
    if not content:
        if success:
            return {**response, "content": {JSON: {"schema": envelope(None)}}}
        return _error_response(description or ERROR_DESCRIPTIONS.get(code, "The request failed."))
    wrapped = {}
    for media_type, media in content.items():
        if media_type == JSON:
            schema = media.get("schema")
            media = {**media, "schema": envelope(schema, success=success) if schema else dict(_ERROR_REF)}
        wrapped[media_type] = media
    return {**response, "content": wrapped}


def _shared_error_codes(method: str, operation: dict[str, Any], path_item: dict[str, Any]) -> list[str]:
    parameters = [*path_item.get("parameters", []), *operation.get("parameters", [])]
    query = [p.get("name") for p in parameters if p.get("in") == "query"]
    has_body = method in _BODY_METHODS and "requestBody" in operation
    codes = []
    if has_body or query:
        codes.append("400")
    if operation.get("security") and operation["security"] != [{}]:
        codes += ["401", "403"]
    if any(p.get("in") == "path" for p in parameters) or "page" in query:
        codes.append("404")
    if method in _WRITE_METHODS:
        codes.append("409")
    if has_body:
        codes.append("415")
    return codes


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/components/schemas/") else schema


def _needs_a_body(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    schema = _resolve(schema, components)
    if "oneOf" in schema:
        return all(_needs_a_body(branch, components) for branch in schema["oneOf"])
    return bool(schema.get("required")) or schema.get("minLength", 0) > 0


def _request_body(operation: dict[str, Any], components: dict[str, Any]) -> None:
    body = operation.get("requestBody") or {}
    content = body.get("content")
    if not content:
        return
    if set(content) == {JSON, FORM, MULTIPART}:  # DRF's default parsers: JSON is the contract
        content = body["content"] = {JSON: content[JSON]}
    # A body with required fields is itself required (drf-spectacular leaves raw schemas optional).
    if any(_needs_a_body(media.get("schema", {}), components) for media in content.values()):
        body["required"] = True
    # A binary field of a form goes as a file part.
    multipart = content.get(MULTIPART)
    if multipart:
        schema = _resolve(multipart.get("schema", {}), components)
        branches = schema.get("oneOf", [schema])
        binary = {
            name
            for branch in branches
            for name, prop in branch.get("properties", {}).items()
            if prop.get("format") == "binary"
        }
        if binary:
            multipart["encoding"] = {name: {"contentType": "application/octet-stream"} for name in binary}


def envelope_postprocessing_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    components = result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for method in _HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            _request_body(operation, components)
            responses = operation.get("responses", {})
            if method == "delete" and set(responses) == {"204"}:
                responses = {"200": {"description": "Deleted."}}
            responses = {code: _wrap(code, response) for code, response in responses.items()}
            for code in _shared_error_codes(method, operation, path_item):
                responses.setdefault(code, _error_response(ERROR_DESCRIPTIONS[code]))
            operation["responses"] = dict(sorted(responses.items()))
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_ENVELOPE] = ERROR_ENVELOPE_SCHEMA
    return result
