"""The waitlist: travelers queue for sold-out dates; freed units become automatic holds, oldest first."""
