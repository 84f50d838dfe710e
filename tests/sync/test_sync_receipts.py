import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.receipts import ReceiptBlock, format_receipt, needs_new_block, next_block, parse_receipt


def test_format_and_parse() -> None:
    assert format_receipt("D7", 12) == "R-D7-000012"
    assert parse_receipt("R-D7-000012") == ("D7", 12)
    assert parse_receipt("R-AB-1234567") == ("AB", 1234567)


@pytest.mark.parametrize("bad", ["R-d7-1", "D7-1", "R-D7-", "R-D7-0", "R--5", "R-D7-1x"])
def test_bad_receipt_numbers(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_receipt(bad)


def test_block_membership_and_remaining() -> None:
    block = ReceiptBlock("D7", 101, 200)
    assert block.size == 100
    assert "R-D7-000150" in block
    assert "R-D7-000201" not in block
    assert "R-D8-000150" not in block
    assert block.receipt(101) == "R-D7-000101"
    with pytest.raises(ValueError):
        block.receipt(100)
    assert block.remaining(None) == 100
    assert block.remaining(190) == 10
    assert block.remaining(200) == 0
    assert needs_new_block(block, 190, 10)
    assert not needs_new_block(block, 150, 10)


@pytest.mark.parametrize(("prefix", "start", "end"), [("d7", 1, 2), ("D7", 0, 5), ("D7", 5, 4)])
def test_invalid_blocks(prefix: str, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        ReceiptBlock(prefix, start, end)


@given(st.lists(st.integers(1, 500), min_size=1, max_size=30))
def test_successive_blocks_never_overlap(sizes: list[int]) -> None:
    highest = 0
    issued: set[str] = set()
    for size in sizes:
        block = next_block("AG", highest, size)
        numbers = {block.receipt(n) for n in range(block.start, block.end + 1)}
        assert not numbers & issued
        issued |= numbers
        highest = block.end
    assert len(issued) == sum(sizes)
