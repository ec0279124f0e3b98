"""The data half: the column contract, the Kaggle-format reader, slice validation and the warehouse of landed files."""
