"""Places: IATA city codes and the airports that serve them. Pure data, no I/O.

The one table of which airports a city code stands for: flight search fans a city out into its
airports (`PAR` finds CDG, ORY and BVA flights, API.md), and the demo catalog (tools.seed)
takes its cities' names and main airports from here. A code that is not a city here is an
airport code and stands for itself (`LIS` is both Lisbon and its one airport).

Flight listings are sold between airports; a search reads one partition per airport pair, so
a city's airports are capped (MAX_AIRPORTS_PER_CITY): a city-to-city search reads at most
MAX_AIRPORTS_PER_CITY ** 2 partitions, whatever the size of the catalog.

Autocomplete (`GET /places`, inventory.place_index) finds places by the prefix of a term:
`normalize` folds case and accents ("São" -> "sao"), and `terms` says which texts find a place
(its code, its name from each word on, an airport's city's name). `describe` turns any code
into a place: vendors may sell at codes that are in neither table, and those are found by code.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_AIRPORTS_PER_CITY = 6


@dataclass(frozen=True)
class City:
    code: str  # IATA city (metropolitan area) code
    name: str
    country: str  # ISO 3166-1 alpha-2
    airports: tuple[str, ...]  # IATA airport codes, the main airport first


def _cities(*cities: City) -> dict[str, City]:
    table = {city.code: city for city in cities}
    for city in cities:  # the bound search relies on; a table edit that breaks it fails at import
        if not 1 <= len(city.airports) <= MAX_AIRPORTS_PER_CITY:
            raise ValueError(f"{city.code}: 1 to {MAX_AIRPORTS_PER_CITY} airports, not {len(city.airports)}")
    return table


CITIES: dict[str, City] = _cities(
    # Where the demo catalog sells (tools.seed), then other multi-airport cities travelers name.
    City("PAR", "Paris", "FR", ("CDG", "ORY", "BVA")),
    City("LIS", "Lisbon", "PT", ("LIS",)),
    City("BCN", "Barcelona", "ES", ("BCN",)),
    City("NYC", "New York", "US", ("JFK", "EWR", "LGA")),
    City("TYO", "Tokyo", "JP", ("HND", "NRT")),
    City("CPT", "Cape Town", "ZA", ("CPT",)),
    City("LON", "London", "GB", ("LHR", "LGW", "STN", "LTN", "LCY", "SEN")),
    City("MIL", "Milan", "IT", ("MXP", "LIN", "BGY")),
    City("ROM", "Rome", "IT", ("FCO", "CIA")),
    City("STO", "Stockholm", "SE", ("ARN", "BMA", "NYO")),
    City("CHI", "Chicago", "US", ("ORD", "MDW")),
    City("WAS", "Washington", "US", ("IAD", "DCA", "BWI")),
    City("YTO", "Toronto", "CA", ("YYZ", "YTZ")),
    City("SAO", "São Paulo", "BR", ("GRU", "CGH", "VCP")),
    City("RIO", "Rio de Janeiro", "BR", ("GIG", "SDU")),
    City("BUE", "Buenos Aires", "AR", ("EZE", "AEP")),
    City("OSA", "Osaka", "JP", ("KIX", "ITM")),
    City("SEL", "Seoul", "KR", ("ICN", "GMP")),
    City("BJS", "Beijing", "CN", ("PEK", "PKX")),
    City("SHA", "Shanghai", "CN", ("PVG", "SHA")),
)


def airports(code: str) -> tuple[str, ...]:
    """The airports a place code stands for: a city's airports, or an airport code itself."""
    city = CITIES.get(code)
    return city.airports if city is not None else (code,)


