"""A stand-in catalog read for the benchmark: ``GET /products/`` answers one fixed JSON page.

Served by gunicorn like the real services (``gunicorn bench.gateway.catalog_standin:application``).
"""

import json

PAGE = json.dumps(
    {
        "count": 50,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": number,
                "name": f"Product {number}",
                "price": f"{number}.99",
                "currency": "USD",
                "categories": ["groceries", "tea"],
            }
            for number in range(1, 51)
        ],
    }
).encode()


def application(environ, start_response):
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(PAGE)))]
    )
    return [PAGE]
