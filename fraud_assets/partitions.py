"""One dynamic partition per landed daily file (`step_042`), added by the landing sensor."""

from dagster import DynamicPartitionsDefinition

slices_partitions = DynamicPartitionsDefinition(name="slices")
