"""Runnable example studies (see the README's quick start)."""
