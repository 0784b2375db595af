import csv
import json

import pytest
from catalog.integrity import catalog_check
from catalog.models import Category, CategoryPriceStat, Product, SubtreeProduct
from django.core.management import CommandError, call_command

from tests.conftest import product

pytestmark = pytest.mark.django_db


def _catalog_file(tmp_path, count=25):
    items = [
        product(
            name=f"Item {i}", price=f"{i + 1}.50", sku=f"I-{i}", paths=[["All", f"Group {i % 4}"]]
        )
        for i in range(count)
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"products": items}))
    return path


def test_import_json_in_chunks_and_rerun_updates_instead_of_duplicating(tmp_path, capsys):
    path = _catalog_file(tmp_path)
    call_command("import_catalog", str(path), "--chunk-size", "10", "--no-progress")
    assert "25 created, 0 updated" in capsys.readouterr().out
    call_command("import_catalog", str(path), "--chunk-size", "7", "--no-progress")
    assert "0 created, 25 updated" in capsys.readouterr().out
    assert Product.objects.count() == 25
    assert Category.objects.count() == 5
    assert catalog_check().ok


def test_import_csv(tmp_path, capsys):
    path = tmp_path / "catalog.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["name", "description", "price", "currency", "sku", "categories"])
        writer.writerow(["Orange", "", "1.20", "", "O-1", "All > Fruits > Citrus | All > Sale"])
        writer.writerow(["Mkate 🍞", "Bread", "2.00", "KES", "B-1", "All > Bakery"])
    call_command("import_catalog", str(path), "--no-progress")
    orange = Product.objects.get(sku="O-1")
    assert sorted(c.slug for c in orange.categories.all()) == ["citrus", "sale"]
    assert orange.currency == "USD"
    assert Product.objects.get(sku="B-1").name == "Mkate 🍞"


def test_import_refuses_products_without_sku_or_invalid_ones(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"products": [product(sku="A"), product()]}))
    with pytest.raises(CommandError, match=r"without a sku.*\[1\]"):
        call_command("import_catalog", str(path), "--no-progress")
    path.write_text(
        json.dumps({"products": [product(sku="A"), {**product(sku="B"), "price": 1.5}]})
    )
    with pytest.raises(CommandError, match=r"position in file.*1.*price"):
        call_command("import_catalog", str(path), "--no-progress")
    assert not Product.objects.exists()
    with pytest.raises(CommandError, match="not a file"):
        call_command("import_catalog", str(tmp_path / "absent.json"))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,price\nx,1.00\n")
    with pytest.raises(CommandError, match="CSV header lacks"):
        call_command("import_catalog", str(bad_csv))


def test_check_catalog_finds_and_repairs_a_wrong_aggregate(tmp_path, capsys):
    call_command("import_catalog", str(_catalog_file(tmp_path, 8)), "--no-progress")
    call_command("check_catalog")
    assert "catalog consistent" in capsys.readouterr().out
    CategoryPriceStat.objects.filter(category__slug="all").update(subtree_count=99)
    with pytest.raises(CommandError, match="0 tree, 1 aggregate and 0 browse index problems"):
        call_command("check_catalog")
    call_command("check_catalog", "--fix")
    assert "repaired 0 tree, 1 aggregate and 0 browse index problems" in capsys.readouterr().out
    assert catalog_check().ok


def test_check_catalog_finds_and_repairs_the_browse_index(tmp_path, capsys):
    call_command("import_catalog", str(_catalog_file(tmp_path, 8)), "--no-progress")
    first, second = Product.objects.order_by("id")[:2]
    SubtreeProduct.objects.filter(product_id=first.pk).delete()
    SubtreeProduct.objects.filter(product_id=second.pk).update(price_cents=1)
    report = catalog_check()
    assert len(report.listing_problems) == 3 * 2  # under "all" and its group, each way
    assert any(f"product {first.pk} at" in p and "missing" in p for p in report.listing_problems)
    call_command("check_catalog", "--fix")
    assert "6 browse index problems" in capsys.readouterr().out
    assert catalog_check().ok


def test_check_catalog_finds_and_repairs_a_broken_tree(tmp_path, capsys):
    call_command("import_catalog", str(_catalog_file(tmp_path, 8)), "--no-progress")
    Category.objects.filter(slug="group-1").update(lft=100, rght=101, level=5)
    report = catalog_check()
    assert any("outside its parent" in problem for problem in report.tree_problems)
    assert any("level 5" in problem for problem in report.tree_problems)
    assert any("not exactly" in problem for problem in report.tree_problems)
    call_command("check_catalog", "--fix")
    assert catalog_check().ok
