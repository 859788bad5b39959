from tests.champions import monitored_rounds  # noqa: F401 (fixture)
