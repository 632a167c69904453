"""`kling-bot`: run | check | demo | submit | tasks | task | db | health | invite."""
