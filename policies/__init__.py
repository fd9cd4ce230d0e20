"""Policies: pure decisions on what the right recovery of a file is."""
