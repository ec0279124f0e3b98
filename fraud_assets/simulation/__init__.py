"""Simulated BankSim days: the simulator, profile comparison with the real file, and landing simulated days."""
