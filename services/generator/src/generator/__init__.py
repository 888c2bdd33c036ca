"""Submits generation jobs to the providers: one paid submission per job."""
