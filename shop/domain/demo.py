"""The demo catalog that ``make run`` loads: a few dozen products, some mice, one small flash sale."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from shop.domain.ledger import insert_ignoring_conflicts, record_creation
from shop.domain.requests import sku_lane
from shop.domain.stock import location_row, movement_row, record_movements
from shop.storage.models import BASE_UOM, DocType, Product, ProductUom, SkuFence, StockLocation, utcnow

# sku, name, category, price (Rp), on_hand, max_per_cart, sales so far, description
DEMO_PRODUCTS: list[tuple[str, str, str, int, int, int, int, str]] = [
    (
        "FLASH-PHONE-01",
        "Nusantara X1 Phone 128 GB (Flash Sale)",
        "electronic",
        1_999_000,
        12,
        1,
        0,
        "Flash-sale price for 11.11 only: 6.5 inch display, 128 GB storage, dual SIM.",
    ),
    (
        "MOUSE-WL-01",
        "Logi Silent Wireless Mouse",
        "electronic",
        149_000,
        120,
        3,
        830,
        "Quiet-click wireless mouse with a two-year battery and USB receiver.",
    ),
    (
        "MOUSE-GM-02",
        "Raptor Gaming Mouse RGB 16000 DPI",
        "electronic",
        389_000,
        60,
        2,
        412,
        "Wired gaming mouse with adjustable DPI, six buttons and RGB lighting.",
    ),
    (
        "MOUSE-ERG-03",
        "Ergo Vertical Mouse",
        "electronic",
        259_000,
        45,
        2,
        97,
        "Vertical ergonomic mouse that keeps the wrist in a handshake position.",
    ),
    (
        "MOUSE-BT-04",
        "Travel Bluetooth Mouse Mini",
        "electronic",
        99_000,
        200,
        5,
        1203,
        "Pocket-size Bluetooth mouse for laptops and tablets.",
    ),
    (
        "KB-MECH-01",
        "Keychron-style Mechanical Keyboard",
        "electronic",
        899_000,
        40,
        2,
        233,
        "Hot-swappable mechanical keyboard with brown switches and Indonesian legends.",
    ),
    (
        "HP-ANC-01",
        "Sora Noise-Cancelling Headphones",
        "electronic",
        1_250_000,
        30,
        2,
        150,
        "Over-ear headphones with active noise cancelling and 30-hour battery.",
    ),
    (
        "EARBUD-01",
        "Pulse True Wireless Earbuds",
        "electronic",
        349_000,
        150,
        3,
        960,
        "Compact earbuds with charging case and touch controls.",
    ),
    (
        "CHG-65W-01",
        "GaN Charger 65 W USB-C",
        "electronic",
        299_000,
        90,
        3,
        540,
        "Fast charger for phones and laptops, foldable plug.",
    ),
    (
        "PB-20K-01",
        "Power Bank 20,000 mAh",
        "electronic",
        239_000,
        110,
        3,
        780,
        "High-capacity power bank with two USB-C ports.",
    ),
    (
        "SSD-1TB-01",
        "Portable SSD 1 TB",
        "electronic",
        1_150_000,
        25,
        2,
        120,
        "USB-C portable solid-state drive, up to 1,000 MB/s.",
    ),
    (
        "BATIK-SHIRT-01",
        "Batik Parang Long-Sleeve Shirt",
        "fashion",
        325_000,
        70,
        4,
        410,
        "Cotton batik shirt with the classic parang motif.",
    ),
    (
        "SARONG-01",
        "Songket-Pattern Sarong",
        "fashion",
        210_000,
        55,
        4,
        188,
        "Soft sarong with a woven songket-style pattern.",
    ),
    (
        "SNEAKER-01",
        "Urban Runner Sneakers",
        "fashion",
        499_000,
        40,
        2,
        302,
        "Light running sneakers with breathable mesh.",
    ),
    (
        "HIJAB-01",
        "Voal Premium Hijab",
        "fashion",
        89_000,
        300,
        6,
        2210,
        "Breathable voal hijab, square cut, several colours.",
    ),
    (
        "BAG-TOTE-01",
        "Canvas Tote Bag",
        "fashion",
        129_000,
        80,
        4,
        356,
        "Sturdy canvas tote with inner pocket.",
    ),
    (
        "WATCH-01",
        "Minimalist Quartz Watch",
        "fashion",
        579_000,
        35,
        2,
        88,
        "Stainless steel watch with leather strap.",
    ),
    (
        "RICE-5KG-01",
        "Premium Pandan Rice 5 kg",
        "groceries",
        79_000,
        500,
        5,
        3100,
        "Fragrant pandan rice from West Java.",
    ),
    (
        "COFFEE-01",
        "Toraja Arabica Coffee Beans 250 g",
        "groceries",
        95_000,
        150,
        6,
        1420,
        "Single-origin arabica with notes of chocolate and spice.",
    ),
    (
        "SAMBAL-01",
        "Sambal Bawang Jar 200 g",
        "groceries",
        35_000,
        400,
        10,
        2875,
        "Fried-shallot chilli sambal, extra spicy.",
    ),
    ("TEA-01", "Jasmine Tea 50 Bags", "groceries", 28_000, 350, 10, 1980, "Classic jasmine tea bags."),
    (
        "OIL-2L-01",
        "Palm Cooking Oil 2 L",
        "groceries",
        38_000,
        260,
        4,
        2650,
        "Refined cooking oil in a resealable pouch.",
    ),
    (
        "RICECOOK-01",
        "Digital Rice Cooker 1.8 L",
        "home",
        649_000,
        45,
        2,
        265,
        "Fuzzy-logic rice cooker with keep-warm and porridge modes.",
    ),
    (
        "FAN-01",
        "Standing Fan 16 inch",
        "home",
        289_000,
        60,
        2,
        470,
        "Quiet standing fan with three speeds and timer.",
    ),
    (
        "BLENDER-01",
        "Glass Jar Blender 1.5 L",
        "home",
        429_000,
        38,
        2,
        198,
        "Blender with ice-crush blades and two speeds.",
    ),
    (
        "BEDSHEET-01",
        "Cotton Bed Sheet Set Queen",
        "home",
        259_000,
        75,
        3,
        340,
        "Soft cotton sheet set with two pillowcases.",
    ),
    ("LAMP-01", "LED Desk Lamp", "home", 159_000, 95, 3, 512, "Dimmable desk lamp with USB charging port."),
    (
        "SUNSCREEN-01",
        "Sunscreen SPF 50 PA++++",
        "beauty",
        69_000,
        240,
        6,
        2890,
        "Lightweight sunscreen for tropical days.",
    ),
    (
        "SERUM-01",
        "Niacinamide Brightening Serum",
        "beauty",
        119_000,
        160,
        4,
        1740,
        "10% niacinamide serum, 30 ml.",
    ),
    ("LIPTINT-01", "Velvet Lip Tint", "beauty", 59_000, 210, 6, 2210, "Long-lasting lip tint in six shades."),
    ("SHAMPOO-01", "Aloe Vera Shampoo 340 ml", "beauty", 45_000, 180, 6, 980, "Gentle daily shampoo."),
    ("BALL-01", "Futsal Ball Size 4", "sports", 219_000, 50, 3, 260, "Low-bounce futsal ball, stitched."),
    ("YOGA-01", "Yoga Mat 6 mm", "sports", 179_000, 70, 3, 410, "Non-slip yoga mat with carry strap."),
    (
        "RACKET-01",
        "Badminton Racket Carbon",
        "sports",
        459_000,
        40,
        2,
        330,
        "Lightweight carbon racket, strung.",
    ),
    (
        "BOTTLE-01",
        "Insulated Water Bottle 750 ml",
        "sports",
        139_000,
        130,
        4,
        860,
        "Keeps drinks cold for 24 hours.",
    ),
    (
        "FLASH-SHOE-02",
        "Urban Runner Sneakers (Flash Sale)",
        "fashion",
        199_000,
        5,
        1,
        0,
        "Half-price flash-sale pair; one per shopper.",
    ),
]


# Flash prices: sku -> normal price (the demo catalog's price is the flash price).
DEMO_NORMAL_PRICES = {
    "FLASH-PHONE-01": 2_999_000,
    "FLASH-SHOE-02": 399_000,
    "MOUSE-WL-01": 199_000,
    "EARBUD-01": 499_000,
}
# Pack units: sku -> [(unit, base units in one)].
DEMO_UOMS = {
    "MOUSE-BT-04": [("pack", 5)],
    "BOTTLE-01": [("box", 12)],
    "CHG-65W-01": [("pack", 3), ("box", 24)],
    "EARBUD-01": [("pack", 2)],
}
# Warehouses, by priority: Jakarta first, then Surabaya. Stock is split 60/40 (small lots all in JKT).
DEMO_LOCATIONS = ("JKT", "SBY")
SPLIT_FROM = 20


def _split(on_hand: int) -> dict[str, int]:
    if on_hand < SPLIT_FROM:
        return {"JKT": on_hand}
    jakarta = on_hand * 6 // 10
    return {"JKT": jakarta, "SBY": on_hand - jakarta}


def seed_demo_catalog(session: Session) -> list[Product]:
    """Insert the demo products that are missing; never touch ones that exist."""
    now = utcnow()
    with session.begin():
        existing = {sku for (sku,) in session.query(Product.sku)}
        added = []
        for index, (sku, name, category, price, on_hand, max_per_cart, sales, description) in enumerate(
            DEMO_PRODUCTS
        ):
            if sku in existing:
                continue
            product = Product(
                sku=sku,
                name=name,
                category=category,
                normal_price=DEMO_NORMAL_PRICES.get(sku, price),
                price=price,
                base_uom=BASE_UOM,
                on_hand=on_hand,
                reserved=0,
                allocated=0,
                sales=sales,
                max_per_cart=max_per_cart,
                description=description,
                image="",
                # Spread creation times so "newest" sorting is meaningful.
                created_at=now - timedelta(hours=len(DEMO_PRODUCTS) - index),
                updated_at=now,
            )
            session.add(product)
            added.append(product)
        session.flush()
        movements = []
        for product in added:
            for priority, (code, units) in enumerate(_split(product.on_hand).items()):
                session.add(StockLocation(**location_row(product.sku, code, priority, units, now)))
                if units:
                    movements.append(
                        movement_row(product.sku, code, units, DocType.GOODS_RECEIPT, "INITIAL", now)
                    )
            for uom, conversion in DEMO_UOMS.get(product.sku, []):
                session.add(
                    ProductUom(
                        sku=product.sku, uom=uom, conversion=conversion, created_at=now, updated_at=now
                    )
                )
            record_creation(session, product.sku, product.on_hand, now)
        session.flush()
        record_movements(session, movements)
        insert_ignoring_conflicts(session, SkuFence, [{"lane": sku_lane(p.sku), "token": 0} for p in added])
    for product in added:
        session.refresh(product)
    return added
