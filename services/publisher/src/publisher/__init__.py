"""The publisher: posts ready media to social networks through Late."""
