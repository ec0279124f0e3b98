"""Monitoring: drift of features and of the fraud rate between a reference window and newer data."""
