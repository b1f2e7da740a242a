"""Recommendations: from a traveler's own history and from what travelers who booked the same listings also booked."""
