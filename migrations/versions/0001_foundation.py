"""Foundation: PostGIS and pg_trgm, time-ordered ids, accounts and tokens, categories, places.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The category tree, in the spirit of Foursquare's taxonomy: (id, name, parent id).
CATEGORIES = [
    ("food", "Food", None),
    ("restaurant", "Restaurant", "food"),
    ("japanese-restaurant", "Japanese Restaurant", "restaurant"),
    ("ramen-shop", "Ramen Shop", "japanese-restaurant"),
    ("sushi-restaurant", "Sushi Restaurant", "japanese-restaurant"),
    ("fast-food", "Fast Food Restaurant", "restaurant"),
    ("coffee-shop", "Coffee Shop", "food"),
    ("cafe", "Café", "food"),
    ("bakery", "Bakery", "food"),
    ("nightlife", "Nightlife Spot", None),
    ("bar", "Bar", "nightlife"),
    ("izakaya", "Izakaya", "bar"),
    ("karaoke", "Karaoke Box", "nightlife"),
    ("shops", "Shops & Services", None),
    ("convenience-store", "Convenience Store", "shops"),
    ("supermarket", "Supermarket", "shops"),
    ("bookstore", "Bookstore", "shops"),
    ("clothing-store", "Clothing Store", "shops"),
    ("electronics-store", "Electronics Store", "shops"),
    ("bank", "Bank", "shops"),
    ("atm", "ATM", "bank"),
    ("arts", "Arts & Entertainment", None),
    ("movie-theater", "Movie Theater", "arts"),
    ("museum", "Museum", "arts"),
    ("art-gallery", "Art Gallery", "arts"),
    ("music-venue", "Music Venue", "arts"),
    ("theme-park", "Theme Park", "arts"),
    ("outdoors", "Outdoors & Recreation", None),
    ("park", "Park", "outdoors"),
    ("garden", "Garden", "outdoors"),
    ("beach", "Beach", "outdoors"),
    ("gym", "Gym", "outdoors"),
    ("shrine", "Shrine", "outdoors"),
    ("temple", "Temple", "outdoors"),
    ("travel", "Travel & Transport", None),
    ("train-station", "Train Station", "travel"),
    ("subway-station", "Subway Station", "train-station"),
    ("bus-stop", "Bus Stop", "travel"),
    ("airport", "Airport", "travel"),
    ("hotel", "Hotel", "travel"),
    ("parking", "Parking", "travel"),
    ("gas-station", "Gas Station", "travel"),
    ("public-restroom", "Public Restroom", "travel"),
    ("community", "Community & Government", None),
    ("police-station", "Police Station", "community"),
    ("library", "Library", "community"),
    ("post-office", "Post Office", "community"),
    ("city-hall", "City Hall", "community"),
    ("wifi-hotspot", "Wi-Fi Hotspot", "community"),
    ("professional", "Professional & Other Places", None),
    ("office", "Office", "professional"),
    ("school", "School", "professional"),
    ("university", "University", "professional"),
    ("hospital", "Hospital", "professional"),
    ("other", "Other", None),
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE SEQUENCE geo_id_seq")
    # Snowflake layout: 41 bits ms since Twitter's epoch | 10 bits shard (0) | 12 bits sequence.
    op.execute("""
        CREATE FUNCTION geo_next_id() RETURNS bigint LANGUAGE sql VOLATILE AS $$
            SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
                     - 1288834974657) << 22)
                   | (nextval('geo_id_seq') % 4096)
        $$""")

    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, primary_key=True, server_default=sa.text("geo_next_id()")),
        sa.Column("handle", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("kind IN ('member', 'business', 'advertiser')", name="kind"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_index("uq_accounts_handle_lower", "accounts", [sa.text("lower(handle)")], unique=True)
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.LargeBinary, nullable=False),
        sa.Column(
            "account_id",
            sa.BigInteger,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_account_tokens_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_account_tokens"),
    )
    op.create_index("ix_account_tokens_account_id", "account_tokens", ["account_id"])

    categories = op.create_table(
        "categories",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "parent_id",
            sa.Text,
            sa.ForeignKey("categories.id", name="fk_categories_parent_id_categories"),
        ),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
    )
    op.bulk_insert(
        categories,
        [
            {"id": cid, "name": name, "parent_id": parent, "position": i}
            for i, (cid, name, parent) in enumerate(CATEGORIES)
        ],
    )

    op.create_table(
        "places",
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("geo_next_id()")),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_norm", sa.Text, nullable=False),
        sa.Column(
            "category",
            sa.Text,
            sa.ForeignKey("categories.id", name="fk_places_category_categories"),
            nullable=False,
        ),
        sa.Column("position", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address", sa.Text),
        sa.Column(
            "owner_id",
            sa.BigInteger,
            sa.ForeignKey("accounts.id", ondelete="SET NULL", name="fk_places_owner_id_accounts"),
        ),
        sa.Column("source", sa.Text),
        sa.Column("source_ref", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_places"),
    )
    op.create_index("ix_places_position", "places", ["position"], postgresql_using="gist")
    op.create_index(
        "ix_places_name_norm_trgm",
        "places",
        ["name_norm"],
        postgresql_using="gin",
        postgresql_ops={"name_norm": "gin_trgm_ops"},
    )
    op.create_index("ix_places_name_norm", "places", ["name_norm"])
    op.create_index("ix_places_category", "places", ["category"])
    op.create_index("ix_places_owner_id", "places", ["owner_id"])
    op.create_index(
        "uq_places_source_ref",
        "places",
        ["source", "source_ref"],
        unique=True,
        postgresql_where=sa.text("source IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("places")
    op.drop_table("categories")
    op.drop_table("account_tokens")
    op.drop_table("accounts")
    op.execute("DROP FUNCTION geo_next_id()")
    op.execute("DROP SEQUENCE geo_id_seq")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
    op.execute("DROP EXTENSION IF EXISTS postgis")
