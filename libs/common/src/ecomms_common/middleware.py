"""Django's CommonMiddleware, with a slash redirect that keeps the method and the body.

Django answers a path missing its route's trailing slash with 301, which clients follow as a
GET: ``POST /orders`` would come back 200 with the list of orders and place nothing. Here the
redirect is a 308 Permanent Redirect (RFC 9110 section 15.4.9), which clients repeat with the
same method and body, for every method and in DEBUG too (where Django raises RuntimeError for a
write rather than redirect it). The Location stays relative and keeps the query string.
"""

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.middleware import common
from django.utils.http import escape_leading_slashes


class HttpResponsePermanentRedirectKeepingMethod(HttpResponsePermanentRedirect):
    """308 Permanent Redirect: the client repeats the request, method and body, at Location."""

    status_code = 308


class CommonMiddleware(common.CommonMiddleware):
    """Django's CommonMiddleware whose redirects (slash and PREPEND_WWW) are 308s."""

    response_redirect_class = HttpResponsePermanentRedirectKeepingMethod

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        """Return the request's path and query with the trailing slash, for any method."""
        # Django's version refuses writes in DEBUG because its 301 would lose their body.
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))
