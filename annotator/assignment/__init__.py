"""Assignment: what is claimable, in what order, leases, submits, skips and gold mixing."""
