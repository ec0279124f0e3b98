"""The baseline: the days the original pipeline trained its first model on.

An empty landing location is filled with these days, and until a champion exists the drift report
takes them as its reference.
"""

TOTAL_STEPS = 180  # BankSim's days, steps 0-179
BASELINE_STEPS = range(0, int(TOTAL_STEPS * 0.6))  # the first 60 %: steps 0-107
