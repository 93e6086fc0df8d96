"""Vocabularies of the synthetic shop: attribute values, geography, search queries."""

from __future__ import annotations

EVENT_TYPES = (
    "purchase",
    "return",
    "view",
    "search",
    "cart_add",
    "checkout_abandon",
    "email_sent",
    "email_open",
    "email_click",
)
PURCHASE, RETURN, VIEW, SEARCH, CART_ADD, ABANDON, EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK = range(9)

CHANNELS = ("web", "app", "store", "email")
WEB, APP, STORE, EMAIL = range(4)
DEVICES = ("mobile", "desktop", "tablet")
PAGE_TYPES = ("product", "category", "home")

GENDERS = ("female", "male", "nonbinary")
INCOME_BANDS = ("low", "lower_middle", "middle", "upper_middle", "high")
EDUCATION = ("secondary", "vocational", "bachelor", "master", "doctorate")
MARITAL = ("single", "married", "divorced", "widowed")
SINGLE, MARRIED, DIVORCED, WIDOWED = range(4)
OCCUPATIONS = (
    "student",
    "engineer",
    "teacher",
    "nurse",
    "sales",
    "manager",
    "clerk",
    "technician",
    "self_employed",
    "artist",
    "retired",
    "unemployed",
)
STUDENT, RETIRED = 0, 10
URBAN_RURAL = ("urban", "suburban", "rural")
RELIGIONS = ("christian", "muslim", "jewish", "buddhist", "hindu", "none")

INTERESTS = (
    "travel",
    "sports",
    "anime",
    "technology",
    "fashion",
    "cooking",
    "gaming",
    "outdoors",
    "music",
    "beauty",
    "home",
    "books",
)
LIFESTYLES = (
    "technophile",
    "fashionista",
    "traveler",
    "sporty",
    "anime_fan",
    "homebody",
    "eco_conscious",
    "bargain_hunter",
    "family_oriented",
    "luxury",
)
VALUES = ("sustainability", "quality", "price", "convenience", "novelty", "tradition")

CATEGORIES = (
    "sports",
    "travel",
    "anime",
    "electronics",
    "fashion",
    "grocery",
    "home",
    "toys",
    "beauty",
    "books",
    "seasonal",
)
# Purchase pools: the categories, then two cross-category pools.
POOLS = (*CATEGORIES, "character_sneakers", "luxury")

# (country, weight, calling code)
COUNTRIES = (
    ("FR", 0.26, "33"),
    ("DE", 0.20, "49"),
    ("GB", 0.16, "44"),
    ("ES", 0.12, "34"),
    ("IT", 0.12, "39"),
    ("US", 0.14, "1"),
)
# (country index, region, city, climate, weight within the country)
CITIES = (
    (0, "Ile-de-France", "Paris", "oceanic", 5.0),
    (0, "Auvergne-Rhone-Alpes", "Lyon", "temperate", 2.0),
    (0, "Provence-Alpes-Cote d'Azur", "Marseille", "mediterranean", 2.0),
    (0, "Occitanie", "Toulouse", "temperate", 1.5),
    (0, "Hauts-de-France", "Lille", "oceanic", 1.2),
    (0, "Nouvelle-Aquitaine", "Bordeaux", "oceanic", 1.2),
    (0, "Provence-Alpes-Cote d'Azur", "Nice", "mediterranean", 1.0),
    (0, "Grand Est", "Strasbourg", "continental", 1.0),
    (1, "Berlin", "Berlin", "continental", 4.0),
    (1, "Bavaria", "Munich", "continental", 2.5),
    (1, "Hamburg", "Hamburg", "oceanic", 2.0),
    (1, "North Rhine-Westphalia", "Cologne", "oceanic", 1.8),
    (1, "Hesse", "Frankfurt", "temperate", 1.5),
    (2, "England", "London", "oceanic", 5.0),
    (2, "England", "Manchester", "oceanic", 1.5),
    (2, "England", "Birmingham", "oceanic", 1.5),
    (2, "Scotland", "Edinburgh", "oceanic", 1.0),
    (2, "Scotland", "Glasgow", "oceanic", 1.0),
    (2, "Wales", "Cardiff", "oceanic", 0.7),
    (3, "Community of Madrid", "Madrid", "continental", 4.0),
    (3, "Catalonia", "Barcelona", "mediterranean", 3.5),
    (3, "Valencian Community", "Valencia", "mediterranean", 1.5),
    (3, "Andalusia", "Seville", "mediterranean", 1.2),
    (3, "Basque Country", "Bilbao", "oceanic", 0.8),
    (4, "Lazio", "Rome", "mediterranean", 3.5),
    (4, "Lombardy", "Milan", "temperate", 3.5),
    (4, "Campania", "Naples", "mediterranean", 2.0),
    (4, "Piedmont", "Turin", "continental", 1.5),
    (4, "Tuscany", "Florence", "mediterranean", 1.0),
    (5, "New York", "New York", "continental", 4.0),
    (5, "California", "Los Angeles", "mediterranean", 3.5),
    (5, "Illinois", "Chicago", "continental", 2.5),
    (5, "Texas", "Houston", "subtropical", 2.0),
    (5, "Florida", "Miami", "tropical", 1.2),
    (5, "Washington", "Seattle", "oceanic", 1.2),
    (5, "Colorado", "Denver", "semi-arid", 1.0),
)

# Search queries, grouped in pools: one per interest, then segment-specific pools.
QUERY_POOLS: dict[str, tuple[str, ...]] = {
    "travel": ("carry-on suitcase", "travel adapter", "packing cubes", "travel pillow"),
    "sports": ("running shoes", "yoga mat", "fitness tracker", "trail running shoes"),
    "anime": ("naruto figure", "one piece manga", "anime hoodie", "manga box set"),
    "technology": ("usb-c charger", "wireless earbuds", "mechanical keyboard", "4k monitor"),
    "fashion": ("winter coat", "leather handbag", "summer dress", "silk scarf"),
    "cooking": ("cast iron pan", "chef knife", "olive oil", "spice set"),
    "gaming": ("gaming mouse", "game controller", "gaming headset", "console bundle"),
    "outdoors": ("hiking boots", "2 person tent", "rain jacket", "camping stove"),
    "music": ("bluetooth speaker", "vinyl record", "guitar strings", "headphones"),
    "beauty": ("vitamin c serum", "lipstick", "sunscreen spf 50", "perfume"),
    "home": ("bed sheets", "scented candle", "storage boxes", "coffee maker"),
    "books": ("bestseller novel", "cookbook", "sci-fi paperback", "children's books"),
    "character_sneakers": (
        "character sneakers",
        "naruto shoes",
        "naruto character shoes",
        "anime sneakers",
        "one piece sneakers",
    ),
    "family": ("diapers", "school supplies", "family pack cereal", "kids shoes"),
    "deals": ("sale", "discount code", "clearance", "black friday deals"),
    "holiday": ("christmas gifts", "halloween costume", "valentine gift", "advent calendar"),
    "travel_summer": ("beach bag", "summer hiking trip", "swimsuit", "sunglasses"),
    "tech_buyer": ("usb-c hub", "noise cancelling headphones", "smart watch", "laptop stand"),
    "luxury": ("designer handbag", "cashmere sweater", "luxury watch", "silk tie"),
}
QUERIES: tuple[str, ...] = tuple(q for pool in QUERY_POOLS.values() for q in pool)
QUERY_POOL_NAMES: tuple[str, ...] = tuple(QUERY_POOLS)
