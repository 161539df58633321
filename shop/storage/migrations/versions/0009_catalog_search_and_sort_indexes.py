"""catalog at a real shop's size: text search through each database's engine, an index per sort

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

- SQLite: an external-content FTS5 table ``products_fts`` (name, description, category) over the
  products' rowids, folding case and accents (``unicode61 remove_diacritics 2``), kept in step by
  triggers that fire only when one of those columns changes. A table rebuilt by a later batch
  migration (a copy) loses these triggers and may renumber rowids: such a migration must recreate
  them and run ``INSERT INTO products_fts(products_fts) VALUES ('rebuild')``, as must a VACUUM.
- PostgreSQL: ``unaccent`` and ``pg_trgm``; a ``search_vector`` column (name weighs A, description
  B, category C) set by a trigger of the same kind, with a GIN index; trigram GIN indexes on
  ``lower(name)`` and ``lower(description)`` for literal search terms.
- Both: one (key, sku) index per catalog sort, so a page is read in index order, in either
  direction, and a cursor seeks into it, and the same with the category first;
  sale_ends_at, for the flash prices that have ended (shop/domain/sort_keys.py).
"""

from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The sort keys as the catalog writes them (shop/storage/models.py); an expression index serves a query
# only when the query's expression is the same.
AVAILABLE = "on_hand - reserved - allocated"
DISCOUNT = "CASE WHEN normal_price > 0 THEN (normal_price - price) * 1000 / normal_price ELSE 0 END"
SORT_INDEXES = {
    "ix_products_sales_sku": "sales, sku",
    "ix_products_name_sku": "name, sku",
    "ix_products_created_at_sku": "created_at, sku",
    "ix_products_price_sku": "price, sku",
    "ix_products_normal_price_sku": "normal_price, sku",
    "ix_products_available_sku": f"({AVAILABLE}), sku",
    "ix_products_discount_sku": f"({DISCOUNT}), sku",
}
# The same within one category, so a category's page is read in order too.
SORT_INDEXES |= {
    name.replace("ix_products_", "ix_products_category_"): f"category, {columns}"
    for name, columns in list(SORT_INDEXES.items())
}
# The few products whose flash price has ended but is not ended in the row yet (the sweeper's):
# partial, so its size and the planner's estimate are the flash products', not the catalog's.
SALE_ENDS_INDEX = "CREATE INDEX ix_products_sale_ends_at ON products (sale_ends_at) WHERE sale_ends_at IS NOT NULL"

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE products_fts USING fts5(name, description, category, "
    "content='products', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO products_fts(rowid, name, description, category) "
    "VALUES (new.rowid, new.name, new.description, new.category); END",
    "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO products_fts(products_fts, rowid, name, description, category) "
    "VALUES ('delete', old.rowid, old.name, old.description, old.category); END",
    "CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description, category ON products BEGIN "
    "INSERT INTO products_fts(products_fts, rowid, name, description, category) "
    "VALUES ('delete', old.rowid, old.name, old.description, old.category); "
    "INSERT INTO products_fts(rowid, name, description, category) "
    "VALUES (new.rowid, new.name, new.description, new.category); END",
    "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER products_fts_update",
    "DROP TRIGGER products_fts_delete",
    "DROP TRIGGER products_fts_insert",
    "DROP TABLE products_fts",
]

POSTGRES_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # unaccent() is only STABLE (its dictionary could change); pinned to one dictionary it is not.
    "CREATE FUNCTION shop_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT unaccent('unaccent'::regdictionary, $1) $$",
    "ALTER TABLE products ADD COLUMN search_vector tsvector",
    "CREATE FUNCTION products_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "NEW.search_vector := "
    "setweight(to_tsvector('simple', shop_unaccent(coalesce(NEW.name, ''))), 'A') || "
    "setweight(to_tsvector('simple', shop_unaccent(coalesce(NEW.description, ''))), 'B') || "
    "setweight(to_tsvector('simple', shop_unaccent(coalesce(NEW.category, ''))), 'C'); "
    "RETURN NEW; END $$",
    "CREATE TRIGGER products_search_vector BEFORE INSERT OR UPDATE OF name, description, category "
    "ON products FOR EACH ROW EXECUTE FUNCTION products_search_vector()",
    # Fires the trigger once for every existing row.
    "UPDATE products SET name = name",
    "CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)",
    "CREATE INDEX ix_products_name_trgm ON products USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX ix_products_description_trgm ON products USING gin (lower(description) gin_trgm_ops)",
]
POSTGRES_DOWNGRADE = [
    "DROP INDEX ix_products_description_trgm",
    "DROP INDEX ix_products_name_trgm",
    "DROP INDEX ix_products_search_vector",
    "DROP TRIGGER products_search_vector ON products",
    "DROP FUNCTION products_search_vector()",
    "ALTER TABLE products DROP COLUMN search_vector",
    "DROP FUNCTION shop_unaccent(text)",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_UPGRADE if postgres else SQLITE_UPGRADE:
        op.execute(statement)
    op.drop_index("ix_products_category", table_name="products")
    for name, columns in SORT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON products ({columns})")
    op.execute(SALE_ENDS_INDEX)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in (*SORT_INDEXES, "ix_products_sale_ends_at"):
        op.drop_index(name, table_name="products")
    op.create_index("ix_products_category", "products", ["category"])
    for statement in POSTGRES_DOWNGRADE if postgres else SQLITE_DOWNGRADE:
        op.execute(statement)
