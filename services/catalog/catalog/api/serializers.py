from rest_framework import serializers

from catalog.models import Category, Product
from catalog.validation import PATH_MAX_DEPTH


class CategorySummary(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["name", "slug", "level"]


class CategoryOutput(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="slug", read_only=True)
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


class CategoryPathInput(serializers.Serializer):
    path = serializers.ListField(
        child=serializers.CharField(max_length=100, trim_whitespace=False),
        max_length=PATH_MAX_DEPTH,
        help_text=f"Category names from the root down; 1 to {PATH_MAX_DEPTH} levels.",
    )


class CategoryMoveInput(serializers.Serializer):
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


class ProductPriceOutput(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "price", "currency"]


class ProductLookupOutput(serializers.Serializer):
    products = ProductPriceOutput(many=True)
    missing = serializers.ListField(child=serializers.IntegerField())


class UploadItemInput(serializers.Serializer):
    """Documents one uploaded product; validation itself is catalog.validation's."""

    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True)
    price = serializers.CharField(
        help_text='Decimal string, e.g. "3.99"; JSON numbers are refused.'
    )
    currency = serializers.CharField(required=False, help_text="ISO 4217; default the catalog's.")
    sku = serializers.CharField(required=False, help_text="Upsert key: an existing sku is updated.")
    categories = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))


class UploadInput(serializers.Serializer):
    products = UploadItemInput(many=True)


class UploadOutput(serializers.Serializer):
    created = serializers.ListField(child=serializers.IntegerField())
    updated = serializers.ListField(child=serializers.IntegerField())
    categories_created = serializers.IntegerField()
