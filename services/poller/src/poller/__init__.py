"""Tracks provider tasks to completion: timers, callbacks, deadlines and media custody."""
