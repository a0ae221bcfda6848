#!/usr/bin/env python3
"""Builds descriptors.tsv, the labelled bank-statement descriptors the global
categorization model learns from, out of three sources:

  * solyanka 0.4.1 (PyPI, MIT, (c) kvokka): merchant patterns with tags,
    mapped to one category each by SOLYANKA_TITLE_RULES then SOLYANKA_TAG_RULES;
  * iso18245 1.4.1 (PyPI, MIT, (c) 2020 Jerome Leclanche): merchant category
    codes and their descriptions, mapped by MCC_RULES;
  * handwritten.tsv beside this script: descriptors written by hand for what
    the two packages lack (income, rent, taxes, fees, card-processor shapes).

Usage:

  python3 services/ai/model/data/build.py
      downloads both wheels with `pip download --no-deps` into a temporary
      directory, checks their SHA-256, and writes descriptors.tsv beside this
      script.
  python3 services/ai/model/data/build.py --solyanka PATH --iso18245 PATH
      reads the packages from PATH: a .whl file, or a directory where the
      wheel was unpacked (or the package directory itself).
  python3 services/ai/model/data/build.py --check [FILE]
      only checks an existing TSV (default: descriptors.tsv) and prints its
      row counts.

Options: --out FILE, --handwritten FILE, --dropped FILE (writes every
solyanka pattern or MCC left out, with the reason), --brand-mccs (also adds
the card networks' private airline, car-rental and hotel codes 3000-3999:
about 610 more Travel rows, which would make Travel a fifth of the data, so
they are left out by default).

Only the standard library and PyYAML are used. The output does not depend on
the order files are listed in, on the hash seed or on the clock: re-running
on the same inputs writes the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

HERE = Path(__file__).resolve().parent

HEADER = ["description", "category", "amount_min", "amount_max", "weight", "source"]

# The ledger's default category tree (services/ledger/src/service/categories.rs):
# the leaves, and the parents without children.
INCOME = ["Salary", "Interest & dividends", "Gifts received", "Refunds", "Other income"]
EXPENSE = [
    "Rent & mortgage", "Utilities", "Maintenance",
    "Groceries", "Restaurants", "Coffee",
    "Fuel", "Public transport", "Car",
    "Doctor", "Pharmacy", "Insurance",
    "Clothing", "Electronics", "Household",
    "Entertainment", "Travel", "Subscriptions",
    "Education", "Fees & charges", "Taxes", "Other expenses",
]
CATEGORIES = INCOME + EXPENSE
SOURCES = ("handwritten", "solyanka", "iso18245")
MIN_ROWS_PER_CATEGORY = 15


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    sha256: str


SOLYANKA = Wheel(
    "solyanka", "0.4.1",
    "74809cabe3e0c42d92061439797f49e2cf8c26873190c2b90e61b798c09a5504",
)
ISO18245 = Wheel(
    "iso18245", "1.4.1",
    "07fcac02b22044e5f188a7683684f2166900a36d39119eb6ca0f4ef5f0df5772",
)


@dataclass
class Row:
    description: str
    category: str
    amount_min: float
    amount_max: float
    weight: int
    source: str


class BuildError(Exception):
    pass


# ---------------------------------------------------------------------------
# Reading a package from a wheel or an unpacked directory.


class Package:
    """The files of one installed-layout package: `package/...` and
    `name-version.dist-info/...`, from a wheel or a directory."""

    def __init__(self, path: Path, wheel: Wheel, check_hash: bool = True):
        self.wheel = wheel
        self._zip: zipfile.ZipFile | None = None
        self._root: Path | None = None
        if path.is_file():
            if check_hash:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != wheel.sha256:
                    raise BuildError(
                        f"{path}: sha256 {digest}, expected {wheel.sha256} "
                        f"({wheel.name} {wheel.version}); pass --no-hash-check to use it anyway"
                    )
            self._zip = zipfile.ZipFile(path)
        elif path.is_dir():
            self._root = self._find_root(path, wheel.name)
        else:
            raise BuildError(f"{path}: no such file or directory")
        version = self.metadata().get("Version")
        if version != wheel.version:
            raise BuildError(
                f"{path}: {wheel.name} {version}, expected {wheel.version}: "
                "the mapping tables were reviewed against that version"
            )

    @staticmethod
    def _find_root(path: Path, name: str) -> Path:
        if (path / name / "__init__.py").is_file():
            return path
        if path.name == name and (path / "__init__.py").is_file():
            return path.parent
        found = sorted(path.rglob(f"{name}/__init__.py"), key=lambda p: (len(p.parts), str(p)))
        if not found:
            raise BuildError(f"{path}: no {name}/__init__.py below it")
        return found[0].parent.parent

    def names(self) -> list[str]:
        if self._zip is not None:
            return sorted(n for n in self._zip.namelist() if not n.endswith("/"))
        assert self._root is not None
        return sorted(
            p.relative_to(self._root).as_posix() for p in self._root.rglob("*") if p.is_file()
        )

    def read(self, name: str) -> str:
        if self._zip is not None:
            return self._zip.read(name).decode("utf-8")
        assert self._root is not None
        return (self._root / name).read_text(encoding="utf-8")

    def dist_info(self, leaf: str) -> str | None:
        for n in self.names():
            top, _, rest = n.partition("/")
            if top.startswith(f"{self.wheel.name}-") and top.endswith(".dist-info") and rest == leaf:
                return n
        return None

    def metadata(self) -> dict[str, str]:
        name = self.dist_info("METADATA")
        if name is None:
            # An unpacked package directory without its dist-info: trust the caller.
            return {"Version": self.wheel.version}
        out: dict[str, str] = {}
        for line in self.read(name).splitlines():
            if not line.strip():
                break  # the body (README) starts
            if ":" in line and not line.startswith((" ", "\t")):
                key, value = line.split(":", 1)
                out.setdefault(key.strip(), value.strip())
        return out

    def licence_text(self) -> str:
        for leaf in ("licenses/LICENSE", "LICENSE", "LICENSE.txt", "licenses/LICENSE.txt"):
            name = self.dist_info(leaf)
            if name:
                return self.read(name)
        return ""

    def is_mit(self) -> bool:
        meta = self.metadata()
        text = self.licence_text()
        return ("MIT" in meta.get("License", "") or "MIT" in text) and (
            "Permission is hereby granted, free of charge" in text
        )


def download(wheel: Wheel, into: Path) -> Path:
    """`pip download --no-deps` of the pinned version; the wheel's path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "-q", "-d", str(into), f"{wheel.name}=={wheel.version}",
    ]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    found = sorted(into.glob(f"{wheel.name}-{wheel.version}-*.whl"))
    if not found:
        raise BuildError(f"pip download left no {wheel.name} {wheel.version} wheel in {into}")
    return found[0]


# ---------------------------------------------------------------------------
# Shared helpers.

INCOME_SET = frozenset(INCOME)
CATEGORY_SET = frozenset(CATEGORIES)


def clean(text: str) -> str:
    """A field without tabs or line breaks, trimmed."""
    return re.sub(r"[\t\r\n\v\f\u0085\u2028\u2029]+", " ", str(text)).strip()


def dedupe_key(description: str) -> str:
    return " ".join(description.split()).casefold()


