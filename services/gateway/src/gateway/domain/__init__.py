"""Gateway domain logic: no FastAPI, no FastStream."""
