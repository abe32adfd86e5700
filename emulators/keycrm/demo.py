"""Realistic, deterministic demo data for a Ukrainian shop on KeyCRM, as a ``seed`` body.

Deterministic: a fixed random seed and fixed dates (orders from 2025-03-01, UTC), so two runs
give the same ids, skus, phones and totals. ``products``, ``orders`` and ``buyers`` scale it
(benchmarks: ``demo_seed(products=18000, orders=10000)`` gives about 50,000 offers).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Body = dict[str, Any]
ANCHOR = dt.datetime(2025, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
PLAIN = "%Y-%m-%d %H:%M:%S"
CENT = Decimal("0.01")

USERS = [
    {
        "id": 1,
        "first_name": "Іван",
        "last_name": "Петренко",
        "email": "ivan.petrenko@example.com",
        "phone": "+380671110001",
        "role_id": 1,
    },
    {
        "id": 2,
        "first_name": "Оксана",
        "last_name": "Мельник",
        "email": "oksana.melnyk@example.com",
        "phone": "+380671110002",
        "role_id": 2,
    },
    {
        "id": 3,
        "first_name": "Андрій",
        "last_name": "Шевчук",
        "email": "andrii.shevchuk@example.com",
        "phone": "+380671110003",
        "role_id": 2,
    },
]
# Group ids as seen on a live account: 1 new, 2 in progress, 4 delivery, 5 completed, 6 cancelled.
STATUSES = [
    {"id": 1, "name": "Нове", "alias": "new", "group_id": 1, "is_reserved": True},
    {"id": 2, "name": "Підтверджено", "alias": "confirmed", "group_id": 2, "is_reserved": True},
    {"id": 3, "name": "Відправлено", "alias": "shipped", "group_id": 4, "is_reserved": True},
    {"id": 4, "name": "Виконано", "alias": "completed", "group_id": 5, "is_closing_order": True},
    {"id": 5, "name": "Скасовано", "alias": "canceled", "group_id": 6, "is_closing_order": True},
]
SOURCES = [
    {
        "id": 1,
        "name": "Інтернет-магазин",
        "alias": "website",
        "driver": "opencart",
        "source_name": "shop.example.ua",
    },
    {
        "id": 2,
        "name": "Rozetka",
        "alias": "rozetka",
        "driver": "rozetka",
        "source_uuid": "18960006",
        "source_name": "Rozetka Marketplace",
    },
    {"id": 3, "name": "Prom.ua", "alias": "promua", "driver": "promua", "source_name": "Prom.ua"},
    {"id": 4, "name": "Instagram", "alias": "instagram", "driver": "other"},
]
PAYMENT_METHODS = [
    {"id": 1, "name": "Готівка", "alias": "cash"},
    {"id": 2, "name": "Оплата карткою (LiqPay)", "alias": "liqpay"},
    {"id": 3, "name": "Банківський переказ", "alias": "bank_transfer"},
    {"id": 4, "name": "Накладений платіж", "alias": "cod"},
    {"id": 5, "name": "Monobank", "alias": "monobank"},
]
DELIVERY_SERVICES = [
    {"id": 1, "name": "Нова Пошта", "source_name": "novaposhta", "alias": "novaposhta"},
    {"id": 2, "name": "Укрпошта", "source_name": "ukrposhta", "alias": "ukrposhta"},
    {"id": 3, "name": "Meest Express", "source_name": "meest", "alias": "meest"},
    {"id": 4, "name": "Самовивіз", "source_name": None, "alias": "pickup"},
]
TAGS = [
    {"id": 1, "name": "VIP", "alias": "vip", "color": "#E74C3C"},
    {"id": 2, "name": "Опт", "alias": "wholesale", "color": "#8E44AD"},
    {"id": 3, "name": "Повторне замовлення", "alias": "repeat", "color": "#27AE60"},
]
EXPENSE_TYPES = [
    {"id": 1, "name": "Доставка", "alias": "delivery"},
    {"id": 2, "name": "Комісія платіжної системи", "alias": "commission"},
]
PRODUCT_STATUSES = [
    {"id": 1, "name": "Новий", "alias": "new"},
    {"id": 2, "name": "Зібрано", "alias": "picked"},
    {"id": 3, "name": "Повернення", "alias": "returned"},
]
WAREHOUSES = [
    {"id": 1, "name": "Основний склад", "description": "Київ, вул. Складська, 1"},
    {"id": 2, "name": "Склад Львів", "description": "Львів, вул. Городоцька, 200"},
]
CUSTOM_FIELDS = [
    {"id": 1, "uuid": "OR_1001", "name": "Номер документа BAS", "model": "order", "type": "text"},
    {
        "id": 2,
        "uuid": "OR_1002",
        "name": "Форма оплати",
        "model": "order",
        "type": "select",
        "options": ["Готівка", "Безготівка", "Накладений платіж"],
    },
    {"id": 3, "uuid": "OR_1003", "name": "Потрібен рахунок", "model": "order", "type": "switcher"},
    {"id": 4, "uuid": "CT_1001", "name": "ЄДРПОУ / ІПН", "model": "client", "type": "text"},
    {"id": 5, "uuid": "CT_1002", "name": "Платник ПДВ", "model": "client", "type": "switcher"},
    {
        "id": 6,
        "uuid": "PR_1001",
        "name": "Країна виробництва",
        "model": "crm_product",
        "type": "text",
    },
    {"id": 7, "uuid": "CO_1001", "name": "ЄДРПОУ", "model": "company", "type": "text"},
]
# Three levels: Одяг → Чоловічий одяг → Футболки чоловічі.
CATEGORIES = [
    {"id": 1, "name": "Одяг", "parent_id": None},
    {"id": 2, "name": "Чоловічий одяг", "parent_id": 1},
    {"id": 3, "name": "Жіночий одяг", "parent_id": 1},
    {"id": 4, "name": "Футболки чоловічі", "parent_id": 2},
    {"id": 5, "name": "Худі та світшоти", "parent_id": 2},
    {"id": 6, "name": "Сукні", "parent_id": 3},
    {"id": 7, "name": "Футболки жіночі", "parent_id": 3},
    {"id": 8, "name": "Тканини", "parent_id": None},
    {"id": 9, "name": "Мереживо", "parent_id": 8},
    {"id": 10, "name": "Бавовна та льон", "parent_id": 8},
    {"id": 11, "name": "Аксесуари", "parent_id": None},
    {"id": 12, "name": "Сумки", "parent_id": 11},
    {"id": 13, "name": "Шарфи та хустки", "parent_id": 11},
]
# (name, sku prefix, category, price, purchase price, kind); kind: sized | fabric | single
PRODUCTS = [
    ("Футболка базова", "TSH", 4, 650, 280, "sized"),
    ("Футболка з принтом «Карпати»", "TSP", 4, 790, 320, "sized"),
    ("Футболка оверсайз", "TSO", 4, 720, 300, "sized"),
    ("Поло класичне", "POL", 4, 890, 390, "sized"),
    ("Худі з капюшоном", "HOD", 5, 1450, 640, "sized"),
    ("Світшот «Київ»", "SWT", 5, 1290, 560, "sized"),
    ("Сорочка лляна", "SHL", 2, 1190, 520, "sized"),
    ("Штани карго", "PNC", 2, 1390, 610, "sized"),
    ("Джинси прямі", "JNS", 2, 1590, 700, "sized"),
    ("Сукня лляна", "DRL", 6, 1890, 820, "sized"),
    ("Сукня-сорочка", "DRS", 6, 1690, 740, "sized"),
    ("Сукня з вишивкою", "DRV", 6, 2490, 1100, "sized"),
    ("Футболка жіноча базова", "TWB", 7, 590, 250, "sized"),
    ("Топ трикотажний", "TOP", 7, 490, 200, "sized"),
    ("Спідниця міді", "SKM", 3, 1150, 480, "sized"),
    ("Жакет класичний", "JKT", 3, 2190, 950, "sized"),
    ("Мереживо шантильї", "FAB-LACE", 9, 420, 190, "fabric"),
    ("Мереживо макраме", "FAB-MACR", 9, 380, 170, "fabric"),
    ("Бавовна сатин", "FAB-SAT", 10, 260, 120, "fabric"),
    ("Бавовна поплін", "FAB-POP", 10, 210, 95, "fabric"),
    ("Льон натуральний", "FAB-LIN", 10, 340, 150, "fabric"),
    ("Тканина костюмна", "FAB-SUIT", 8, 450, 210, "fabric"),
    ("Сумка шопер", "BAG-SHP", 12, 450, 180, "single"),
    ("Рюкзак міський", "BAG-BPK", 12, 1350, 600, "single"),
    ("Сумка крос-боді", "BAG-CRS", 12, 990, 430, "single"),
    ("Шарф вовняний", "SCF-WOL", 13, 690, 290, "single"),
    ("Хустка шовкова", "SCF-SLK", 13, 890, 380, "single"),
    ("Шапка в'язана", "HAT-KNT", 11, 490, 200, "single"),
    ("Пояс шкіряний", "BLT-LTH", 11, 790, 330, "single"),
    ("Гаманець шкіряний", "WLT-LTH", 11, 1090, 470, "single"),
]
COLOURS = [("Чорний", "BLK"), ("Білий", "WHT"), ("Оливковий", "OLV"), ("Бежевий", "BGE")]
SIZES = ["S", "M", "L", "XL"]
# Phones deliberately in the mixed formats real shops store.
BUYERS = [
    ("Олена Коваль", "+380671234567", "olena.koval@example.com"),
    ("Тарас Шевченко", "067 123 45 68", "taras.shevchenko@example.com"),
    ("Марія Бондаренко", "+38(050)1234567", "maria.bondarenko@example.com"),
    ("Андрій Мельник", "380931112233", None),
    ("Наталія Ткаченко", "+38 097 555 12 34", "n.tkachenko@example.com"),
    ("Сергій Кравченко", "0661234599", None),
    ("Ірина Олійник", "+380 (63) 777-88-99", "iryna.oliinyk@example.com"),
    ("Дмитро Лисенко", "380501112244", "d.lysenko@example.com"),
    ("Юлія Савченко", "+380987654321", "yulia.savchenko@example.com"),
    ("Олександр Руденко", "073 222 33 44", None),
    ("Катерина Мороз", "+38(068)3334455", "kateryna.moroz@example.com"),
    ("Віктор Поліщук", "380954443322", "viktor.polishchuk@example.com"),
]
FIRST_NAMES = ["Богдан", "Галина", "Роман", "Софія", "Петро", "Леся", "Максим", "Оля", "Василь"]
LAST_NAMES = ["Гончаренко", "Коваленко", "Бойко", "Кузьменко", "Литвиненко", "Павленко", "Зінченко"]
CITIES = [
    ("Київ", "Київська"),
    ("Львів", "Львівська"),
    ("Одеса", "Одеська"),
    ("Харків", "Харківська"),
    ("Дніпро", "Дніпропетровська"),
    ("Вінниця", "Вінницька"),
]
COMPANIES = [
    {
        "id": 1,
        "name": "ТОВ «Світанок Трейд»",
        "title": "Товариство з обмеженою відповідальністю «Світанок Трейд»",
        "bank_account": "UA213223130000026007233566001",
        "notes": "Оптовий клієнт, відстрочка 14 днів",
        "manager_id": 2,
        "custom_fields": [{"uuid": "CO_1001", "value": "41234567"}],
    },
    {
        "id": 2,
        "name": "ФОП Коваленко П. І.",
        "title": "Фізична особа-підприємець Коваленко Петро Іванович",
        "bank_account": "UA903052992990004149123456789",
        "notes": None,
        "manager_id": 3,
        "custom_fields": [{"uuid": "CO_1001", "value": "3012345678"}],
    },
]
COMPANY_OF_BUYER = {5: 1, 8: 2}  # buyer id -> company id
UTM = [
    {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring_sale",
        "utm_term": "лляна сукня",
        "utm_content": "ad_17",
    },
    {
        "utm_source": "facebook",
        "utm_medium": "social",
        "utm_campaign": "new_collection",
        "utm_term": None,
        "utm_content": "carousel_3",
    },
    {
        "utm_source": "instagram",
        "utm_medium": "stories",
        "utm_campaign": "influencer_march",
        "utm_term": None,
        "utm_content": None,
    },
]
# Status of the i-th order (cycled): mostly done, some in flight, some new or cancelled.
STATUS_CYCLE = [1, 2, 3, 4, 4, 2, 3, 4, 5, 1, 4, 3, 2, 4, 1, 4, 3, 5, 4, 2]


def demo_seed(*, products: int = 30, orders: int = 20, buyers: int = 12, seed: int = 2025) -> Body:
    rng = random.Random(seed)
    catalogue = _products(rng, products)
    offers = [offer for product in catalogue for offer in product["offers"]]
    buyer_rows = _buyers(buyers)
    # Orders spread over about 30 days, however many there are (at least 3 minutes apart).
    step = dt.timedelta(minutes=max(3, (30 * 24 * 60) // max(1, orders)))
    return {
        "users": _dated(USERS),
        "statuses": _dated(STATUSES),
        "sources": _dated(SOURCES),
        "payment_methods": PAYMENT_METHODS,
        "delivery_services": DELIVERY_SERVICES,
        "tags": _dated(TAGS),
        "expense_types": EXPENSE_TYPES,
        "product_statuses": _dated(PRODUCT_STATUSES),
        "warehouses": WAREHOUSES,
        "custom_fields": CUSTOM_FIELDS,
        "categories": _dated(CATEGORIES),
        "companies": _dated(COMPANIES),
        "buyers": buyer_rows,
        "products": catalogue,
        "stocks": _second_warehouse(rng, offers),
        "orders": [_order(rng, i, offers, buyer_rows, step) for i in range(orders)],
    }


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime(PLAIN)


def _dated(rows: list[Body]) -> list[Body]:
    """Dictionaries were set up when the account was opened, long before the first order."""
    opened = _stamp(ANCHOR - dt.timedelta(days=180))
    return [{"created_at": opened, "last_logged_at": opened, **row} for row in rows]


def _products(rng: random.Random, count: int) -> list[Body]:
    result = []
    offer_id = 1
    for index in range(count):
        name, prefix, category, price, purchase, kind = PRODUCTS[index % len(PRODUCTS)]
        series = index // len(PRODUCTS)
        if series:
            name, prefix = f"{name} (модель {series + 1})", f"{prefix}{series + 1}"
        created = ANCHOR - dt.timedelta(days=90 - index % 60)
        product: Body = {
            "id": index + 1,
            "name": name,
            "description": f"{name}. Виробництво: Україна.",
            "category_id": category,
            "currency_code": "UAH",
            "unit_type": "м" if kind == "fabric" else None,
            "pictures": [f"https://cdn.example.ua/products/{prefix.lower()}.jpg"],
            "custom_fields": [{"uuid": "PR_1001", "value": "Україна"}],
            "created_at": _stamp(created),
            "updated_at": _stamp(created + dt.timedelta(days=3)),
            "offers": [],
        }
        for properties, suffix in _variants(rng, kind):
            product["offers"].append(
                {
                    "id": offer_id,
                    "sku": f"{prefix}-{suffix}" if suffix else prefix,
                    "barcode": f"482{(offer_id * 7919) % 10**9:09d}0",
                    "price": price,
                    "purchased_price": purchase,
                    "weight": 0.3 if kind != "fabric" else 0.25,
                    "length": 30,
                    "width": 20,
                    "height": 3,
                    "properties": properties,
                    "quantity": rng.randint(0, 40),
                    "reserve": rng.choice([0, 0, 0, 1, 2]),
                    "warehouse_id": 1,
                    "created_at": product["created_at"],
                }
            )
            offer_id += 1
        result.append(product)
    return result


def _variants(rng: random.Random, kind: str) -> list[tuple[list[Body], str]]:
    if kind != "sized":
        return [([], "")]
    sizes = SIZES if rng.random() < 0.5 else SIZES[:3]
    colours = rng.sample(COLOURS, 2 if rng.random() < 0.3 else 1)
    return [
        (
            [{"name": "Колір", "value": colour}, {"name": "Розмір", "value": size}],
            f"{code}-{size}",
        )
        for colour, code in colours
        for size in sizes
    ]


def _second_warehouse(rng: random.Random, offers: list[Body]) -> list[Body]:
    # About a third of the offers are also stocked in Lviv, so details=true shows two rows.
    return [
        {"offer_id": offer["id"], "warehouse_id": 2, "quantity": rng.randint(1, 15), "reserve": 0}
        for offer in offers
        if rng.random() < 0.33
    ]


def _buyers(count: int) -> list[Body]:
    rows = []
    for index in range(count):
        if index < len(BUYERS):
            name, phone, email = BUYERS[index]
        else:
            name = f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index % len(LAST_NAMES)]}"
            phone, email = f"+38067{index:07d}", f"buyer{index}@example.com"
        ident = index + 1
        city, region = CITIES[index % len(CITIES)]
        created = ANCHOR - dt.timedelta(days=120 - index % 100)
        row: Body = {
            "id": ident,
            "full_name": name,
            "phone": [phone],
            "email": [email] if email else [],
            "note": "Постійний клієнт" if index % 5 == 0 else None,
            "manager_id": USERS[index % len(USERS)]["id"],
            "company_id": COMPANY_OF_BUYER.get(ident),
            "shipping": [
                {
                    "address": None,
                    "city": city,
                    "region": region,
                    "zip_code": None,
                    "country": "Ukraine",
                    "recipient_full_name": name,
                    "recipient_phone": phone,
                    "warehouse_ref": None,
                }
            ],
            "created_at": _stamp(created),
            "updated_at": _stamp(created + dt.timedelta(days=1)),
        }
        if ident in COMPANY_OF_BUYER:
            row["custom_fields"] = [
                {"uuid": "CT_1001", "value": "41234567" if ident == 5 else "3012345678"},
                {"uuid": "CT_1002", "value": ident == 5},
            ]
        rows.append(row)
    return rows


def _order(
    rng: random.Random, index: int, offers: list[Body], buyers: list[Body], step: dt.timedelta
) -> Body:
    status_id = STATUS_CYCLE[index % len(STATUS_CYCLE)]
    source = SOURCES[rng.randrange(len(SOURCES))]
    buyer = buyers[index % len(buyers)]
    ordered = ANCHOR + step * index + dt.timedelta(minutes=rng.randint(0, 2))
    created = ordered + dt.timedelta(seconds=rng.randint(4, 60))
    updated = created + dt.timedelta(minutes=rng.randint(5, 600))
    lines = _lines(rng, offers)
    total = sum((_line_total(line) for line in lines), Decimal(0))
    city, region = CITIES[rng.randrange(len(CITIES))]
    shipped = status_id in (3, 4)
    order: Body = {
        "id": index + 1,
        "source_id": source["id"],
        "source_uuid": _source_uuid(source["id"], index),
        "status_id": status_id,
        "client_id": buyer["id"],
        "manager_id": USERS[rng.randrange(len(USERS))]["id"],
        "buyer_comment": rng.choice(
            [None, None, "Подзвоніть перед відправкою", "Упакуйте як подарунок"]
        ),
        "manager_comment": "Опт, рахунок на ФОП" if buyer["id"] in COMPANY_OF_BUYER else None,
        "ordered_at": _stamp(ordered),
        "created_at": _stamp(created),
        "updated_at": _stamp(updated),
        "status_changed_at": _stamp(updated),
        "closed_at": _stamp(updated) if status_id in (4, 5) else None,
        "last_synced_at": _stamp(updated) if source["id"] in (2, 3) else None,
        "products": lines,
        "payments": _payments(rng, status_id, total, created),
        "shipping": {
            "delivery_service_id": 1 if rng.random() < 0.8 else 2,
            "tracking_code": f"2045{rng.randrange(10**10):010d}" if shipped else None,
            "shipping_status": {3: "В дорозі", 4: "Отримано"}.get(status_id),
            "shipping_address_country": "Ukraine",
            "shipping_address_region": region,
            "shipping_address_city": city,
            "shipping_receive_point": f"Відділення №{rng.randint(1, 150)}",
            "recipient_full_name": buyer["full_name"],
            "recipient_phone": buyer["phone"][0],
            "shipping_date": (created + dt.timedelta(days=1)).date().isoformat(),
            "shipping_date_actual": _stamp(created + dt.timedelta(days=1)) if shipped else None,
        },
        "custom_fields": _order_fields(rng, status_id, index),
        "tags": [1] if index % 7 == 0 else ([2] if buyer["id"] in COMPANY_OF_BUYER else []),
    }
    if source["id"] in (1, 4):
        order["marketing"] = UTM[rng.randrange(len(UTM))]
    return order


def _source_uuid(source_id: int, index: int) -> str | None:
    return {
        1: f"WEB-{100200 + index}",
        2: f"{310000000 + index * 7}",
        3: f"PR-{5550000 + index * 3}",
    }.get(source_id)


def _lines(rng: random.Random, offers: list[Body]) -> list[Body]:
    lines = []
    for offer in rng.sample(offers, min(len(offers), rng.randint(1, 4))):
        fabric = not offer["properties"] and offer["sku"].startswith("FAB")
        quantity: float | int = rng.choice([1.5, 2, 2.5, 3]) if fabric else rng.randint(1, 3)
        line: Body = {"sku": offer["sku"], "price": offer["price"], "quantity": quantity}
        if rng.random() < 0.25:
            line["discount_percent"] = 10
        lines.append(line)
    return lines


def _line_total(line: Body) -> Decimal:
    price = Decimal(str(line["price"]))
    discount = (price * Decimal(str(line.get("discount_percent", 0))) / 100).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    return (price - discount) * Decimal(str(line["quantity"]))


def _payments(
    rng: random.Random, status_id: int, total: Decimal, created: dt.datetime
) -> list[Body]:
    paid_at = _stamp(created + dt.timedelta(minutes=rng.randint(2, 90)))
    if status_id == 4:
        return [
            {
                "payment_method_id": rng.choice([2, 3, 5]),
                "amount": str(total),
                "status": "paid",
                "payment_date": paid_at,
                "description": "Оплата замовлення",
            }
        ]
    if status_id == 3:
        if rng.random() < 0.5:
            return [
                {
                    "payment_method_id": 4,
                    "amount": str(total),
                    "status": "not_paid",
                    "payment_date": paid_at,
                    "description": "Накладений платіж",
                }
            ]
        return [
            {
                "payment_method_id": 2,
                "amount": str(total),
                "status": "paid",
                "payment_date": paid_at,
            }
        ]
    if status_id == 2:
        prepay = min(total, Decimal(200))
        return [
            {
                "payment_method_id": 5,
                "amount": str(prepay),
                "status": "paid",
                "payment_date": paid_at,
                "description": "Передоплата",
            }
        ]
    if status_id == 5 and rng.random() < 0.5:
        return [
            {
                "payment_method_id": 2,
                "amount": str(total),
                "status": "canceled",
                "payment_date": paid_at,
                "description": "Повернення коштів",
            }
        ]
    return []


def _order_fields(rng: random.Random, status_id: int, index: int) -> list[Body]:
    fields = [
        {"uuid": "OR_1002", "value": [rng.choice(["Готівка", "Безготівка", "Накладений платіж"])]}
    ]
    if status_id == 4:
        fields.append({"uuid": "OR_1001", "value": f"BAS-{index + 1:06d}"})
    if index % 4 == 0:
        fields.append({"uuid": "OR_1003", "value": True})
    return fields