def fmt_amount(x: float) -> str:
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def signed_range(low: float, high: float, category: str) -> tuple[float, float]:
    """A positive (low, high) magnitude range as the signed range of the
    category's money flow: income stays positive, spending is negated."""
    low, high = sorted((abs(low), abs(high)))
    if category in INCOME_SET:
        return low, high
    return -high, -low


# ---------------------------------------------------------------------------
# solyanka.
#
# Each pattern gets ONE category. First SOLYANKA_TITLE_RULES is tried on the
# pattern's title (the template text for templated titles): these are the
# reviewed exceptions where the tags say nothing decisive (shopping,
# online_payment, application...) or say something the title contradicts.
# Then SOLYANKA_TAG_RULES is read top to bottom and the first rule whose
# tag(s) all appear in the pattern's `types` wins: the order is the priority
# (specific before generic: "cafe,dining" is Coffee, "hotel,dining" Travel,
# "pharmacy,shopping" Pharmacy, "subscription,entertainment" Subscriptions).
# A category of None drops the pattern with the given reason.
# Tags in SOLYANKA_NO_SIGNAL_TAGS decide nothing on their own; a pattern with
# only such tags and no title rule is dropped ("no decisive tag").
# A tag in neither list stops the build, so a new solyanka version cannot
# slip unreviewed tags through.

DROP = None

SOLYANKA_TITLE_RULES: list[tuple[str, str | None, str]] = [
    # Money movement, not spending.
    (r"^(transfer )?wise\b", DROP, "money transfer (Wise)"),
    (r"^revolut\*\*", DROP, "wallet top-up (Revolut)"),
    (r"^wechat international", DROP, "wallet (WeChat Pay)"),
    (r"^gopay, ", DROP, "wallet top-up (GoPay)"),
    (r"^www\.grab\.com bangkok$", DROP, "card verification charge (5 THB)"),
    (r"paysolut", DROP, "payment gateway, merchant unknown"),
    (r"fboom", DROP, "merchant unknown, tags disagree between files"),
    (r"^nirvana kitchen", DROP, "tagged taxi but named like a restaurant"),
    (r"ben[ -]?thanh[ -]?m|bnthanhmrkt", DROP, "souvenir market: goods unknown"),
    (r"^coinspot ", DROP, "crypto purchase (investment)"),
    (r"a3on-mall|ae0nmall|n_mall ", DROP, "shopping mall: goods unknown (tagged entertainment)"),
    (r"^lamoon organic", DROP, "baby products tagged wellness"),
    # Named merchants whose tags are not decisive or are misleading.
    (r"^(amzn mktp|amznmktplace|amazon\*|amazon\.(de|es) )", "Household",
     "Amazon marketplace: goods unknown; general online shopping is counted as Household"),
    (r"^kmart \d", "Household", "Kmart (AU): general merchandise, mostly homewares"),
    (r"^sp clarks ", "Clothing", "Clarks: shoes"),
    (r"^strandbags ", "Clothing", "Strandbags: bags and luggage"),
    (r"^balance bikini", "Clothing", "swimwear shop"),
    (r"^mothercare ", "Clothing", "Mothercare: baby and children's clothing"),
    (r"^nike clearance store|^sgc-nike store", "Clothing", "Nike stores: sportswear (tagged sports)"),
    (r"^mcd-", "Restaurants", "McDonald's (Mcd-...); one variant is tagged transportation only"),
    (r"^shell[ -]\d", "Fuel", "Shell stations; one variant is tagged transportation only"),
    (r"^viettelpost ", "Other expenses", "Viettel Post: postal service (tagged telecom)"),
    (r"^catsociety cafe", "Coffee", "cat cafe (tagged pets)"),
    (r"^rappi \*kalunga", "Household", "Kalunga: stationery and office supplies"),
    (r"^(taxwise|expattax)", "Taxes", "tax return preparation"),
    (r"guarucoop", "Public transport", "Guarucoop: Guarulhos airport taxi cooperative"),
    (r"^gojek recurring", "Public transport", "Gojek rides"),
    (r"^db vertrieb gmbh", "Public transport", "Deutsche Bahn tickets (tagged traveling too)"),
    (r"^momo\*transportpass", "Public transport", "transport pass bought in the MoMo app"),
    (r"^onward ticket", "Travel", "onward flight ticket service"),
    (r"^esim data plan", "Utilities", "mobile data plan"),
    (r"^ ?op \*baemin", "Restaurants", "Baemin: food delivery"),
    (r"^name-cheap\.com", "Subscriptions", "domain registration"),
    (r"^paypal \*(pdffille|ufc)$", "Subscriptions", "pdfFiller / UFC Fight Pass subscriptions"),
    (r"^airbnb \*", "Travel", "Airbnb stays (tagged housing)"),
    (r"^google\*youtube$", "Subscriptions", "YouTube Premium (13.99)"),
    (r"^gearbest\.com", "Electronics", "Gearbest: gadgets shop (tag 'internet' means online)"),
    (r"^ullrich berlin", "Groceries", "Ullrich: Berlin supermarket chain"),
    (r"^helopaycsapszek soroz", "Restaurants", "csapszek sorozo: a beer pub"),
    (r"^lafloreria", "Other expenses", "florist"),
    (r"^acqua&sapone", "Pharmacy", "Acqua & Sapone: drugstore chain"),
    (r"^\d+ boots \(", "Pharmacy", "Boots: pharmacy"),
    (r"^(bangkokiv drip|edition clinic|medicspro home)", "Doctor", "IV-drip / aesthetic clinic / home medical care"),
    (r"^iherb ", "Pharmacy", "iHerb: vitamins and supplements"),
    (r"^(myprotein\.com|elite supps)", "Groceries", "sports nutrition (protein, supplements)"),
    (r"^daiso ", "Household", "Daiso: household goods"),
    (r"^miniso ", "Household", "Miniso: household goods"),
    (r"^office mate", "Household", "office supplies (stationery is Household)"),
    (r"^plantoys", "Entertainment", "toys (hobby, toy and game shops are Entertainment)"),
    (r"^(grabmart quick|line man mart|careem quik)", "Groceries", "quick-commerce grocery delivery"),
    (r"^(kasikorn bizfee|momoloanfee)", "Fees & charges", "bank / loan fee"),
    (r"^lalamove", "Other expenses", "courier and moving service"),
    (r"^post cannington", "Other expenses", "post office (postage is Other expenses)"),
    (r"^pea ev-topup", "Fuel", "EV charging (Provincial Electricity Authority)"),
    (r"^trangscookery", "Entertainment", "cooking class for tourists"),
]

