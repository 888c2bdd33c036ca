"""HTTP layer: thin routes that turn requests into catalog and usage calls."""
