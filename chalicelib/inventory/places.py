"""Places: IATA city codes and the airports that serve them. Pure data, no I/O.

The one table of which airports a city code stands for: flight search fans a city out into its
airports (`PAR` finds CDG, ORY and BVA flights, API.md), and the demo catalog (tools.seed)
takes its cities' names and main airports from here. A code that is not a city here is an
airport code and stands for itself (`LIS` is both Lisbon and its one airport).

Flight listings are sold between airports; a search reads one partition per airport pair, so
a city's airports are capped (MAX_AIRPORTS_PER_CITY): a city-to-city search reads at most
MAX_AIRPORTS_PER_CITY ** 2 partitions, whatever the size of the catalog.
"""
from __future__ import annotations

from dataclasses import dataclass

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
