"""Every validation rule of the raw tables fires on a crafted bad row, which is kept with its reason; the vocabulary
maps source types and refuses what it cannot mean; a run validates its days in order."""

import sys
from datetime import date

import pandas as pd
import pytest

from churn_assets.core.intake.rules import (
    EVENT_RULES,
    USER_RULES,
    WHITESPACE,
    blank,
    validate_days,
    validate_events,
    validate_users,
)
from churn_assets.core.intake.run_checks import UnmappedTypesError, refuse_unmapped, validate_range
from churn_assets.core.intake.schema import SourceFileError
from churn_assets.core.intake.vocabulary import Vocabulary, VocabularyError

DAY = date(2026, 1, 10)
SIGNUPS = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-10T12:00:00Z"]
KNOWN = pd.DataFrame({"user_id": ["u1", "u2", "late"], "signup_time": pd.to_datetime(SIGNUPS, utc=True)})


def raw(rows):
    cols = ["event_id", "user_id", "event_time", "event_type", "minutes", "amount"]
    return pd.DataFrame(rows, columns=cols)


GOOD = ["e1", "u1", "2026-01-10T08:00:00Z", "session", "12.5", "0"]
BAD_ROWS = {
    "bad_type": ["e2", "u1", "2026-01-10T08:00:00Z", "session", "abc", "0"],
    "null_key": ["e3", "", "2026-01-10T08:00:00Z", "session", "1", "0"],
    "duplicate_event_id": ["e1", "u2", "2026-01-10T09:00:00Z", "feature_use", "0", "0"],
    "unmapped_event_type": ["e5", "u1", "2026-01-10T08:00:00Z", "teleport", "0", "0"],
    "event_time_outside_partition": ["e6", "u1", "2026-01-11T00:00:00Z", "session", "3", "0"],
    "negative_value": ["e7", "u2", "2026-01-10T10:00:00Z", "payment", "0", "-9.99"],
    "value_out_of_bounds": ["e9", "u2", "2026-01-10T10:00:00Z", "payment", "0", "inf"],
    "unknown_user": ["e8", "ghost", "2026-01-10T11:00:00Z", "session", "4", "0"],
    "before_signup": ["e10", "late", "2026-01-10T11:59:59Z", "session", "4", "0"],
}


def test_every_event_rule_has_a_crafted_bad_row():
    assert set(BAD_ROWS) == {r.reason for r in EVENT_RULES}


@pytest.mark.parametrize("reason", list(BAD_ROWS))
def test_each_event_rule_quarantines_its_bad_row_with_the_reason(reason):
    result = validate_events(raw([GOOD, BAD_ROWS[reason]]), DAY, KNOWN)
    assert result.rejected_by_reason == {r.reason: int(r.reason == reason) for r in EVENT_RULES}
    assert result.rejected["reason"].tolist() == [reason]
    assert result.rejected["event_id"].tolist() == [BAD_ROWS[reason][0]]
    assert result.clean["event_id"].tolist() == ["e1"]
    outcome = result.outcome(max_reject_share=0.05)
    assert not outcome.passed and outcome.severity == "ERROR"  # 1 of 2 rows is far above 5%
    assert outcome.metadata["rejected_by_reason"] == {reason: 1}


def test_all_bad_rows_together_are_all_kept_and_counted():
    result = validate_events(raw([GOOD, *BAD_ROWS.values()]), DAY, KNOWN)
    assert len(result.clean) + len(result.rejected) == result.total == 10
    assert sorted(result.rejected["reason"]) == sorted(BAD_ROWS)
    # the original text is kept, not the parsed value
    assert result.rejected.set_index("event_id").loc["e2", "minutes"] == "abc"


@pytest.mark.parametrize(
    ("minutes", "amount", "reason"),
    [
        ("1e308", "0", "value_out_of_bounds"),
        ("1441", "0", "value_out_of_bounds"),
        ("0", "10000000.01", "value_out_of_bounds"),
        ("0", "-inf", "negative_value"),
        ("nan", "0", "bad_type"),
        ("1440", "10000000", None),  # the bounds themselves are accepted
    ],
)
def test_values_must_be_finite_and_within_bounds(minutes, amount, reason):
    row = ["e2", "u1", "2026-01-10T09:00:00Z", "session", minutes, amount]
    result = validate_events(raw([GOOD, row]), DAY, KNOWN)
    assert result.rejected["reason"].tolist() == ([reason] if reason else [])
    if reason:  # the original text is kept
        assert result.rejected[["minutes", "amount"]].values.tolist() == [[minutes, amount]]


