"""Helpers for tests: synthetic data written at test time (nothing downloaded)."""
