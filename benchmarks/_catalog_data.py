"""Deterministic skincare catalog data shared by the catalog benchmarks."""

from __future__ import annotations

import csv
import random
from pathlib import Path

BRANDS = ["Glow Labs", "Dewdrop", "Skin Theory", "Pure Ritual", "Lumière", "Fieldwork",
          "Botanica", "Clearwell", "Velvet Moss", "Northshore"]
ACTIVES = ["vitamin c", "retinol", "niacinamide", "hyaluronic acid", "peptide", "ceramide",
           "salicylic acid", "glycolic acid", "zinc", "squalane", "bakuchiol", "azelaic acid",
           "centella", "green tea", "snail mucin", "rosehip", "aloe", "collagen"]
ADJECTIVES = ["brightening", "hydrating", "calming", "firming", "clarifying", "gentle",
              "overnight", "daily", "intensive", "barrier", "renewing", "soothing"]
TYPES = {"cleanser": "cleanser", "serum": "serum", "moisturizer": "moisturizer",
         "sunscreen": "sunscreen spf 50", "mask": "mask", "toner": "toner",
         "eye_cream": "eye cream", "treatment": "spot treatment", "set": "starter set"}
FILLER = ["skin", "texture", "tone", "pores", "fine lines", "redness", "glow", "dryness",
          "sensitive", "oily", "combination", "fragrance free", "vegan", "dermatologist",
          "tested", "lightweight", "non comedogenic", "plumping", "radiance", "dullness"]
HEADER = ["external_id", "name", "price", "product_url", "category", "description", "image_url",
          "in_stock"]


def product_rows(count: int, seed: int = 7):
    rng = random.Random(seed)
    categories = list(TYPES)
    for index in range(count):
        category = categories[index % len(categories)]
        active = rng.choice(ACTIVES)
        name = f"{rng.choice(BRANDS)} {rng.choice(ADJECTIVES)} {active} {TYPES[category]}"
        words = [rng.choice(FILLER) for _ in range(14)] + [active]
        rng.shuffle(words)
        cents = rng.randint(500, 12000)
        yield {
            "external_id": f"SKU-{index:07d}",
            "name": name.title(),
            "price": f"{cents // 100}.{cents % 100:02d}",  # minor units, no float
            "product_url": f"https://glowlabs.example.com/products/sku-{index:07d}",
            "category": category,
            "description": " ".join(words).capitalize() + ".",
            "image_url": f"https://cdn.example.net/img/{index:07d}.jpg",
            "in_stock": "true" if index % 7 else "false",
        }


def write_csv(path: Path, count: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(product_rows(count))
    return path
