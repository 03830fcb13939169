"""What an organism is: the NCA rule, its model file and its torch twin."""
