"""Countries typed in an address or in relance.toml, read as the ISO code the letters compare."""

from __future__ import annotations

import pytest

from engine.core.countries import CountryError, parse_country


@pytest.mark.parametrize("text, code", [
    ("FR", "FR"), ("fr", "FR"), (" be ", "BE"), ("UK", "GB"), ("GB", "GB"),
    ("France", "FR"), ("FRANCE", "FR"), ("Royaume-Uni", "GB"), ("royaume uni", "GB"), ("United Kingdom", "GB"),
    ("Allemagne", "DE"), ("Germany", "DE"), ("Suisse", "CH"), ("Belgique", "BE"), ("Côte d’Ivoire", "CI"),
    ("cote d'ivoire", "CI"), ("Etats-Unis", "US"),
])
def test_a_code_or_a_name_in_french_or_english_is_read_as_the_code(text: str, code: str) -> None:
    assert parse_country(text) == code


@pytest.mark.parametrize("text", ["ZZ", "EU", "XA", "FRA", "Frnace", "", "Atlantide"])
def test_what_names_no_country_is_refused_with_what_to_write(text: str) -> None:
    with pytest.raises(CountryError, match="not a country.*e.g. FR"):
        parse_country(text)
