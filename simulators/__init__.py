"""The simulated world (machines, customers, fleet) and the simulated FSM system that closes the loop."""