# (tag or tuple of tags that must all be present, category or DROP, note)
SOLYANKA_TAG_RULES: list[tuple[str | tuple[str, ...], str | None, str]] = [
    # Money movement and investment: not a spending category.
    ("cryptocurrency", DROP, "crypto purchase (investment)"),
    ("exchange", DROP, "crypto exchange (investment)"),
    ("trading", DROP, "brokerage (investment)"),
    ("gold", DROP, "gold dealer (investment)"),
    ("transfer", DROP, "person-to-person transfer"),
    ("wallet", DROP, "e-wallet load or payment, merchant unknown"),
    ("fintech", DROP, "payment app, merchant unknown"),
    # Health and insurance first: a travel-insurance or clinic tag decides.
    ("insurance", "Insurance", ""),
    ("pets", "Other expenses", "pets and vets have no category of their own"),
    ("pet_care", "Other expenses", ""),
    ("veterinary", "Other expenses", ""),
    ("pharmacy", "Pharmacy", ""),
    ("drugstore", "Pharmacy", ""),
    ("medicine", "Pharmacy", ""),
    ("dental", "Doctor", ""),
    ("dentist", "Doctor", ""),
    ("doctor", "Doctor", ""),
    ("medical", "Doctor", ""),
    ("hospital", "Doctor", ""),
    ("clinic", "Doctor", ""),
    ("optical", "Doctor", "opticians with doctors, as the brief asks"),
    ("healthcare", "Doctor", ""),
    ("telemedicine", "Doctor", ""),
    # Education.
    ("education", "Education", ""),
    ("tuition", "Education", ""),
    ("institution", "Education", ""),
    ("bookstore", "Education", "books are Education"),
    ("books", "Education", ""),
    # Home services before home goods.
    (("home_improvement", "services"), "Maintenance", "window cleaning, electrician, assembly"),
    ("home_services", "Maintenance", "aircon cleaning, handyman, maid"),
    ("construction", "Maintenance", ""),
    # Transport.
    ("fuel", "Fuel", ""),
    ("gas_station", "Fuel", ""),
    ("gas", "Fuel", "a service station, not the gas utility"),
    ("car_wash", "Car", ""),
    ("parking", "Car", ""),
    ("automotive", "Car", ""),
    ("car_service", "Car", ""),
    ("auto", "Car", ""),
    ("leasing", "Car", "motorbike lease"),
    ("car_rental", "Travel", "car hire is a travel expense"),
    (("transportation", "tourism"), "Travel", "boat tours and island ferries"),
    ("taxi", "Public transport", ""),
    ("ride_hailing", "Public transport", ""),
    ("ride_sharing", "Public transport", ""),
    ("rideshare", "Public transport", ""),
    ("uber", "Public transport", ""),
    ("public_transport", "Public transport", ""),
    ("metro", "Public transport", ""),
    ("train", "Public transport", ""),
    ("transit", "Public transport", ""),
    ("bike_sharing", "Public transport", ""),
    ("scooter_rental", "Public transport", ""),
    ("micromobility", "Public transport", ""),
    ("ticketing", "Public transport", "only on a transit ticket app"),
    ("tip", "Public transport", "only on a ride-hailing tip"),
    # Devices before the telecom tags ("electronics,mobile" is a phone shop).
    ("electronics", "Electronics", ""),
    ("computer", "Electronics", ""),
    # Bills.
    ("telecom", "Utilities", ""),
    ("telecommunication", "Utilities", ""),
    ("mobile", "Utilities", "mobile carriers and top-ups"),
    ("mobile_topup", "Utilities", ""),
    ("utilities", "Utilities", ""),
    (("fitness", "subscription"), "Entertainment", "gym memberships are fitness, as the brief asks"),
    ("legal", "Other expenses", "before application: a law firm paid online"),
    # Subscriptions (before entertainment, travel, food delivery: "Netflix
    # subscription,entertainment", "eDreams Prime subscription,travel").
    ("subscription", "Subscriptions", ""),
    ("streaming", "Subscriptions", ""),
    ("software", "Subscriptions", ""),
    ("vpn", "Subscriptions", ""),
    ("digital_services", "Subscriptions", ""),
    ("ai_service", "Subscriptions", ""),
    ("application", "Subscriptions", "apps and web services (Apple.com, G Suite, Squarespace...)"),
    ("communication", "Utilities", "after subscription: Telegram Premium is a subscription"),
    ("communications", "Utilities", ""),
    # Food specific tags (before travel: a hotel bar is a bar).
    ("coffee", "Coffee", ""),
    ("groceries", "Groceries", ""),
    ("grocery", "Groceries", ""),
    ("supermarket", "Groceries", ""),
    ("hypermarket", "Groceries", ""),
    ("convenience_store", "Groceries", ""),
    ("convenience", "Groceries", ""),
    (("market", "tourism"), "Travel", "tourist night and floating markets"),
    ("market", "Groceries", ""),
    ("organic", "Groceries", ""),
    ("wholesale", "Groceries", ""),
    ("fruit", "Groceries", ""),
    ("vending", "Groceries", ""),
    ("gourmet", "Groceries", "delicatessen / coffee-bean shop"),
    ("bar", "Restaurants", "bars and pubs are Restaurants"),
    ("pub", "Restaurants", ""),
    ("hookah", "Restaurants", ""),
    ("restaurant", "Restaurants", ""),
    ("fast_food", "Restaurants", ""),
    ("fast food", "Restaurants", ""),
    ("food_delivery", "Restaurants", ""),
    ("street_food", "Restaurants", ""),
    ("street_vendor", "Restaurants", ""),
    ("fine_dining", "Restaurants", ""),
    ("pizza", "Restaurants", ""),
    ("noodles", "Restaurants", ""),
    ("italian", "Restaurants", ""),
    ("vietnamese", "Restaurants", ""),
    ("middle_eastern", "Restaurants", ""),
    ("mediterranean", "Restaurants", ""),
    ("vegetarian", "Restaurants", ""),
    ("sandwiches", "Restaurants", ""),
    ("deli", "Restaurants", ""),
    ("breakfast", "Restaurants", ""),
    ("night_snack", "Restaurants", ""),
    ("cafe", "Coffee", "after restaurant: 'restaurant,cafe' is a restaurant"),
    ("tea", "Coffee", ""),
    ("bakery", "Coffee", "bakeries with cafes, as the brief asks"),
    ("dessert", "Coffee", "dessert, ice cream and bubble tea shops go with cafes"),
    ("icecream", "Coffee", ""),
    ("ice_cream", "Coffee", ""),
    ("beverages", "Coffee", ""),
    ("beverage", "Coffee", ""),
    # Travel.
    ("hotel", "Travel", ""),
    ("accommodation", "Travel", ""),
    ("resort", "Travel", ""),
    ("hospitality", "Travel", ""),
    ("aviation", "Travel", ""),
    ("airline", "Travel", ""),
    ("travel", "Travel", ""),
    ("traveling", "Travel", ""),
    ("booking", "Travel", ""),
    ("tour", "Travel", ""),
    ("luggage_storage", "Travel", ""),
    ("duty_free", "Travel", "airport duty-free shopping counted as travel spending"),
    ("beach", "Travel", ""),
    # Shopping.
    ("clothing", "Clothing", ""),
    ("fashion", "Clothing", ""),
    ("thrift", "Clothing", ""),
    ("jewelry", "Clothing", "jewellery and accessories with clothing"),
    ("accessories", "Clothing", ""),
    ("appliances", "Household", ""),
    ("home_improvement", "Household", ""),
    ("furniture", "Household", ""),
    ("home_goods", "Household", ""),
    ("household", "Household", ""),
    ("diy", "Household", ""),
    ("hardware", "Household", ""),
    ("tools", "Household", ""),
    ("home", "Household", ""),
    ("stationery", "Household", ""),
    ("spa", "Entertainment", "spas and massage are leisure, even when tagged personal_care"),
    # Personal care has no category: Other expenses.
    ("beauty", "Other expenses", "beauty, hair, nails, cosmetics: no personal-care category"),
    ("cosmetics", "Other expenses", ""),
    ("personal_care", "Other expenses", ""),
    ("barbershop", "Other expenses", ""),
    ("salon", "Other expenses", ""),
    ("nail salon", "Other expenses", ""),
    ("grooming", "Other expenses", ""),
    ("laser", "Other expenses", "laser hair removal"),
    ("tattoo", "Other expenses", ""),
    # Leisure.
    ("wellness", "Entertainment", ""),
    ("fitness", "Entertainment", "gyms and sport, as the brief asks"),
    ("gym", "Entertainment", ""),
    ("membership", "Entertainment", ""),
    ("sports", "Entertainment", "sports venues and sporting goods"),
    ("recreation", "Entertainment", ""),
    ("entertainment", "Entertainment", ""),
    ("cinema", "Entertainment", ""),
    ("movies", "Entertainment", ""),
    ("gaming", "Entertainment", ""),
    ("museum", "Entertainment", ""),
    ("culture", "Entertainment", ""),
    ("cultural", "Entertainment", ""),
    ("concert", "Entertainment", ""),
    ("performing_arts", "Entertainment", ""),
    ("tickets", "Entertainment", ""),
    ("art", "Entertainment", ""),
    ("wildlife", "Entertainment", ""),
    ("hobby", "Entertainment", ""),
    ("music", "Entertainment", ""),
    ("digital_content", "Entertainment", ""),
    ("digital_store", "Entertainment", ""),
    ("adult_entertainment", "Entertainment", ""),
    ("lifestyle", "Entertainment", ""),
    ("digital_goods", "Subscriptions", "after gaming: game currency is Entertainment, app purchases Subscriptions"),
    ("experience", "Entertainment", ""),
    ("internet", "Utilities", "after gaming: an internet cafe is Entertainment"),
    ("nightlife", "Restaurants", "after entertainment: a nightclub with a show is Entertainment"),
    ("club", "Restaurants", "beach and night clubs"),
    # Generic food tags, after travel ("hotel,dining" is a hotel).
    ("dining", "Restaurants", ""),
    ("food", "Restaurants", ""),
    ("snacks", "Restaurants", ""),
    ("snack", "Restaurants", ""),
    ("alcohol", "Groceries", "after restaurant: a wine bar-restaurant stays a restaurant"),
    ("wine", "Groceries", ""),
    ("winery", "Groceries", ""),
    # Generic transport and travel tags.
    ("transportation", "Public transport", ""),
    ("transport", "Public transport", ""),
    ("tourism", "Travel", ""),
    ("airport", "Travel", "after food: an airport food court is a restaurant"),
    ("leisure", "Entertainment", ""),
    # Services without a category of their own.
    ("government", "Fees & charges", "passport, visa and registry fees"),
    ("consulting", "Other expenses", ""),
    ("coworking", "Other expenses", ""),
    ("office", "Other expenses", ""),
    ("laundry", "Other expenses", ""),
    ("logistics", "Other expenses", "parcel shipping"),
    ("shipping", "Other expenses", ""),
    ("post_office", "Other expenses", ""),
    ("flowers", "Other expenses", ""),
    ("gifts", "Other expenses", "gift shops"),
    ("photography", "Other expenses", ""),
    ("vape", "Other expenses", "tobacco and vaping"),
    ("cigar", "Other expenses", ""),
    ("donation", "Other expenses", ""),
    ("dating", "Other expenses", ""),
]

