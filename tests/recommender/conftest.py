from tests.champions import champion, served_run  # noqa: F401 (fixtures)
