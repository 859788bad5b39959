"""The numerical core: numpy, pandas, scipy and scikit-surprise only, never Django.

It takes arrays and DataFrames and returns arrays and plain frozen dataclasses; it touches
no database, network or settings. Import from its modules (`recommender.engine.scoring`, ...):
this package re-exports nothing, so every name has one home.
"""