SOLYANKA_NO_SIGNAL_TAGS = frozenset({
    "ai_generated", "shopping", "retail", "shop", "general", "local_store", "department_store",
    "online", "online_shopping", "ecommerce", "e-commerce", "marketplace", "chinese_marketplace",
    "social_commerce", "online_payment", "payment", "paypal", "services", "service", "business",
    "financial", "finance", "bank", "delivery", "online_services", "health", "luxury", "kids", "baby",
    "property", "real estate", "housing", "souvenir", "custom", "traditional", "authorization",
    "verification", "location", "design", "technology", "culinary", "energy", "top_up",
})


def _check_tables() -> None:
    for pattern, category, _ in SOLYANKA_TITLE_RULES:
        re.compile(pattern)
        if category is not None and category not in CATEGORY_SET:
            raise BuildError(f"title rule {pattern!r}: unknown category {category!r}")
    seen: set = set()
    for tags, category, _ in SOLYANKA_TAG_RULES:
        if category is not None and category not in CATEGORY_SET:
            raise BuildError(f"tag rule {tags!r}: unknown category {category!r}")
        if tags in seen:
            raise BuildError(f"tag rule {tags!r} twice")
        seen.add(tags)
        if isinstance(tags, str) and tags in SOLYANKA_NO_SIGNAL_TAGS:
            raise BuildError(f"tag {tags!r} is both mapped and without signal")
    for lo, hi, category, _ in MCC_RULES:
        if category is not None and category not in CATEGORY_SET:
            raise BuildError(f"MCC rule {lo}-{hi}: unknown category {category!r}")
    for category in list(SPEND_RANGES):
        if category not in CATEGORY_SET or category in INCOME_SET:
            raise BuildError(f"spend range for {category!r}")


_MAPPED_TAGS = {
    t for tags, _, _ in SOLYANKA_TAG_RULES for t in ((tags,) if isinstance(tags, str) else tags)
}


def solyanka_category(title: str, types: list[str]) -> tuple[str | None, str]:
    """(category or None, why): the reviewed mapping of one pattern."""
    unknown = sorted(set(types) - _MAPPED_TAGS - SOLYANKA_NO_SIGNAL_TAGS)
    if unknown:
        raise BuildError(
            f"solyanka pattern {title!r}: unreviewed tag(s) {unknown}: add them to "
            "SOLYANKA_TAG_RULES or SOLYANKA_NO_SIGNAL_TAGS"
        )
    for pattern, category, note in SOLYANKA_TITLE_RULES:
        if re.search(pattern, title, re.IGNORECASE):
            return category, f"title rule: {note}"
    present = set(types)
    for tags, category, note in SOLYANKA_TAG_RULES:
        need = (tags,) if isinstance(tags, str) else tags
        if all(t in present for t in need):
            label = "+".join(need)
            return category, f"tag {label}" + (f": {note}" if note else "")
    return None, "no decisive tag (" + ",".join(t for t in types if t != "ai_generated") + ")"


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A templated title whose choice parameters multiply to more than this many
# descriptors is cut at this many (in the file's order): none is, today.
MAX_EXPANSIONS = 100


def _transform(value: str, spec: dict) -> str:
    case = (spec.get("transform") or {}).get("case")
    if case == "upper":
        return value.upper()
    if case == "lower":
        return value.lower()
    if case == "title":
        return value.title()
    return value


