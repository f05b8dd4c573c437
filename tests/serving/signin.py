"""Sign in to the CSM pages as a browser does: GET the sign-in page, read its form's CSRF token, post it back."""

import re
from typing import Any

from fastapi.testclient import TestClient


def form_token(html: str) -> str:
    """The CSRF token of a page's form (its hidden ``csrf`` field)."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str, **kw: Any) -> Any:
    """POST /login with the token of a freshly loaded sign-in page; returns the response."""
    token = form_token(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": token}, **kw)