def test_event_ids_seen_on_another_day_are_quarantined_as_duplicates():
    rows = [GOOD, ["e2", "u2", "2026-01-10T09:00:00Z", "session", "1", "0"]]
    result = validate_events(raw(rows), DAY, KNOWN, seen_ids={"e2", "e-elsewhere"})
    assert result.rejected[["event_id", "reason"]].values.tolist() == [["e2", "duplicate_event_id"]]
    assert result.clean["event_id"].tolist() == ["e1"]


def test_an_event_at_signup_time_is_accepted_and_one_second_earlier_is_not():
    rows = [["a", "late", "2026-01-10T12:00:00Z", "session", "1", "0"], BAD_ROWS["before_signup"]]
    result = validate_events(raw(rows), DAY, KNOWN)
    assert (result.clean["event_id"].tolist(), result.rejected["reason"].tolist()) == (["a"], ["before_signup"])


def test_the_vocabulary_maps_source_types_and_reports_the_rest():
    vocabulary = Vocabulary.parse("order=purchase, page_view=ignore")
    rows = [
        ["a", "u1", "2026-01-10T08:00:00Z", "order", "0", "25"],
        ["b", "u1", "2026-01-10T08:01:00Z", "page_view", "0", "0"],
        ["c", "u1", "2026-01-10T08:02:00Z", "session", "3", "0"],  # a kind's own name needs no entry
        ["d", "u1", "2026-01-10T08:03:00Z", "refund", "0", "5"],
        ["e", "u2", "2026-01-10T08:04:00Z", "refund", "0", "5"],
        ["f", "u2", "2026-01-10T08:05:00Z", "wishlist", "0", "0"],
    ]
    result = validate_events(raw(rows), DAY, KNOWN, vocabulary)
    assert result.clean["event_id"].tolist() == ["a", "b", "c"]
    assert result.rejected[["event_id", "reason"]].values.tolist() == [
        ["d", "unmapped_event_type"],
        ["e", "unmapped_event_type"],
        ["f", "unmapped_event_type"],
    ]
    assert vocabulary.hint({"refund": 2, "wishlist": 1}) == (
        "event types not in the vocabulary: 'refund' (2 rows), 'wishlist' (1 rows). Map each to one of "
        "['session', 'feature_use', 'support_ticket', 'purchase', 'payment', 'payment_failed', 'ignore'] with "
        "CHURN_EVENT_TYPES='order=purchase,page_view=ignore,refund=<kind>,wishlist=<kind>' "
        "(see docs/sources.md, Event vocabulary)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("order", "CHURN_EVENT_TYPES: 'order' is not source_type=kind"),
        ("order=buy", "CHURN_EVENT_TYPES: 'order=buy' maps to 'buy'; kinds are ['session', "),
        ("order=purchase,order=session", "CHURN_EVENT_TYPES: 'order' is mapped twice (purchase, session)"),
        ("it's=purchase", 'CHURN_EVENT_TYPES: "it\'s" is not a type name: at most 100 characters, none of \' " \\ , ='),
        ("a\\b=purchase", "CHURN_EVENT_TYPES: 'a\\\\b' is not a type name"),
    ],
)
def test_bad_vocabularies_are_refused(text, message):
    with pytest.raises(VocabularyError) as err:
        Vocabulary.parse(text)
    assert message in str(err.value)