def render_titles(title, params: dict | None, seed: str) -> tuple[str, list[str], list[str]]:
    """(template text, rendered descriptors, placeholders without a parameter).

    Every combination of the `choice` parameters' options is one descriptor
    (each is a real branch or spelling); random digits and letters are drawn
    from a generator seeded by `seed`, so the output is the same every run."""
    if isinstance(title, dict):
        template = str(title.get("template", ""))
        params = title.get("params") or {}
    else:
        template = str(title)
        params = params or {}
    names = list(dict.fromkeys(_PLACEHOLDER.findall(template)))
    if not names:
        return template, [template], []
    missing = [n for n in names if n not in params]
    choice_names = [n for n in names if (params.get(n) or {}).get("generator") == "choice"]
    option_lists = [list((params[n].get("options") or [""])) for n in choice_names]
    combos = list(itertools.islice(itertools.product(*option_lists), MAX_EXPANSIONS))
    rng = random.Random(seed)
    out = []
    for combo in combos:
        values = dict(zip(choice_names, combo))
        for n in names:
            if n in values:
                values[n] = _transform(str(values[n]), params[n])
                continue
            spec = params.get(n)
            if spec is None:
                values[n] = ""
                continue
            gen = spec.get("generator")
            length = int(spec.get("length") or 6)
            if gen == "random_digits":
                value = "".join(rng.choice("0123456789") for _ in range(length))
            elif gen == "random_alnum":
                charset = spec.get("charset") or "abcdefghijklmnopqrstuvwxyz0123456789"
                value = "".join(rng.choice(charset) for _ in range(length))
            else:
                raise BuildError(f"template {template!r}: unknown generator {gen!r}")
            values[n] = _transform(value, spec)
        text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
        out.append(text.strip())
    return template, out, missing


def _pattern_items(name: str, data) -> list:
    """The list of patterns in one YAML document, whatever its top level."""
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if "title" in data:
            return [data]
    raise BuildError(f"solyanka {name}: unexpected top-level {type(data).__name__}")


def solyanka_rows(pkg: Package, stats: Counter, dropped: list[list[str]]) -> list[Row]:
    prefix = "solyanka/transaction_patterns/data/"
    files = [n for n in pkg.names() if n.startswith(prefix) and n.endswith((".yml", ".yaml"))]
    if not files:
        raise BuildError("solyanka: no pattern files found")
    rows: list[Row] = []
    for name in files:
        short = name[len(prefix):]
        items = _pattern_items(short, yaml.safe_load(pkg.read(name)))
        for index, item in enumerate(items):
            stats["solyanka patterns"] += 1
            if not isinstance(item, dict):
                stats["solyanka non-pattern items skipped"] += 1
                continue
            types = [str(t) for t in (item.get("types") or [])]
            template, titles, missing = render_titles(
                item.get("title", ""), item.get("params"), f"{short}:{index}"
            )
            if missing:
                stats["solyanka templates with a placeholder lacking a parameter"] += 1
            category, why = solyanka_category(template, types)
            where = f"{short}#{index}"
            if category is None:
                stats["solyanka patterns dropped"] += 1
                stats["  dropped: " + ("no decisive tag" if why.startswith("no decisive") else why)] += 1
                dropped.append(["solyanka", where, template, ",".join(types), why])
                continue
            if category in INCOME_SET:
                raise BuildError(f"{where}: income from solyanka needs a reviewed sign rule")
            amount_range = item.get("amountRange")
            amounts = item.get("amounts")
            if isinstance(amount_range, dict):
                low = float(amount_range.get("min", 0.0))
                high = float(amount_range.get("max", 0.0))
            elif amounts:
                values = [float(a) for a in amounts]
                low, high = min(values), max(values)
            else:
                stats["solyanka patterns dropped"] += 1
                stats["  dropped: no amount"] += 1
                dropped.append(["solyanka", where, template, ",".join(types), "no amount"])
                continue
            if low > high:
                stats["solyanka ranges with min above max (swapped)"] += 1
            lo, hi = signed_range(low, high, category)
            if hi >= 0:
                stats["solyanka patterns dropped"] += 1
                stats["  dropped: zero amount"] += 1
                dropped.append(["solyanka", where, template, ",".join(types), "zero amount"])
                continue
            weight = max(1, int(item.get("weight", 1000)))
            # A templated merchant expanded into n descriptors shares its weight.
            share = max(1, round(weight / len(titles)))
            if len(titles) > 1:
                stats["solyanka templates expanded"] += 1
            stats["solyanka patterns mapped"] += 1
            for text in titles:
                description = clean(text)
                if not description:
                    continue
                rows.append(Row(description, category, lo, hi, share, "solyanka"))
    return rows


# ---------------------------------------------------------------------------
# iso18245.
#
# One row per merchant category code whose description maps clearly to a
# category; the description is the ISO 18245 text where the official list has
# the code, else the first card network's text (Visa, Mastercard, Amex,
# Stripe, USDA, Alipay). Rules are (first code, last code, category or None,
# note); the first rule that covers a code wins, and a code no rule covers is
# skipped. Amounts are the category's SPEND_RANGES unless MCC_RANGES names
# the code.

