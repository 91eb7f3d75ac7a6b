"""Signing follows PROTOCOL.md §2: HMAC-SHA256 over the raw k=v string, values encoded only on the wire."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import pytest

from dita.venues.bingx.signing import (
    Credentials,
    CredentialsError,
    canonical,
    render,
    signature,
    signed_query,
)

# Published sample credentials from the official docs (PROTOCOL.md §2.5), not real keys.
DOC_KEY = "hO6oQotzTE0S5FRYze2Jx2wGx7eVnJGMolpA1nZyehsoMgCcgKNWQHd4QgTFZuwl4Zt4xMe2PqGBegWXO4A"
DOC_SECRET = "mheO6dR8ovSsxZQCOYEFCtelpuxcWGTfHw7te326y6jOwq5WpvFQ9JNljoTwBXZGv5It07m9RXSPpDQEK2w"


def test_official_2023_leverage_example_reproduces() -> None:
    payload = canonical(
        [
            ("symbol", "BTC-USDT"),
            ("timestamp", "1667872120843"),
            ("side", "LONG"),
            ("leverage", "6"),
        ]
    )
    assert payload == "symbol=BTC-USDT&timestamp=1667872120843&side=LONG&leverage=6"
    assert signature(DOC_SECRET, payload) == (
        "4f581ecdb1fa09b9d6e57886b6f70cffed17f82b93399722939e49a38edec2bf"
    )


def test_official_mixed_query_body_example_reproduces() -> None:
    payload = "symbol=BTC-USDT&timestamp=1668159715051side=LONG&leverage=6"
    assert signature(DOC_SECRET, payload) == (
        "8b756b01e7a30f02e19c58a91ab01b29528694316b08a51ecb8dd072942bd47d"
    )


def test_newer_doc_example_is_a_doc_error_and_we_compute_the_true_hmac() -> None:
    payload = "recvWindow=0&symbol=BTC-USDT&timestamp=1696751141337"
    assert signature(DOC_SECRET, payload) == (
        "f8d883609dfd31c824feb4de865b071008dedb1d461451fa70847875c8e7a7a2"
    )


def test_signed_limit_order_query_matches_computed_vector_and_sorts_keys() -> None:
    query = signed_query(
        {
            "symbol": "BTC-USDT",
            "side": "BUY",
            "positionSide": "LONG",
            "type": "LIMIT",
            "quantity": Decimal("0.001"),
            "price": Decimal("60000"),
            "timeInForce": "GTC",
            "clientOrderId": "my-order-1",
        },
        DOC_SECRET,
        timestamp=1700000000000,
        recv_window=5000,
    )
    assert query == (
        "clientOrderId=my-order-1&positionSide=LONG&price=60000&quantity=0.001&recvWindow=5000"
        "&side=BUY&symbol=BTC-USDT&timeInForce=GTC&timestamp=1700000000000&type=LIMIT"
        "&signature=ccecc5e132db0cd0a66c5cdf0b458cbc9dcbcacc23c60967f193cfcb5e62a892"
    )


def test_json_values_are_signed_raw_and_sent_percent_encoded() -> None:
    batch = '[{"symbol":"BTC-USDT","type":"LIMIT","side":"BUY","positionSide":"LONG","quantity":0.001,"price":60000}]'
    query = signed_query({"batchOrders": batch}, DOC_SECRET, timestamp=1700000000000)
    assert query.startswith("batchOrders=%5B%7B%22symbol%22%3A%22BTC-USDT%22%2C")
    assert query.endswith(
        "&timestamp=1700000000000"
        "&signature=e9dc29fe5cd035bc1fcaf4aae948a81632260f9b7feed3a3204974427ca0ee59"
    )
    assert unquote(query.split("&")[0]) == f"batchOrders={batch}"


def test_render_uses_plain_decimals_and_lowercase_booleans() -> None:
    assert render(True) == "true"
    assert render(False) == "false"
    assert render(Decimal("1E-8")) == "0.00000001"
    assert render(Decimal("60000.0")) == "60000.0"
    assert render(1751667285204103168) == "1751667285204103168"


def test_credentials_never_show_in_repr_or_str() -> None:
    creds = Credentials(DOC_KEY, DOC_SECRET)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert DOC_KEY not in text
        assert DOC_SECRET not in text


def test_credentials_from_env_and_missing_names_the_variable_not_the_value() -> None:
    creds = Credentials.from_env({"BINGX_API_KEY": "k1", "BINGX_API_SECRET": "s1"})
    assert (creds.api_key, creds.secret) == ("k1", "s1")
    with pytest.raises(CredentialsError, match="BINGX_API_SECRET"):
        Credentials.from_env({"BINGX_API_KEY": "k1"})


def test_credentials_from_json_and_env_style_files(tmp_path: Path) -> None:
    j = tmp_path / "k.json"
    j.write_text('{"api_key": "ak", "api_secret": "as"}')
    assert Credentials.from_file(j).secret == "as"
    e = tmp_path / "k.env"
    e.write_text("BINGX_API_KEY=ek\nBINGX_API_SECRET=es\n")
    assert Credentials.from_file(e).api_key == "ek"
    bad = tmp_path / "bad.env"
    bad.write_text("BINGX_API_KEY=only-the-key-xyz\n")
    with pytest.raises(CredentialsError) as info:
        Credentials.from_file(bad)
    assert "only-the-key-xyz" not in str(info.value)
