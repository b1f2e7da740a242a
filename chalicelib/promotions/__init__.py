"""Promotions: codes vendors and admins create, applied to holds and counted in their transaction."""
