from rest_framework import serializers

from catalog.models import Category, Product
from catalog.storage.listing import ProductRecord
from ecomms_common.openapi import StrictSerializer


class QueryIntegerField(serializers.IntegerField):
    """An optional integer query parameter. Given empty (``?depth=``) it is a 400 naming it, as
    the schema says, not read as absent (DRF reads an empty form value of an optional field as
    absent, and its default would answer)."""

    def get_value(self, dictionary):
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class CategorySummary(serializers.ModelSerializer):
    # Slugs keep letters of every script: a SlugField's ASCII-only pattern would misdescribe them.
    slug = serializers.CharField(read_only=True)

    class Meta:
        model = Category
        fields = ["name", "slug", "level"]


class CategoryOutput(serializers.ModelSerializer):
    slug = serializers.CharField(read_only=True)
    parent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    path = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "level", "path"]

    def get_path(self, category: Category) -> list[str]:
        return [node.name for node in category.get_ancestors(include_self=True)]


class CategoryDetailOutput(CategoryOutput):
    ancestors = serializers.SerializerMethodField()
    children = serializers.SerializerMethodField()

    class Meta(CategoryOutput.Meta):
        fields = [*CategoryOutput.Meta.fields, "ancestors", "children"]

    def get_ancestors(self, category: Category) -> list[dict]:
        return CategorySummary(category.get_ancestors(), many=True).data

    def get_children(self, category: Category) -> list[dict]:
        return CategorySummary(category.get_children().order_by("name"), many=True).data


class CategoryMoveInput(StrictSerializer):
    parent = serializers.CharField(
        allow_null=True, help_text="Slug of the new parent, or null to make it a root."
    )


class ProductOutput(serializers.ModelSerializer):
    categories = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "description",
            "price",
            "currency",
            "sku",
            "categories",
            "created_at",
            "updated_at",
        ]


def product_representation(record: ProductRecord) -> dict:
    """Return a product row (catalog.storage.listing.ProductRecord) as ProductOutput would.

    Built from the row's values: ProductOutput on a model instance costs several times the
    whole read (a test holds both answers equal).
    """
    pk, name, description, price, currency, sku, created_at, updated_at, slugs = record
    return {
        "id": pk,
        "name": name,
        "description": description,
        "price": price,
        "currency": currency,
        "sku": sku,
        "categories": slugs,
        "created_at": created_at,
        "updated_at": updated_at,
    }


class ProductPriceOutput(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "price", "currency"]


class ProductLookupOutput(serializers.Serializer):
    products = ProductPriceOutput(many=True)
    missing = serializers.ListField(child=serializers.IntegerField())


class UploadOutput(serializers.Serializer):
    created = serializers.ListField(child=serializers.IntegerField())
    updated = serializers.ListField(child=serializers.IntegerField())
    categories_created = serializers.IntegerField()
