import pytest

from collectives.sizes import format_size, parse_size, size_series


@pytest.mark.parametrize("text, expected", [
    ("8", 8), ("64K", 65536), ("64k", 65536), ("1M", 1048576), ("1G", 1 << 30),
    ("2T", 2 << 40), ("16MiB", 16 << 20), ("4KB", 4096), (" 3 ", 3),
])
def test_parse_size_accepts_integers_with_binary_suffixes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "1.5M", "-8", "8X", "M", "1MM", "one", "1 0"])
def test_parse_size_rejects_the_rest(text):
    with pytest.raises(ValueError, match="malformed size"):
        parse_size(text)


@pytest.mark.parametrize("size, text", [
    (8, "8 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (16 << 20, "16 MiB"), (3 << 30, "3 GiB"),
])
def test_format_size_uses_binary_units(size, text):
    assert format_size(size) == text


def test_size_series_matches_nccl_tests_b_e_f():
    assert size_series(1024, 16 << 20, 2) == [1024 << i for i in range(15)]
    assert size_series(8, 100, 3) == [8, 24, 72]
    assert size_series(5, 5, 2) == [5]


def test_size_series_terminates_with_factor_close_to_one():
    assert size_series(1, 4, 1.01) == [1, 2, 3, 4]
