"""Writes a caption for every finished image and video, and on demand."""
