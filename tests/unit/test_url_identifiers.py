"""A URL's identifiers are folded as a body's are, and nothing else in it changes."""

from __future__ import annotations

import pytest

from api.http.url_identifiers import normalised_path, normalised_query


@pytest.mark.parametrize(("sent", "keyed"), [
    ("/v1/communities/ＣＹ－Ａ/units/１/１０１/account",
     "/v1/communities/CY-A/units/1/101/account"),
    ("/web/units/ 1/101 ", "/web/units/1/101"),
    ("/v1/votes/ａｂｃ/ballots", "/v1/votes/abc/ballots"),
])
def test_each_path_segment_is_normalised(sent: str, keyed: str) -> None:
    assert normalised_path(sent) == keyed


@pytest.mark.parametrize("sent", [
    "/v1/communities/CY／A/fund",  # would fold into another segment
    "/web/static/．．/app.py",  # would fold into a dot segment
    "/v1/communities/ /fund",  # would fold into an empty one
])
def test_a_segment_that_would_fold_into_a_separator_stays_as_sent(sent: str) -> None:
    segments = sent.split("/")
    assert normalised_path(sent).split("/")[-2] == segments[-2]


def test_an_ascii_path_is_passed_on_as_it_is() -> None:
    path = "/v1/communities/CY-A/fund"
    assert normalised_path(path) is path


def test_identifier_parameters_are_folded_and_every_other_byte_kept() -> None:
    sent = (b"community=%EF%BC%A3%EF%BC%B9+&actor=%EF%BC%A1%EF%BC%A2&limit=5"
            b"&unit=%EF%BC%91-101&flag")
    assert normalised_query(sent) == (
        b"community=CY&actor=%EF%BC%A1%EF%BC%A2&limit=5&unit=1-101&flag")


@pytest.mark.parametrize("sent", [b"community=CY-A&limit=5", b"actor=%E5%BC%A0%E4%B8%89",
                                  b"community=CY-A&actor=a+b", b""])
def test_a_query_with_nothing_to_fold_is_passed_on_as_it_is(sent: bytes) -> None:
    assert normalised_query(sent) is sent


@pytest.mark.parametrize(("sent", "kept"), [
    ("/v1/enterprises/㎏", "㎏"),  # would grow: no identifier does
    ("/v1/communities/ﬁ", "ﬁ"),
])
def test_a_segment_that_would_grow_stays_as_sent(sent: str, kept: str) -> None:
    assert normalised_path(sent).rsplit("/", 1)[1] == kept


def test_a_parameter_that_would_fold_into_nothing_or_grow_stays_as_sent() -> None:
    for sent in (b"community=+", b"community=%E3%8E%8F"):
        assert normalised_query(sent) is sent
