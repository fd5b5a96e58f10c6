"""Utilities shared by skasd's estimators."""
