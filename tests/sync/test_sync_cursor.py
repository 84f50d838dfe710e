import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.cursor import CursorState, CursorVerdict, issue_cursor, read_cursor
from sync.paging import item_digest, plan_page

SECRET = b"s3cret-for-tests"
NOW = 1_800_000_000


def test_round_trip() -> None:
    state = CursorState("dev-1", {"a:1": "abc"}, "a:1")
    token = issue_cursor(SECRET, state, NOW)
    verdict, back = read_cursor(SECRET, token, "dev-1", NOW + 10)
    assert verdict is CursorVerdict.VALID
    assert back == state


@pytest.mark.parametrize(
    ("token_of", "device", "now", "verdict"),
    [
        (lambda t: None, "dev-1", NOW, CursorVerdict.MISSING),
        (lambda t: "garbage", "dev-1", NOW, CursorVerdict.MALFORMED),
        (
            lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),
            "dev-1",
            NOW,
            CursorVerdict.FORGED,
        ),
        (lambda t: t, "dev-2", NOW, CursorVerdict.FOREIGN),
        (lambda t: t, "dev-1", NOW + 8 * 86400, CursorVerdict.EXPIRED),
    ],
)
def test_bad_cursors_mean_full_resend(token_of, device, now, verdict) -> None:  # type: ignore[no-untyped-def]
    token = issue_cursor(SECRET, CursorState("dev-1", {"a:1": "abc"}), NOW)
    got, state = read_cursor(SECRET, token_of(token), device, now)
    assert got is verdict
    assert state == CursorState(device)


def test_other_secret_is_forged() -> None:
    token = issue_cursor(SECRET, CursorState("dev-1"), NOW)
    assert read_cursor(b"other", token, "dev-1", NOW)[0] is CursorVerdict.FORGED


def test_cursor_for_a_day_stays_url_sized() -> None:
    seen = {f"a:{i:06d}": item_digest({"i": i}) for i in range(60)}
    seen |= {f"s:{i:06d}": item_digest({"s": i}) for i in range(60)}
    token = issue_cursor(SECRET, CursorState("dev-1", seen), NOW)
    assert len(token) < 2500


def test_paging_sends_changes_and_tombstones() -> None:
    current = {"a": "1", "b": "2", "c": "3"}
    first = plan_page(CursorState("d"), current, 2)
    assert first.send == ["a", "b"] and first.has_more
    second = plan_page(first.next_state, current, 2)
    assert second.send == ["c"] and not second.has_more
    idle = plan_page(second.next_state, current, 2)
    assert idle.send == [] and idle.remove == []
    changed = plan_page(second.next_state, {"a": "1", "c": "9"}, 10)
    assert changed.send == ["c"] and changed.remove == ["b"]


@settings(max_examples=60)
@given(
    versions=st.lists(
        st.dictionaries(st.sampled_from("abcdefghij"), st.sampled_from("123"), max_size=10),
        min_size=1,
        max_size=6,
    ),
    page_size=st.integers(1, 4),
)
def test_paging_during_writes_misses_and_duplicates_nothing(
    versions: list[dict[str, str]], page_size: int
) -> None:
    """Apply what the device receives to a replica; once writes stop, it equals the server."""
    replica: dict[str, str] = {}
    state = CursorState("d")
    for current in versions:  # the server's view changes between pages
        page = plan_page(state, current, page_size)
        sent_this_round = page.send + page.remove
        assert len(sent_this_round) == len(set(sent_this_round))
        for key in page.send:
            replica[key] = current[key]
        for key in page.remove:
            replica.pop(key)
        state = page.next_state
    final = versions[-1]
    while True:
        page = plan_page(state, final, page_size)
        for key in page.send:
            replica[key] = final[key]
        for key in page.remove:
            replica.pop(key)
        state = page.next_state
        if not page.has_more and not page.send and not page.remove:
            break
    assert replica == final