MCC_RULES: list[tuple[int, int, str | None, str]] = [
    (742, 742, "Other expenses", "veterinary services (pets have no category)"),
    (743, 763, None, "wine producers, agricultural co-operatives: B2B"),
    (780, 780, "Maintenance", "landscaping and gardening"),
    (1520, 1799, "Maintenance", "building and trade contractors"),
    (2741, 2842, None, "printing, typesetting, cleaning chemicals: B2B"),
    (3000, 3350, "Travel", "airlines (card networks' private codes)"),
    (3351, 3500, "Travel", "car rental (card networks' private codes)"),
    (3501, 3999, "Travel", "hotels and lodging (card networks' private codes)"),
    (4011, 4011, "Public transport", "railroads"),
    (4111, 4112, "Public transport", "commuter transport, ferries, passenger railways"),
    (4119, 4119, "Doctor", "ambulance services"),
    (4121, 4121, "Public transport", "taxis and limousines"),
    (4131, 4131, "Public transport", "bus lines"),
    (4214, 4225, None, "freight, couriers, storage: mostly business"),
    (4411, 4411, "Travel", "cruise lines"),
    (4457, 4468, None, "boat rentals and marinas: ambiguous"),
    (4511, 4511, "Travel", "airlines"),
    (4582, 4582, "Travel", "airports"),
    (4722, 4723, "Travel", "travel agencies and package tours"),
    (4733, 4733, "Entertainment", "tickets for scenic spots"),
    (4784, 4784, "Car", "tolls and bridge fees"),
    (4789, 4789, "Public transport", "transportation services n.e.c."),
    (4812, 4812, "Electronics", "telephones and telecom equipment sales"),
    (4813, 4816, "Utilities", "telecom services, phone bills, internet providers"),
    (4821, 4829, None, "telegraph, wire transfers: money movement"),
    (4899, 4899, "Subscriptions", "cable, satellite and pay TV (also streaming services)"),
    (4900, 4900, "Utilities", "electricity, gas, water, sanitation"),
    (5013, 5013, "Car", "motor vehicle supplies and parts"),
    (5021, 5021, "Household", "office furniture"),
    (5039, 5039, None, "construction materials: B2B"),
    (5044, 5045, "Electronics", "office/photo equipment, computers"),
    (5046, 5051, None, "commercial, medical, metal equipment: B2B"),
    (5065, 5065, "Electronics", "electrical parts and equipment"),
    (5072, 5074, "Household", "hardware, plumbing and heating supplies"),
    (5085, 5099, None, "industrial, precious metals, durable goods wholesale"),
    (5111, 5111, "Household", "stationery and office supplies"),
    (5122, 5122, "Pharmacy", "drugs and drug proprietors"),
    (5131, 5131, None, "piece goods wholesale"),
    (5137, 5139, "Clothing", "uniforms, commercial footwear"),
    (5169, 5169, None, "chemicals: B2B"),
    (5172, 5172, "Fuel", "petroleum products"),
    (5192, 5192, "Education", "books, periodicals and newspapers"),
    (5193, 5193, None, "florists' supplies wholesale"),
    (5198, 5198, "Household", "paints and varnishes"),
    (5199, 5199, None, "non-durable goods n.e.c."),
    (5200, 5261, "Household", "home supply, building materials, hardware, garden"),
    (5262, 5262, None, "marketplaces: goods unknown"),
    (5271, 5271, None, "mobile home dealers"),
    (5300, 5300, "Groceries", "wholesale clubs (Costco, Sam's Club)"),
    (5309, 5309, "Travel", "duty-free shops, as for solyanka"),
    (5310, 5311, None, "discount and department stores: goods unknown"),
    (5331, 5331, "Household", "variety stores"),
    (5399, 5399, None, "general merchandise n.e.c."),
    (5411, 5451, "Groceries", "groceries, butchers, confectioners, dairies"),
    (5462, 5462, "Coffee", "bakeries, as for solyanka"),
    (5499, 5499, "Groceries", "convenience and speciality food shops"),
    (5511, 5533, "Car", "car dealers, tyres, auto parts"),
    (5541, 5542, "Fuel", "service stations, fuel dispensers"),
    (5551, 5551, None, "boat dealers"),
    (5552, 5552, "Fuel", "electric vehicle charging"),
    (5561, 5561, None, "camper dealers"),
    (5571, 5571, "Car", "motorcycle dealers"),
    (5592, 5599, None, "motor home, snowmobile, aircraft dealers"),
    (5611, 5697, "Clothing", "clothing, shoes, tailors"),
    (5698, 5698, None, "wig shops"),
    (5699, 5699, "Clothing", "apparel and accessories"),
    (5712, 5714, "Household", "furniture, floor coverings, drapery"),
    (5715, 5715, None, "alcoholic beverage wholesalers"),
    (5718, 5719, "Household", "fireplaces, home furnishings"),
    (5722, 5722, "Household", "household appliances"),
    (5732, 5732, "Electronics", "electronics shops"),
    (5733, 5733, "Entertainment", "musical instruments"),
    (5734, 5734, "Subscriptions", "software"),
    (5735, 5735, "Entertainment", "record shops"),
    (5811, 5814, "Restaurants", "caterers, restaurants, bars, fast food"),
    (5815, 5816, "Entertainment", "digital media and games"),
    (5817, 5817, "Subscriptions", "apps"),
    (5818, 5818, None, "large digital goods merchants: mixed"),
    (5832, 5832, None, "antiques"),
    (5912, 5912, "Pharmacy", "drug stores and pharmacies"),
    (5921, 5921, "Groceries", "beer, wine and liquor shops"),
    (5931, 5939, None, "second-hand, antiques, pawn, salvage"),
    (5940, 5940, None, "bicycle shops: sport or transport"),
    (5941, 5941, "Entertainment", "sporting goods, as for solyanka"),
    (5942, 5942, "Education", "bookshops"),
    (5943, 5943, "Household", "stationery and office supplies"),
    (5944, 5944, "Clothing", "jewellery and watches"),
    (5945, 5945, "Entertainment", "hobby, toy and game shops"),
    (5946, 5946, "Electronics", "cameras"),
    (5947, 5947, None, "gift and souvenir shops"),
    (5948, 5948, "Clothing", "luggage and leather goods"),
    (5949, 5950, "Household", "fabric, glassware"),
    (5960, 5960, "Insurance", "insurance sold by direct marketing"),
    (5961, 5961, None, "mail order"),
    (5962, 5962, "Travel", "travel arrangement by telemarketing"),
    (5963, 5967, None, "direct marketing: goods unknown"),
    (5968, 5968, "Subscriptions", "continuity and subscription merchants"),
    (5969, 5969, None, "direct marketing n.e.c."),
    (5970, 5970, "Entertainment", "artist and craft supplies"),
    (5971, 5973, None, "art dealers, stamps and coins, religious goods"),
    (5975, 5975, "Doctor", "hearing aids"),
    (5976, 5976, "Pharmacy", "orthopaedic goods"),
    (5977, 5977, "Other expenses", "cosmetics, as for solyanka"),
    (5978, 5978, None, "typewriters"),
    (5983, 5983, "Utilities", "heating oil, wood, coal, LPG for the home"),
    (5992, 5993, "Other expenses", "florists, tobacconists"),
    (5994, 5994, None, "newsagents: papers, snacks, tobacco"),
    (5995, 5995, "Other expenses", "pet shops"),
    (5996, 5996, None, "swimming pools"),
    (5997, 5997, "Electronics", "electric razors"),
    (5998, 5999, None, "tents, speciality retail n.e.c."),
    (6010, 6012, None, "cash withdrawals and bank merchandise: money movement"),
    (6050, 6051, None, "quasi-cash, currency exchange"),
    (6211, 6211, None, "securities brokers (investment)"),
    (6300, 6399, "Insurance", "insurance premiums"),
    (6513, 6513, "Rent & mortgage", "real estate agents and managers: rentals"),
    (6532, 6540, None, "payment transactions, money transfers, stored-value loads"),
    (7011, 7012, "Travel", "hotels, timeshares"),
    (7013, 7013, None, "real estate brokers"),
    (7032, 7032, "Entertainment", "sporting and recreational camps"),
    (7033, 7033, "Travel", "campsites"),
    (7210, 7216, "Other expenses", "laundry and dry cleaning"),
    (7217, 7217, "Maintenance", "carpet and upholstery cleaning"),
    (7221, 7221, "Other expenses", "photo studios"),
    (7230, 7230, "Other expenses", "beauty and barber shops"),
    (7251, 7251, "Clothing", "shoe repair"),
    (7261, 7261, "Other expenses", "funeral services"),
    (7273, 7273, None, "dating and escort services"),
    (7276, 7276, "Taxes", "tax preparation"),
    (7277, 7278, None, "counselling, buying clubs"),
    (7280, 7280, "Doctor", "private hospitals"),
    (7295, 7295, None, "babysitting and housekeeping"),
    (7296, 7296, "Clothing", "clothing rentals"),
    (7297, 7298, "Entertainment", "massage parlours and spas, as for solyanka"),
    (7299, 7299, None, "personal services n.e.c."),
    (7311, 7311, None, "advertising"),
    (7321, 7321, "Fees & charges", "credit reporting"),
    (7322, 7339, None, "debt collection, business services"),
    (7342, 7349, "Maintenance", "pest control, cleaning and maintenance"),
    (7361, 7375, None, "employment agencies, IT services, information retrieval"),
    (7379, 7379, "Electronics", "computer repair"),
    (7392, 7394, None, "consulting, security, equipment rental"),
    (7395, 7395, "Other expenses", "photo developing"),
    (7399, 7399, None, "business services n.e.c."),
    (7511, 7511, None, "truck stops (network-specific)"),
    (7512, 7512, "Travel", "car rental"),
    (7513, 7513, None, "truck and trailer rental"),
    (7519, 7519, "Travel", "motor home rental"),
    (7523, 7549, "Car", "parking, body shops, tyres, car washes, towing"),
    (7622, 7622, "Electronics", "electronics repair"),
    (7623, 7629, "Maintenance", "air conditioning and appliance repair"),
    (7631, 7631, None, "watch and jewellery repair"),
    (7641, 7641, "Maintenance", "furniture repair"),
    (7692, 7699, None, "welding, repair shops n.e.c."),
    (7800, 7802, None, "lotteries, online gambling, racing: no gambling category"),
    (7829, 7829, None, "film production"),
    (7832, 7994, "Entertainment", "cinemas, video rental, dance, theatre, sports, attractions, arcades"),
    (7995, 7995, None, "betting and casinos: no gambling category"),
    (7996, 7999, "Entertainment", "amusement parks, clubs, aquariums, recreation"),
    (8011, 8099, "Doctor", "doctors, dentists, opticians, hospitals, labs"),
    (8111, 8111, "Other expenses", "legal services"),
    (8211, 8299, "Education", "schools, colleges, vocational training"),
    (8351, 8351, "Other expenses", "child care"),
    (8398, 8398, "Other expenses", "charities"),
    (8641, 8641, None, "civic and social associations"),
    (8651, 8661, "Other expenses", "political and religious organisations"),
    (8675, 8675, "Car", "automobile associations"),
    (8699, 8999, None, "membership organisations, professional services"),
    (9211, 9211, None, "court costs, alimony, child support"),
    (9222, 9222, "Fees & charges", "fines"),
    (9223, 9223, None, "bail"),
    (9311, 9311, "Taxes", "tax payments"),
    (9399, 9400, "Fees & charges", "government services, embassy fees"),
    (9402, 9402, "Other expenses", "postal services"),
    (9405, 9999, None, "intra-government, network-internal codes"),
]

