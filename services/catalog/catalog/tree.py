"""The tree planner: resolve category paths, create the nodes they miss, renumber trees.

Call every function here inside a transaction holding :func:`catalog.locks.catalog_lock`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.text import slugify

from catalog.locks import ExclusiveLockNeeded
from catalog.models import Category
from catalog.storage.tree import category_numbers_write
from catalog.validation import CategoryPath

# Up to this many new non-root categories are inserted one by one; more are bulk-inserted and
# their trees renumbered once. Each of mptt's inserts renumbers the nodes after it, about half
# the tree, as one renumbering does: two nodes one by one already cost twice as much.
BULK_CATEGORY_THRESHOLD = 1
SLUG_BASE_MAX_LENGTH = 80
# Paths under /categories/ that are not a category: never a slug.
RESERVED_SLUGS = frozenset({"export"})


def name_key(name: str) -> str:
    """Return what a category's name is compared by among its siblings.

    The unique index compares PostgreSQL's ``lower(name)``, which maps one character at a time.
    ``str.lower`` looks at context (a final capital sigma becomes U+03C2, not U+03C3), so the key
    is built a character at a time too; a character whose lower case is longer (only U+0130)
    keeps the first character of it, as PostgreSQL does. No other character's lower case depends
    on its context or is longer (Unicode's SpecialCasing), so a name without either, nearly every
    name, takes ``str.lower`` at once: an upload keys every category of the tree.
    """
    if "\u03a3" not in name and "\u0130" not in name:
        return name.lower()
    return "".join(char.lower()[:1] for char in name)


@dataclass
class _Tree:
    """What path resolution and the aggregates need of the whole tree, read once per write."""

    ids: dict[tuple[int | None, str], int]
    slugs: dict[int, str]
    tree_ids: dict[int, int]
    parents: dict[int, int | None]

    @classmethod
    def load(cls) -> "_Tree":
        tree = cls(ids={}, slugs={}, tree_ids={}, parents={})
        rows = Category.objects.values_list("id", "parent_id", "name", "slug", "tree_id")
        for category_id, parent_id, name, slug, tree_id in rows.order_by():
            tree.ids[(parent_id, name_key(name))] = category_id
            tree.slugs[category_id] = slug
            tree.tree_ids[category_id] = tree_id
            tree.parents[category_id] = parent_id
        return tree

    def unique_slug(self, name: str, parent_id: int | None, taken: set[str]) -> str:
        base = slugify(name, allow_unicode=True)[:SLUG_BASE_MAX_LENGTH].strip("-") or "category"
        candidates = [base]
        if parent_id is not None:
            candidates.append(f"{self.slugs[parent_id]}-{base}"[:200])
        for candidate in candidates:
            if candidate not in taken:
                return candidate
        suffix = 2
        while f"{candidates[-1]}-{suffix}" in taken:
            suffix += 1
        return f"{candidates[-1]}-{suffix}"


@dataclass(frozen=True)
class EnsuredPaths:
    leaves: dict[CategoryPath, int]  # path -> id of its leaf
    created: int  # categories created
    parents: dict[int, int | None]  # the whole tree afterwards: category id -> parent id


def category_paths_ensure(*, paths: Sequence[CategoryPath], create: bool = True) -> EnsuredPaths:
    """Create the missing nodes of every path; return their leaves and the tree afterwards.

    Call inside a transaction holding the catalog lock (exclusively, unless ``create`` is
    False: a missing node then raises ExclusiveLockNeeded). Names match case-insensitively
    among siblings; a new node keeps the spelling it was first given.
    """
    tree = _Tree.load()
    leaves: dict[CategoryPath, int] = {}
    missing: list[CategoryPath] = []
    for path in paths:
        category_id = None
        for name in path:
            category_id = tree.ids.get((category_id, name_key(name)))
            if category_id is None:
                missing.append(path)
                break
        else:
            leaves[path] = category_id
    if not missing:
        return EnsuredPaths(leaves, 0, tree.parents)
    if not create:
        raise ExclusiveLockNeeded
    resolved: dict[tuple, int] = {}  # path key (lower-cased names) -> category id
    planned: dict[tuple, str] = {}  # path key -> name, parents before children
    leaf_keys: dict[CategoryPath, tuple] = {}
    for path in missing:
        parent_id, known, key = None, True, ()
        for name in path:
            key = (*key, name_key(name))
            if key in resolved:
                parent_id = resolved[key]
                continue
            found = tree.ids.get((parent_id, key[-1])) if known else None
            if found is not None:
                resolved[key] = parent_id = found
            else:
                known = False
                planned.setdefault(key, name)
        leaf_keys[path] = key
    _create_categories(tree, planned, resolved)
    leaves.update((path, resolved[key]) for path, key in leaf_keys.items())
    return EnsuredPaths(leaves, len(planned), tree.parents)


def _create_categories(tree: _Tree, planned: dict[tuple, str], resolved: dict[tuple, int]) -> None:
    taken = set(tree.slugs.values()) | RESERVED_SLUGS

    def build(key: tuple, name: str) -> Category:
        parent_id = resolved.get(key[:-1]) if len(key) > 1 else None
        slug = tree.unique_slug(name, parent_id, taken)
        taken.add(slug)
        return Category(name=name, slug=slug, parent_id=parent_id)

    def remember(key: tuple, category: Category) -> None:
        resolved[key] = category.pk
        tree.slugs[category.pk] = category.slug
        tree.parents[category.pk] = category.parent_id

    by_depth = sorted(planned.items(), key=lambda item: len(item[0]))
    roots = [(key, name) for key, name in by_depth if len(key) == 1]
    children = [(key, name) for key, name in by_depth if len(key) > 1]
    for key, name in roots:
        category = build(key, name)
        category.save()
        remember(key, category)
        tree.tree_ids[category.pk] = category.tree_id
    if len(children) <= BULK_CATEGORY_THRESHOLD:
        for key, name in children:
            category = build(key, name)
            category.save()
            remember(key, category)
        return
    touched_trees = set()
    with Category.objects.disable_mptt_updates():
        for depth in sorted({len(key) for key, _ in children}):
            level = [(key, name) for key, name in children if len(key) == depth]
            batch = []
            for key, name in level:
                category = build(key, name)
                category.tree_id = tree.tree_ids[category.parent_id]
                category.lft = category.rght = category.level = 0
                batch.append(category)
            Category.objects.bulk_create(batch)
            for (key, _), category in zip(level, batch, strict=True):
                remember(key, category)
                tree.tree_ids[category.pk] = category.tree_id
                touched_trees.add(category.tree_id)
    tree_rebuild(tree_ids=touched_trees)


def tree_rebuild(*, tree_ids: Iterable[int]) -> None:
    """Recompute lft/rght/level of whole trees from the parent links, siblings kept in order.

    Nodes not placed yet (lft 0) become the last children of their parents, where mptt itself
    inserts a node. mptt's partial_rebuild saves every node through one CASE expression per row,
    which takes seconds for a few thousand categories; this writes, in one statement
    (catalog.storage.tree), only the nodes whose numbers changed.
    """
    tree_ids = sorted(set(tree_ids))
    rows = Category.objects.filter(tree_id__in=tree_ids).order_by("tree_id", "lft", "id")
    children: dict[int | None, list[int]] = {}
    added: dict[int | None, list[int]] = {}  # not placed yet (lft 0): after their siblings
    current: dict[int, tuple[int, int, int]] = {}
    for category_id, parent_id, lft, rght, level in rows.values_list(
        "id", "parent_id", "lft", "rght", "level"
    ):
        (added if lft == 0 else children).setdefault(parent_id, []).append(category_id)
        current[category_id] = (lft, rght, level)
    for parent_id, new_children in added.items():
        children.setdefault(parent_id, []).extend(new_children)
    ids, lefts, rights, levels = [], [], [], []
    for root in children.get(None, []):
        counter = 1
        opened: dict[int, int] = {}
        stack = [(root, 0, False)]
        while stack:
            node, level, closing = stack.pop()
            if closing:
                if current[node] != (opened[node], counter, level):  # write only what moved
                    ids.append(node)
                    lefts.append(opened[node])
                    rights.append(counter)
                    levels.append(level)
            else:
                opened[node] = counter
                stack.append((node, level, True))
                stack.extend(
                    (child, level + 1, False) for child in reversed(children.get(node, []))
                )
            counter += 1
    category_numbers_write(ids=ids, lefts=lefts, rights=rights, levels=levels)