# Names of the airports of CITIES. An airport whose code is also its city's code (LIS, SHA) is
# shown as the city (one place per code; searching that code finds both), so its name here is
# only documentation.
AIRPORTS: dict[str, str] = {
    "CDG": "Paris Charles de Gaulle", "ORY": "Paris Orly", "BVA": "Paris Beauvais",
    "LIS": "Lisbon Humberto Delgado", "BCN": "Barcelona El Prat",
    "JFK": "New York John F. Kennedy", "EWR": "Newark Liberty", "LGA": "New York LaGuardia",
    "HND": "Tokyo Haneda", "NRT": "Tokyo Narita", "CPT": "Cape Town International",
    "LHR": "London Heathrow", "LGW": "London Gatwick", "STN": "London Stansted",
    "LTN": "London Luton", "LCY": "London City", "SEN": "London Southend",
    "MXP": "Milan Malpensa", "LIN": "Milan Linate", "BGY": "Milan Bergamo",
    "FCO": "Rome Fiumicino", "CIA": "Rome Ciampino",
    "ARN": "Stockholm Arlanda", "BMA": "Stockholm Bromma", "NYO": "Stockholm Skavsta",
    "ORD": "Chicago O'Hare", "MDW": "Chicago Midway",
    "IAD": "Washington Dulles", "DCA": "Washington Reagan National", "BWI": "Baltimore/Washington",
    "YYZ": "Toronto Pearson", "YTZ": "Toronto Billy Bishop",
    "GRU": "São Paulo Guarulhos", "CGH": "São Paulo Congonhas", "VCP": "Campinas Viracopos",
    "GIG": "Rio de Janeiro Galeão", "SDU": "Rio de Janeiro Santos Dumont",
    "EZE": "Buenos Aires Ezeiza", "AEP": "Buenos Aires Aeroparque",
    "KIX": "Osaka Kansai", "ITM": "Osaka Itami", "ICN": "Seoul Incheon", "GMP": "Seoul Gimpo",
    "PEK": "Beijing Capital", "PKX": "Beijing Daxing",
    "PVG": "Shanghai Pudong", "SHA": "Shanghai Hongqiao",
}
# The city each listed airport serves (CITIES lists each airport once).
CITY_OF_AIRPORT: dict[str, City] = {a: city for city in CITIES.values() for a in city.airports}
_missing = set(CITY_OF_AIRPORT) - set(AIRPORTS)
if _missing:  # every airport a city fans out to has a name to be found by
    raise ValueError(f"airports without a name: {sorted(_missing)}")

PlaceType = Literal["city", "airport"]


@dataclass(frozen=True)
class Place:
    code: str
    type: PlaceType
    name: str
    city: str  # the city's name (a city's own name)
    country: str | None  # None when the code is in neither table


def describe(code: str) -> Place:
    """The place a code stands for. A code that is a city (even if also its airport: LIS) is the
    city; a listed airport names its city; any other code is a place named by its code."""
    city = CITIES.get(code)
    if city is not None:
        return Place(code, "city", city.name, city.name, city.country)
    served = CITY_OF_AIRPORT.get(code)
    if served is not None:
        return Place(code, "airport", AIRPORTS[code], served.name, served.country)
    return Place(code, "city", code, code, None)


def places_of_listing(kind: str, *, city: str | None = None, origin: str | None = None,
                      destination: str | None = None) -> list[Place]:
    """Where a listing is on sale: a city; or a flight's airports and the cities they serve
    (a flight CDG -> JFK is on sale at CDG, Paris, JFK and New York)."""
    codes = [city] if kind != "flight" else [origin, destination]
    found: dict[str, Place] = {}
    for code in codes:
        if not code:
            continue
        found.setdefault(code, describe(code))
        served = CITY_OF_AIRPORT.get(code)
        if kind == "flight" and served is not None:
            found.setdefault(served.code, describe(served.code))
    return list(found.values())


# Letters NFKD does not decompose (they are letters of their own, not accented ones).
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                       "ı": "i", "ħ": "h"})


def normalize(text: str) -> str:
    """What search boxes compare: no accents, no case, words of letters and digits separated by
    one space ("  São-Paulo! " -> "sao paulo"). Punctuation separates words."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().translate(_FOLD)
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


MIN_WORD_LENGTH = 3  # a name is also found from each later word this long ("york", not "de")
MAX_TERMS = 8  # each term is one item to write when a place's dates move
# A term is the start of a DynamoDB sort key (`<term>#<code>`, at most 1,024 bytes). No term is
# stored longer than this, so a query longer than this matches nothing and is never sent
# (normalizing can grow text 18-fold: 50 characters of U+FDFA are 1,650 bytes).
MAX_TERM_BYTES = 512


def fits(term: str) -> bool:
    """Whether a normalized text is short enough to be a term (and so to be looked up)."""
    return len(term.encode("utf-8")) <= MAX_TERM_BYTES


def terms(place: Place) -> list[str]:
    """The normalized texts whose prefixes find `place`: its code, its name from its first word
    and from each later word ("new york", "york"), and an airport's city's name likewise."""
    found: list[str] = []

    def add(text: str) -> None:
        if text and fits(text) and text not in found and len(found) < MAX_TERMS:
            found.append(text)

    add(normalize(place.code))
    names = [place.name] + ([place.city] if place.type == "airport" and place.city else [])
    for name in names:
        words = normalize(name).split()
        for i, word in enumerate(words):
            if i == 0 or len(word) >= MIN_WORD_LENGTH:
                add(" ".join(words[i:]))
    return found


def rank(query: str, place: Place) -> tuple[bool, bool, str, str]:
    """Sort key of the answers to a normalized query: the code typed exactly first, then cities
    before airports, then by name."""
    return (normalize(place.code) != query, place.type != "city", normalize(place.name), place.code)
