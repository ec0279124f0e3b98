"""The model half: step-ordered split, classifier, threshold, evaluation and gates, and the
candidate they make (trained, registered through `fraud_assets.registry`, judged against the gates).

Dagster-free plain functions; the assets in `fraud_assets.assets` wire them together.
"""
