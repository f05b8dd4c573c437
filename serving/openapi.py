"""The OpenAPI document as the running server accepts requests: FastAPI's own, with

- each live-scoring row listing the features of the loaded models (known only once they load, so the document is
  rebuilt when a reload swaps the models), each with its type, null allowed, money 0 or more, and no other key;
- the settings' batch limits (``maxItems``: more ids or rows get 413);
- the plays an action may name (the loaded playbook's);
- every 422 in the Problem shape the app answers, not FastAPI's validation error, which it never sends.

A client (or schemathesis) reading ``/openapi.json`` then knows what is refused before sending it.
"""

import copy
from typing import Any

from fastapi import FastAPI

from serving.routes import model_features
from serving.schemas import row_schema

PROBLEM = {"$ref": "#/components/schemas/Problem"}
UNUSED = ("HTTPValidationError", "ValidationError")


def tailored(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """A copy of FastAPI's ``document`` stating the loaded models' row, the limits and the Problem shape."""
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    b, settings = app.state.holder.bundle, app.state.settings
    schemas["LiveRow"] = row_schema(model_features(b) if b is not None else None)
    rows = schemas["RowsIn"]["properties"]["rows"]
    rows["items"] = {"$ref": "#/components/schemas/LiveRow"}
    rows["maxItems"] = settings.max_rows
    schemas["IdsIn"]["properties"]["account_ids"]["maxItems"] = settings.max_ids
    if b is not None and "ActionIn" in schemas:  # an action names one of the loaded playbook's plays
        schemas["ActionIn"]["properties"]["play"]["enum"] = sorted({r.play for r in b.scorer.playbook.rules})
    for operations in doc["paths"].values():
        for op in operations.values():
            invalid = op.get("responses", {}).get("422")
            if invalid is not None:
                invalid["description"] = "A parameter or the body is invalid: the detail names each field"
                invalid["content"] = {"application/json": {"schema": PROBLEM}}
    for name in UNUSED:
        schemas.pop(name, None)
    return doc


def exact_document(app: FastAPI) -> None:
    """Serve ``tailored`` at /openapi.json (and /docs), made again when the loaded models change."""
    made: dict[str, Any] = {}
    build = app.openapi  # FastAPI's, which caches its document: routes do not change

    def openapi() -> dict[str, Any]:
        b = app.state.holder.bundle
        scorer = b.scorer if b is not None else None
        if "doc" not in made or made["scorer"] is not scorer:
            made["doc"], made["scorer"] = tailored(build(), app), scorer
        return made["doc"]  # type: ignore[no-any-return]

    app.openapi = openapi  # type: ignore[method-assign]
