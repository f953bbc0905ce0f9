"""Plumbing every command shares: one-line errors and safe output writing."""
