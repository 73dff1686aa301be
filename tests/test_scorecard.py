"""The scorecard is computed from runs, and reports a claim that fails with its reason."""

import collapse_lib.scorecard as scorecard


def test_scorecard_rows_are_computed_and_explain_failures():
    rows = {row["key"]: row for row in scorecard.evaluate("smoke", 0)}
    assert set(rows) == {claim.key for claim in scorecard.CLAIMS}
    # 40 generations at M=100 are too few for the variance to halve: reported as not holding, with why
    assert rows["gaussian-variance-collapses"]["held"] is False
    assert "generations" in rows["gaussian-variance-collapses"]["reason"]
    for key in ("discrete-absorbed", "discrete-fixation", "gaussian-accumulate"):
        assert rows[key]["held"] is True, rows[key]
    for row in rows.values():
        assert row["measured"] and (row["held"] or row["reason"])


def test_markdown_table_has_one_row_per_claim():
    rows = scorecard.evaluate("smoke", 0)
    table = scorecard.as_markdown(rows, "smoke")
    assert table.count("\n") == len(rows) + 1
    assert all(line.count("|") == 5 for line in table.splitlines())