def test_the_hint_can_be_followed_for_accents_parentheses_and_padding():
    """The types of a real export: non-ASCII letters, parentheses, padding spaces (stripped on reading); the
    setting the hint proposes parses and maps each, and a type the setting cannot name is named as such."""
    from churn_assets.core.intake.sources import typed_events

    frame = typed_events(
        pd.DataFrame({"event_id": ["1", "2", "3"], "user_id": ["u"] * 3, "event_time": ["2026-01-01"] * 3,
                      "event_type": ["café visit", "view (web)", "  cart  "]}), "export.csv",
    )  # fmt: skip
    assert frame["event_type"].tolist() == ["café visit", "view (web)", "cart"]
    hint = Vocabulary().hint({t: 1 for t in frame["event_type"]} | {"it's": 1})
    setting = hint.split("CHURN_EVENT_TYPES='")[1].split("' (see")[0]
    assert setting == "café visit=<kind>,cart=<kind>,view (web)=<kind>"
    mapped = Vocabulary.parse(setting.replace("<kind>", "session"))
    assert [mapped.kind_of(t) for t in frame["event_type"]] == ["session"] * 3
    assert hint.endswith('["it\'s"] cannot be named in the setting (they hold one of \' " \\ , =): rename them')


def test_clean_rows_are_typed():
    result = validate_events(raw([GOOD]), DAY, KNOWN)
    assert result.clean.dtypes.astype(str).to_dict() == {
        "event_id": "object",
        "user_id": "object",
        "event_time": "datetime64[ns, UTC]",
        "event_type": "object",
        "minutes": "float64",
        "amount": "float64",
    }
    assert result.clean.loc[0, "minutes"] == 12.5


def test_missing_required_column_is_a_clear_error():
    with pytest.raises(SourceFileError, match=r"missing required column\(s\) \['user_id'\]"):
        validate_events(raw([GOOD]).drop(columns=["user_id"]), DAY, KNOWN)


def test_missing_value_columns_default_to_zero_and_extra_columns_are_reported():
    frame = raw([GOOD]).drop(columns=["amount"]).assign(browser="firefox")
    result = validate_events(frame, DAY, KNOWN)
    assert result.clean.loc[0, "amount"] == 0.0
    assert result.dropped_columns == ("browser",)


def users_raw(rows):
    return pd.DataFrame(rows, columns=["user_id", "signup_time", "plan", "country", "channel"])


def test_each_user_rule_quarantines_its_bad_row():
    result = validate_users(
        users_raw(
            [
                ["u1", "2026-01-01T00:00:00Z", "pro", "US", "organic"],
                ["u2", "not a time", "pro", "US", "organic"],
                ["", "2026-01-01", "pro", "US", "organic"],
                ["u1", "2026-01-02", "free", "GB", "social"],
            ]
        )
    )
    assert result.rejected_by_reason == {"bad_type": 1, "null_key": 1, "duplicate_user_id": 1}
    assert result.rejected["reason"].tolist() == ["bad_type", "null_key", "duplicate_user_id"]
    assert result.clean["user_id"].tolist() == ["u1"]
    assert {r.reason for r in USER_RULES} == set(result.rejected_by_reason)


def test_users_without_optional_columns_get_unknown():
    result = validate_users(pd.DataFrame({"user_id": ["a"], "signup_time": ["2026-01-01"]}))
    assert result.clean.loc[0, ["plan", "country", "channel"]].tolist() == ["unknown"] * 3


def test_a_run_quarantines_an_id_repeated_on_a_later_day_and_counts_unmapped_types_once():
    day2 = date(2026, 1, 11)
    raw_by_day = {
        DAY: raw([GOOD, ["x", "u1", "2026-01-10T09:00:00Z", "refund", "0", "1"]]),
        day2: raw(
            [
                ["e1", "u2", "2026-01-11T08:00:00Z", "session", "1", "0"],  # e1 again, a day later
                ["e2", "u2", "2026-01-11T09:00:00Z", "refund", "0", "1"],
                ["old", "u2", "2026-01-11T10:00:00Z", "session", "1", "0"],  # stored on another day
            ]
        ),
    }
    run = validate_range(raw_by_day, KNOWN, Vocabulary(), {"old"}, {}, 0.05, 3.0)
    assert run.events["event_id"].tolist() == ["e1"]
    assert run.quarantine[["event_id", "reason", "partition_time"]].astype(str).values.tolist() == [
        ["x", "unmapped_event_type", "2026-01-10 00:00:00+00:00"],
        ["e1", "duplicate_event_id", "2026-01-11 00:00:00+00:00"],
        ["e2", "unmapped_event_type", "2026-01-11 00:00:00+00:00"],
        ["old", "duplicate_event_id", "2026-01-11 00:00:00+00:00"],
    ]
    assert (run.unmapped, run.accepted) == ({"refund": 2}, {"2026-01-10": 1, "2026-01-11": 0})


