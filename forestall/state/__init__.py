"""The state DB: registry, health, risk, recommendations, events, outbox, event clock."""
