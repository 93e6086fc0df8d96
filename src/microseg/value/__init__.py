"""Customer value: buy-till-you-die models, lifetime value, churn risk (docs/value.md)."""

from microseg.value._summary import Summary, profile_summary, summary_table, unit_days

__all__ = ["Summary", "profile_summary", "summary_table", "unit_days"]
