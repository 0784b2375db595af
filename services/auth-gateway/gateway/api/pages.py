"""What the gateway's own pages share: JSON or a page by ``Accept``, and their headers."""

from django.http import HttpRequest, HttpResponse

# Our HTML pages: no scripts, no framing, nothing loaded from elsewhere (their styles are inline).
PAGE_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def wants_json(request: HttpRequest) -> bool:
    """Return whether the caller is an API client (asks for JSON, not HTML)."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def page_headers(response: HttpResponse) -> HttpResponse:
    """Add the headers every HTML page of the gateway's own sends (not Swagger UI's)."""
    response["Content-Security-Policy"] = PAGE_SECURITY_POLICY
    response["Referrer-Policy"] = "no-referrer"
    return response
