from tests.champions import champion, monitored_rounds  # noqa: F401 (fixtures)