# Plausible spending ranges (magnitudes, in major units of a euro/dollar-like
# currency) for rows whose source gives none.
SPEND_RANGES: dict[str, tuple[float, float]] = {
    "Rent & mortgage": (450.0, 3500.0),
    "Utilities": (15.0, 300.0),
    "Maintenance": (40.0, 1500.0),
    "Groceries": (4.0, 250.0),
    "Restaurants": (8.0, 150.0),
    "Coffee": (2.5, 25.0),
    "Fuel": (15.0, 120.0),
    "Public transport": (1.5, 80.0),
    "Car": (10.0, 1500.0),
    "Doctor": (20.0, 600.0),
    "Pharmacy": (4.0, 150.0),
    "Insurance": (15.0, 600.0),
    "Clothing": (10.0, 300.0),
    "Electronics": (15.0, 2000.0),
    "Household": (5.0, 500.0),
    "Entertainment": (5.0, 200.0),
    "Travel": (40.0, 2500.0),
    "Subscriptions": (1.0, 60.0),
    "Education": (10.0, 5000.0),
    "Fees & charges": (1.0, 150.0),
    "Taxes": (20.0, 5000.0),
    "Other expenses": (5.0, 300.0),
}

MCC_RANGES: list[tuple[int, int, tuple[float, float]]] = [
    (3000, 3350, (60.0, 1500.0)),   # airlines
    (3351, 3500, (40.0, 800.0)),    # car rental
    (3501, 3999, (60.0, 1200.0)),   # hotels
    (4111, 4112, (1.5, 150.0)),
    (4121, 4121, (6.0, 90.0)),
    (4784, 4784, (1.0, 30.0)),
    (4899, 4899, (8.0, 120.0)),
    (5300, 5300, (20.0, 400.0)),
    (5511, 5521, (100.0, 30000.0)),
    (5571, 5571, (100.0, 15000.0)),
    (5722, 5722, (30.0, 2500.0)),
    (6513, 6513, (450.0, 3500.0)),
    (7011, 7012, (60.0, 1500.0)),
    (7523, 7523, (1.5, 60.0)),
    (7542, 7542, (8.0, 40.0)),
    (8211, 8220, (50.0, 15000.0)),
    (9222, 9222, (15.0, 300.0)),
]
MCC_WEIGHT = 5


def mcc_rule(code: int) -> tuple[str | None, str] | None:
    for lo, hi, category, note in MCC_RULES:
        if lo <= code <= hi:
            return category, note
    return None


def mcc_range(code: int, category: str) -> tuple[float, float]:
    for lo, hi, r in MCC_RANGES:
        if lo <= code <= hi:
            return r
    return SPEND_RANGES[category]


def _read_mcc_csv(pkg: Package, leaf: str) -> dict[str, str]:
    name = f"iso18245/data/{leaf}"
    if name not in pkg.names():
        return {}
    out: dict[str, str] = {}
    for rec in list(csv.reader(io.StringIO(pkg.read(name))))[1:]:
        if len(rec) >= 2 and rec[0].strip().isdigit():
            out.setdefault(rec[0].strip().zfill(4), clean(rec[1]))
    return out


def iso_rows(pkg: Package, stats: Counter, dropped: list[list[str]], brands: bool) -> list[Row]:
    lists = [
        _read_mcc_csv(pkg, leaf)
        for leaf in (
            "iso18245_official_list.csv", "visa_list.csv", "mastercard_list.csv",
            "amex_list.csv", "stripe_list.csv", "usda_list.csv", "alipay_list.csv",
        )
    ]
    if not lists[0]:
        raise BuildError("iso18245: no official list found")
    codes = sorted(set().union(*lists))
    rows: list[Row] = []
    for mcc in codes:
        code = int(mcc)
        if 3000 <= code <= 3999 and not brands:
            continue
        description = next((d[mcc] for d in lists if d.get(mcc)), "")
        stats["iso18245 codes"] += 1
        rule = mcc_rule(code)
        if rule is None or rule[0] is None:
            why = rule[1] if rule else "no rule"
            stats["iso18245 codes skipped"] += 1
            dropped.append(["iso18245", mcc, description, "", f"skipped: {why}"])
            continue
        if not description or re.search(r"\breserved\b", description, re.IGNORECASE):
            stats["iso18245 codes skipped"] += 1
            dropped.append(["iso18245", mcc, description, "", "skipped: no description"])
            continue
        category = rule[0]
        lo, hi = signed_range(*mcc_range(code, category), category)
        rows.append(Row(description, category, lo, hi, MCC_WEIGHT, "iso18245"))
        stats["iso18245 codes mapped"] += 1
    return rows


# ---------------------------------------------------------------------------
# Handwritten rows, reading and checking TSVs.


