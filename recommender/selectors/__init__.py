"""Reads: every query the product makes lives here, one module per subject, and returns typed
frozen dataclasses (or DataFrames / arrays for model work). Web pages, the JSON API, commands
and services all read through these modules; nothing else queries the database for reading.

- ratings: ratings, viewers, films and genres as DataFrames and arrays for model work;
- registry: model versions (the champion, challengers, their events);
- scoring: scoring runs and the stored lists being served.
"""
