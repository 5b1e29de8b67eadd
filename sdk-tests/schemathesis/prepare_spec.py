"""Cut the two v2010 Messages paths out of Twilio's published OpenAPI file and patch its known quirks.

Source: @twilio/cli-core's src/services/twilio-api/twilio_api_v2010.json (OpenAPI 3.0.1).

Patches (each one a documented gap in Twilio's file, not a loosening of the server's contract):
  1. `uri`, `first_page_uri`, `next_page_uri`, `previous_page_uri` are declared `format: uri`
     but Twilio returns root-relative paths (`/2010-04-01/Accounts/...`), which the SDKs rely on.
     -> `format: uri-reference`.
  2. Only success responses are documented. Every operation gets Twilio's error body schema for
     400, 401, 404 and 405 (the codes the real API answers with: validation, auth, unknown
     resource or other account, wrong method).
  3. Path-level `servers` entries are dropped so that schemathesis' `--url` is used.

Usage: python prepare_spec.py TWILIO_API_V2010_JSON OUT_JSON
"""

from __future__ import annotations

import copy
import json
import sys

LIST_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
INSTANCE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
PATHS = (LIST_PATH, INSTANCE_PATH)
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
URI_FIELDS = {"uri", "first_page_uri", "next_page_uri", "previous_page_uri", "last_page_uri"}

ERROR_SCHEMA_NAME = "twilio.error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Twilio's error body (legacy v2010 format).",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
        "details": {"type": "object"},
    },
}
ERROR_RESPONSES = {
    "400": "Invalid parameter (Twilio error code in the body)",
    "401": "Authentication failed (20003)",
    "404": "Unknown resource, or another account's path (20404)",
    "405": "Method not allowed (20004)",
}


def collect_refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            collect_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            collect_refs(value, found)


def patch_uri_formats(node) -> int:
    """Turn `format: uri` into `uri-reference` on the *_uri properties. Returns how many."""
    count = 0
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, schema in props.items():
                if name in URI_FIELDS and isinstance(schema, dict) and schema.get("format") == "uri":
                    schema["format"] = "uri-reference"
                    count += 1
        for value in node.values():
            count += patch_uri_formats(value)
    elif isinstance(node, list):
        for value in node:
            count += patch_uri_formats(value)
    return count


def build(spec: dict) -> dict:
    paths = {}
    for p in PATHS:
        if p not in spec["paths"]:
            raise SystemExit(f"path {p} not found in the source spec")
        item = copy.deepcopy(spec["paths"][p])
        item.pop("servers", None)
        paths[p] = item

    # Components: the schemas these paths reference, transitively.
    all_schemas = spec["components"]["schemas"]
    needed: set[str] = set()
    collect_refs(paths, needed)
    frontier = set(needed)
    while frontier:
        more: set[str] = set()
        for name in frontier:
            collect_refs(all_schemas[name], more)
        frontier = more - needed
        needed |= more
    schemas = {name: copy.deepcopy(all_schemas[name]) for name in sorted(needed)}
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA

    out = {
        "openapi": spec["openapi"],
        "info": {
            "title": "Twilio v2010 Messages (cut from @twilio/cli-core twilio_api_v2010.json, patched)",
            "version": spec.get("info", {}).get("version", "unknown"),
        },
        "servers": [{"url": "http://127.0.0.1"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": copy.deepcopy(spec["components"]["securitySchemes"])},
        "security": copy.deepcopy(spec.get("security", [{"accountSid_authToken": []}])),
    }

    patched = patch_uri_formats(out)
    if patched < 4:
        raise SystemExit(f"expected to patch the 4 list *_uri fields, patched {patched}: has the source changed?")

    error_ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    for item in paths.values():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, description in ERROR_RESPONSES.items():
                op["responses"].setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": error_ref}}}
                )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    out = build(spec)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False)
    ops = [(m.upper(), p) for p, item in out["paths"].items() for m in item if m in HTTP_METHODS]
    print(f"wrote {argv[2]}: {len(ops)} operations: " + ", ".join(f"{m} {p}" for m, p in ops))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
