"""Reads: every query the product makes lives here, one module per subject, and returns typed
frozen dataclasses (or DataFrames / arrays for model work). Web pages, the JSON API, commands
and services all read through these modules; nothing else queries the database for reading.

- ratings: ratings, viewers, films and genres as DataFrames and arrays for model work;
- registry: model versions (the champion, challengers, their events, the review comparison);
- monitoring: drift reports (latest, list, one, the verdict of each round, the newest on a
  model version);
- tasks: background tasks' state and progress, from the result backend;
- accounts: the viewer a login account is linked to;
- scoring: scoring runs and the stored lists being served;
- serving: the request path of one viewer's list (plain SQL: the stored list, the viewer's
  ratings and activity, film descriptions and statistics);
- viewers: viewers and one viewer's ratings page by page.

Simulated rounds and runs are read in simulation.selectors (recommender never imports the
simulation app; its web pages and API do).
"""
