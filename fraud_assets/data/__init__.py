"""The data half: the column contract, the Kaggle-format reader, the simulator and the warehouse."""