def read_tsv(path: Path) -> tuple[list[Row], list[str]]:
    """The rows of a TSV in our format, and every problem found in it."""
    problems: list[str] = []
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != HEADER:
            return [], [f"{path}: header is {header!r}, expected {HEADER!r}"]
        for lineno, rec in enumerate(reader, start=2):
            if not rec or all(not x.strip() for x in rec):
                problems.append(f"{path}:{lineno}: empty line")
                continue
            if len(rec) != len(HEADER):
                problems.append(f"{path}:{lineno}: {len(rec)} columns")
                continue
            description, category, a_min, a_max, weight, source = rec
            try:
                lo, hi = float(a_min), float(a_max)
            except ValueError:
                problems.append(f"{path}:{lineno}: amounts {a_min!r} {a_max!r}")
                continue
            if not weight.isdigit() or int(weight) <= 0:
                problems.append(f"{path}:{lineno}: weight {weight!r}")
                continue
            rows.append(Row(description, category, lo, hi, int(weight), source))
    return rows, problems


def check_rows(rows: list[Row], label: str) -> list[str]:
    problems = []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows, start=2):
        where = f"{label}:{i}"
        if not r.description or r.description != clean(r.description):
            problems.append(f"{where}: description {r.description!r} is empty or untrimmed")
        if r.category not in CATEGORY_SET:
            problems.append(f"{where}: unknown category {r.category!r}")
        if r.source not in SOURCES:
            problems.append(f"{where}: unknown source {r.source!r}")
        if r.amount_min > r.amount_max:
            problems.append(f"{where}: amount_min {r.amount_min} > amount_max {r.amount_max}")
        if r.category in INCOME_SET:
            if not (r.amount_min > 0 and r.amount_max > 0):
                problems.append(f"{where}: income {r.category} with non-positive amounts")
        elif r.category in CATEGORY_SET:
            if not (r.amount_min < 0 and r.amount_max < 0):
                problems.append(f"{where}: expense {r.category} with non-negative amounts")
        if r.weight <= 0:
            problems.append(f"{where}: weight {r.weight}")
        key = dedupe_key(r.description)
        if key in seen:
            problems.append(f"{where}: duplicate of line {seen[key]}: {r.description!r}")
        else:
            seen[key] = i
    return problems


def check_file(path: Path) -> tuple[list[Row], list[str]]:
    rows, problems = read_tsv(path)
    return rows, problems + check_rows(rows, str(path))


def print_counts(rows: list[Row], out=sys.stdout) -> None:
    by_cat = Counter(r.category for r in rows)
    by_src = Counter(r.source for r in rows)
    by_both = Counter((r.category, r.source) for r in rows)
    print(f"{'category':<22}{'rows':>6}" + "".join(f"{s:>13}" for s in SOURCES), file=out)
    for c in CATEGORIES:
        print(
            f"{c:<22}{by_cat[c]:>6}" + "".join(f"{by_both[(c, s)]:>13}" for s in SOURCES),
            file=out,
        )
    print(f"{'total':<22}{len(rows):>6}" + "".join(f"{by_src[s]:>13}" for s in SOURCES), file=out)
    thin = [c for c in CATEGORIES if by_cat[c] < MIN_ROWS_PER_CATEGORY]
    if thin:
        print(f"categories under {MIN_ROWS_PER_CATEGORY} rows: {', '.join(thin)}", file=out)


def write_tsv(path: Path, rows: Iterable[Row]) -> None:
    lines = ["\t".join(HEADER)]
    for r in rows:
        lines.append("\t".join([
            clean(r.description), r.category, fmt_amount(r.amount_min),
            fmt_amount(r.amount_max), str(r.weight), r.source,
        ]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


# ---------------------------------------------------------------------------


def build(args: argparse.Namespace) -> int:
    _check_tables()
    stats: Counter = Counter()
    dropped: list[list[str]] = []

    handwritten, problems = check_file(args.handwritten)
    bad_source = [r for r in handwritten if r.source != "handwritten"]
    if bad_source:
        problems.append(f"{args.handwritten}: {len(bad_source)} rows whose source is not handwritten")
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="descriptors-") as tmp:
        sol_path = args.solyanka or download(SOLYANKA, Path(tmp))
        iso_path = args.iso18245 or download(ISO18245, Path(tmp))
        sol = Package(Path(sol_path), SOLYANKA, check_hash=not args.no_hash_check)
        if not sol.is_mit():
            raise BuildError(
                "solyanka: no MIT licence found in its dist-info (pass the wheel or the "
                "unpacked wheel, not a bare package directory)"
            )
        sol_rows = solyanka_rows(sol, stats, dropped)
        iso = Package(Path(iso_path), ISO18245, check_hash=not args.no_hash_check)
        if iso.is_mit():
            mcc_rows = iso_rows(iso, stats, dropped, brands=args.brand_mccs)
        else:
            print("iso18245: no MIT licence found in its dist-info: left out", file=sys.stderr)
            mcc_rows = []

    # Merge: handwritten first (reviewed by hand), then solyanka, then the
    # MCC descriptions; a description already present (case-insensitively,
    # spaces collapsed) is left out.
    merged: list[Row] = []
    seen: set[str] = set()
    for r in itertools.chain(handwritten, sol_rows, mcc_rows):
        key = dedupe_key(r.description)
        if key in seen:
            stats[f"duplicate descriptions left out ({r.source})"] += 1
            continue
        seen.add(key)
        merged.append(r)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    merged.sort(key=lambda r: (order[r.category], r.description.casefold(), r.description, r.source))

    problems = check_rows(merged, "merged")
    if problems:
        for p in problems[:50]:
            print(p, file=sys.stderr)
        return 1
    write_tsv(args.out, merged)
    if args.dropped:
        dropped.sort()
        with args.dropped.open("w", encoding="utf-8", newline="\n") as f:
            f.write("source\twhere\tdescription\ttags\treason\n")
            for d in dropped:
                f.write("\t".join(clean(x) for x in d) + "\n")

    # Re-read what was written, as a consumer would.
    rows, problems = check_file(args.out)
    for p in problems:
        print(p, file=sys.stderr)
    for key in sorted(stats):
        print(f"{key}: {stats[key]}", file=sys.stderr)
    print(f"wrote {args.out} ({len(rows)} rows)", file=sys.stderr)
    print_counts(rows)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--solyanka", type=Path, help="solyanka 0.4.1 wheel or unpacked directory")
    p.add_argument("--iso18245", type=Path, help="iso18245 1.4.1 wheel or unpacked directory")
    p.add_argument("--handwritten", type=Path, default=HERE / "handwritten.tsv")
    p.add_argument("--out", type=Path, default=HERE / "descriptors.tsv")
    p.add_argument("--dropped", type=Path, help="write the left-out patterns and codes here")
    p.add_argument("--brand-mccs", action="store_true",
                   help="also add the card networks' private airline/car-rental/hotel codes "
                        "3000-3999 (about 610 Travel rows; off by default)")
    p.add_argument("--no-hash-check", action="store_true", help="accept wheels with another SHA-256")
    p.add_argument("--check", nargs="?", const=HERE / "descriptors.tsv", type=Path, metavar="FILE",
                   help="only check FILE (default descriptors.tsv) and print its counts")
    args = p.parse_args(argv)
    try:
        if args.check is not None:
            rows, problems = check_file(args.check)
            for problem in problems:
                print(problem, file=sys.stderr)
            print_counts(rows)
            return 1 if problems else 0
        return build(args)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
