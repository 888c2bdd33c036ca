"""`make bench`: the system's figures that matter, measured on this machine against the simulator."""
