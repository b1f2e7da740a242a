"""Reviews: travelers rate what they booked once it has taken place; vendors answer once."""
