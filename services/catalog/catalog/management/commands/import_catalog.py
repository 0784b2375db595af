"""Import a large catalog file in chunks: the upload payload (JSON) or CSV."""

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError
from tqdm import tqdm

from catalog.services import products_upload
from catalog.storage.memory import cyclic_gc_paused
from catalog.validation import validate_upload

CSV_COLUMNS = ("name", "description", "price", "currency", "sku", "categories")
CSV_PATH_SEPARATOR = "|"
CSV_LEVEL_SEPARATOR = ">"


def _json_products(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as stream:
        # use_float=False keeps numbers as Decimal, so a JSON-number price is reported, not rounded
        yield from ijson.items(stream, "products.item", use_float=False)


def _csv_products(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise CommandError(f"CSV header lacks: {', '.join(sorted(missing))}")
        for row in reader:
            paths = [
                [level.strip() for level in path.split(CSV_LEVEL_SEPARATOR)]
                for path in row["categories"].split(CSV_PATH_SEPARATOR)
                if path.strip()
            ]
            yield {
                "name": row["name"],
                "description": row["description"],
                "price": row["price"],
                "currency": row["currency"] or settings.CATALOG_DEFAULT_CURRENCY,
                "sku": row["sku"] or None,
                "categories": paths,
            }


class Command(BaseCommand):
    help = (
        "Import products from a JSON file in the upload format or from CSV (columns: "
        f"{', '.join(CSV_COLUMNS)}; paths separated by '{CSV_PATH_SEPARATOR}', levels by "
        f"'{CSV_LEVEL_SEPARATOR}'). Every product needs a sku, so that re-running updates "
        "instead of duplicating. Each chunk is validated whole and written in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["json", "csv"], help="default: by extension")
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, file: Path, format: str | None, chunk_size: int, **options):
        if not file.is_file():
            raise CommandError(f"{file} is not a file")
        kind = format or ("csv" if file.suffix.lower() == ".csv" else "json")
        products = _csv_products(file) if kind == "csv" else _json_products(file)
        created = updated = 0
        progress = tqdm(unit=" products", disable=options["no_progress"], file=self.stderr)
        for number, chunk in enumerate(itertools.batched(products, chunk_size)):
            offset = number * chunk_size
            without_sku = [offset + i for i, item in enumerate(chunk) if not item.get("sku")]
            if without_sku:
                raise CommandError(f"products without a sku (re-runs need one): {without_sku[:10]}")
            try:
                valid = validate_upload(
                    {"products": list(chunk)},
                    max_products=chunk_size,
                    default_currency=settings.CATALOG_DEFAULT_CURRENCY,
                )
            except ValidationError as exc:
                errors = {
                    offset + int(index): {
                        name: [str(m) for m in messages] for name, messages in item.items()
                    }
                    for index, item in exc.detail["products"].items()
                }
                raise CommandError(f"invalid products (by position in file): {errors}") from None
            with cyclic_gc_paused():
                result = products_upload(products=valid)
            created += len(result.created_ids)
            updated += len(result.updated_ids)
            progress.update(len(chunk))
        progress.close()
        self.stdout.write(self.style.SUCCESS(f"imported: {created} created, {updated} updated"))
