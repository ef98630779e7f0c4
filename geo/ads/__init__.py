"""Proximity ads: campaigns, the decision engine, budgets, impressions and clicks."""
