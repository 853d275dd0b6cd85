"""Follower notifications: from the outbox to a card in each follower's 1:1 chat."""