def test_all_days_in_one_pass_give_each_day_what_it_gives_alone_after_the_days_before_it():
    """``validate_days`` validates a run's rows at once; each day's result is ``validate_events`` of that day with
    the ids of the days before it as seen: here every rule fires on one day or another, a day has a column the
    others lack, and one lacks the optional minutes."""
    rows = [GOOD, *BAD_ROWS.values()]
    raw_by_day = {
        date(2026, 1, 9): raw(
            [[r[0], r[1], r[2].replace("01-10", "01-09"), *r[3:]] for r in rows[:5]]
            + [["e4", "u1", "2026-01-09T07:00:00Z", "session", "1", "0"]]  # an id stored on another day
        ),
        DAY: raw(rows).assign(note="x"),
        date(2026, 1, 11): raw([[r[0], r[1], r[2].replace("01-10", "01-11"), *r[3:]] for r in rows[4:]]).drop(
            columns=["minutes"]
        ),
    }
    together = validate_days(raw_by_day, KNOWN, Vocabulary(), {"e4"})
    seen = {"e4"}
    for day, frame in raw_by_day.items():
        alone = validate_events(frame, day, KNOWN, Vocabulary(), seen)
        pd.testing.assert_frame_equal(together[day].clean, alone.clean)
        pd.testing.assert_frame_equal(together[day].rejected, alone.rejected)
        assert (together[day].rejected_by_reason, together[day].total) == (alone.rejected_by_reason, alone.total)
        assert together[day].dropped_columns == alone.dropped_columns
        seen |= set(frame["event_id"])
    assert together[DAY].dropped_columns == ("note",)
    # the 9th: e1 again and the stored e4; the 10th: e1 twice and e5 of the 9th; the 11th: all six, of the 10th
    assert [v.rejected_by_reason["duplicate_event_id"] for v in together.values()] == [2, 3, 6]
    assert {r for v in together.values() for r, n in v.rejected_by_reason.items() if n} == {
        r.reason for r in EVENT_RULES
    }


def test_a_log_in_another_vocabulary_is_refused_from_one_count_before_any_day_is_validated():
    def day(types):
        return pd.DataFrame({"event_type": types})

    raw = {date(2025, 3, 1): day(["order"] * 90 + ["session"] * 5), date(2025, 3, 2): day(["order"] * 4 + [None])}
    with pytest.raises(UnmappedTypesError) as refused:
        refuse_unmapped(raw, Vocabulary(), max_reject_share=0.05, source="orders.csv")
    assert str(refused.value).startswith(
        "orders.csv: 94 of the 99 events of 2025-03-01..2025-03-02 (95%, more than the 5% validation tolerates) have "
        "event types the vocabulary does not map; refused before any day was validated or quarantined. event types "
        "not in the vocabulary: 'order' (94 rows)."
    )
    assert "CHURN_EVENT_TYPES=" in str(refused.value) and "order=<kind>" in str(refused.value)
    # mapped, it passes; a type renamed on one day (2 of 100 rows) is left to that day's rules and quarantine
    refuse_unmapped(raw, Vocabulary.parse("order=purchase"), max_reject_share=0.05, source="orders.csv")
    renamed = {date(2025, 3, 1): day(["session"] * 98 + ["Ad View"] * 2)}
    refuse_unmapped(renamed, Vocabulary(), max_reject_share=0.05, source="events.csv")


def test_blank_is_what_python_strips_to_nothing_whatever_the_characters():
    """``blank`` trims with Arrow's kernels: its whitespace is exactly ``str.isspace``'s (the file separators
    \\x1c-\\x1f among them, not the zero-width space), and a column that is not all text is looked at per value."""
    assert set(WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    odd = ["", " ", "\x1c", "\u3000", "\u200b", "a", None, float("nan"), " a ", "\t\n", "\x85", "\xa0 \ufeff"]
    expected = [True, True, True, True, False, False, True, True, False, True, True, False]
    assert blank(pd.Series(odd, dtype=object)).tolist() == expected
    assert blank(pd.Series([*odd, 7], dtype=object)).tolist() == [*expected, False]  # an int among the text
    assert blank(pd.Series([1.5, None])).tolist() == [False, True]  # typed values are blank only when missing
